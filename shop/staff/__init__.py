"""Staff pages that span apps: the dashboard and the reports (orders, payments and stock read together)."""
