"""Demo reviews and co-purchases: a few dozen shoppers who bought and rated demo products.

Each demo shopper "buys" small baskets from one top category (so "Customers also bought"
has something to say) and reviews some of what they bought: most with words, some with a
rating alone, in line with how good that product is. Idempotent: a reviewer's e-mail and a
basket's reference are fixed, and a product already reviewed by them is skipped.
"""

import random

from django.contrib.auth import get_user_model
from django.db import transaction

from catalog.models import Product, Review
from catalog.services.recommendations import product_purchase_record
from catalog.services.reviews import review_create

SEED = 20261207
REVIEWERS = [
    "Mia Keller", "Jonas Weber", "Lena Fischer", "Noah Schulz", "Emma Wagner", "Paul Becker",
    "Hannah Hoffmann", "Luca Richter", "Sofia Klein", "Ben Wolf", "Clara Neumann", "Elias Braun",
    "Marie Zimmer", "Felix Hartmann", "Anna Lange", "Leon Krause", "Ida Schmitt", "Theo Vogel",
    "Ella Frank", "Finn Roth",
]
WORDS = {
    5: [("Exactly what I hoped for", "Well made and arrived quickly. I would buy it again."),
        ("Excellent", "Solid build, looks even better than the pictures.")],
    4: [("Very good", "Does the job well. Small niggles, but good value for the price."),
        ("Happy with it", "Good quality; delivery took a day longer than expected.")],
    3: [("It is fine", "Does what it says, nothing more. The finish could be better.")],
    2: [("Disappointing", "Feels cheaper than the price suggests. The colour is duller in person.")],
    1: [("Not for me", "Stopped working properly after two weeks; I returned it.")],
}


def _reviewers() -> list:
    User = get_user_model()
    users = []
    for name in REVIEWERS:
        email = name.lower().replace(" ", ".") + "@demo.example.com"
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=None, full_name=name)
        users.append(user)
    return users


def _rating(rng: random.Random, quality: float) -> int:
    return max(1, min(5, round(rng.gauss(quality, 0.8))))


def reviews_load(*, stdout) -> None:
    """Baskets and reviews for the demo catalogue (products with SKU DEMO-...)."""
    rng = random.Random(SEED)
    products = list(Product.objects.filter(sku__startswith="DEMO-").select_related("category").order_by("sku"))
    if not products:
        return
    by_root: dict[str, list[Product]] = {}
    for product in products:
        by_root.setdefault(product.category.path[:4], []).append(product)
    quality = {p.pk: rng.uniform(2.2, 4.9) for p in products}
    groups = list(by_root.values())
    created = 0
    for index, user in enumerate(_reviewers()):
        reviewed = set(Review.objects.filter(user=user).values_list("product_id", flat=True))
        for basket in range(6):
            group = rng.choice(groups)
            items = rng.sample(group, k=min(len(group), rng.randint(1, 3)))
            with transaction.atomic():
                product_purchase_record(
                    user=user, lines=[(p.pk, 1) for p in items], reference=f"demo-basket-{index}-{basket}"
                )
                for product in items:
                    if product.pk in reviewed or rng.random() < 0.25:
                        continue
                    stars = _rating(rng, quality[product.pk])
                    title, body = rng.choice(WORDS[stars]) if rng.random() < 0.7 else ("", "")
                    review_create(user=user, product=product, rating=stars, title=title, body=body)
                    reviewed.add(product.pk)
                    created += 1
    stdout.write(f"   catalog: {created} demo reviews written")
