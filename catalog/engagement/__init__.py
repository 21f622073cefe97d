"""What shoppers ask of the catalogue: wishlists, back-in-stock alerts, reports of reviews."""
