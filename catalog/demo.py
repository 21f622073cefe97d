"""Demo catalog: a three-level category tree, ~300 products with generated images and stock.

Idempotent: categories and products are keyed by slug/SKU, so a second run
adds nothing. Product shots are drawn with Pillow (catalog.demo_images; no downloads).
"""

import random

from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils.text import slugify
from djmoney.money import Money

from catalog.demo_images import product_noun, product_shots
from catalog.demo_reviews import reviews_load
from catalog.demo_translations import CATEGORIES_DE, product_translations, translations_load
from catalog.models import Category, Product
from catalog.services.categories import category_create
from catalog.services.products import product_create, product_image_add
from catalog.services.recommendations import bought_together_compute

# root -> child -> grandchildren (leaves hold the products)
TREE = {
    "Electronics": {
        "Audio": ["Headphones", "Speakers"],
        "Computers": ["Laptops", "Keyboards"],
        "Phones": ["Smartphones", "Phone Cases"],
    },
    "Home & Garden": {
        "Kitchen": ["Cookware", "Coffee"],
        "Garden": ["Tools", "Plants"],
    },
    "Fashion": {
        "Men": ["Shirts", "Shoes"],
        "Women": ["Dresses", "Bags"],
    },
    "Sports": {
        "Outdoor": ["Tents", "Backpacks"],
        "Fitness": ["Yoga", "Weights"],
    },
}

BRANDS = ["Acme", "Northwind", "Sonic", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay"]
ADJECTIVES = [
    "Classic", "Compact", "Deluxe", "Eco", "Ergonomic", "Lightweight", "Premium", "Pro", "Rugged",
    "Smart", "Ultra", "Vintage", "Wireless", "Modern", "Portable",
]
COLOURS = {
    "red": (214, 69, 65), "blue": (52, 120, 246), "green": (46, 160, 67), "black": (40, 40, 46),
    "white": (235, 235, 240), "yellow": (240, 196, 25), "purple": (137, 87, 229), "orange": (240, 130, 40),
}
SIZES = ["XS", "S", "M", "L", "XL"]
MATERIALS = ["cotton", "steel", "aluminium", "bamboo", "leather", "plastic", "wool"]
PRODUCTS_PER_LEAF = 17
VIEW_ALTS = ["front view", "turned view", "close-up of the material"]
SEED = 20261122


def _category(name: str, parent: Category | None) -> Category:
    slug = slugify(name)
    existing = Category.objects.filter(slug=slug).first()
    return existing or category_create(
        name=name, parent=parent, slug=slug, translations={"name_de": CATEGORIES_DE.get(name, name)}
    )


def leaf_categories() -> list[Category]:
    """The demo tree's leaves, created when missing."""
    leaves = []
    for root_name, children in TREE.items():
        root = _category(root_name, None)
        for child_name, grandchildren in children.items():
            child = _category(child_name, root)
            for leaf_name in grandchildren:
                leaves.append(_category(leaf_name, child))
    return leaves


def product_fields(rng: random.Random, leaf: Category, n: int) -> dict:
    """Deterministic name, brand, price, attributes and description for one demo product."""
    noun = product_noun(leaf.name, rng)
    colour = rng.choice(list(COLOURS))
    brand = rng.choice(BRANDS)
    adjective = rng.choice(ADJECTIVES)
    name = f"{brand} {adjective} {noun}"
    attributes = {"colour": colour, "material": rng.choice(MATERIALS)}
    if leaf.name in {"Shirts", "Shoes", "Dresses"}:
        attributes["size"] = rng.choice(SIZES)
    price = Money(f"{rng.randint(5, 400)}.{rng.choice(['00', '49', '95', '99'])}", settings.DEFAULT_CURRENCY)
    tagline = rng.choice(["Built to last.", "Loved by our customers.", "Great value.", "New this season."])
    description = f"A {colour} {noun.lower()} by {brand}, made of {attributes['material']}. {tagline}"
    translations = product_translations(
        brand=brand, adjective=adjective, noun=noun, colour=colour, material=attributes["material"], tagline=tagline
    )
    return {"name": name, "brand": brand, "price": price, "attributes": attributes, "description": description,
            "translations": translations}


def load(*, stdout) -> None:
    call_command("load_exchange_rates", stdout=stdout)
    rng = random.Random(SEED)
    created = 0
    with transaction.atomic():
        leaves = leaf_categories()
    existing = set(Product.objects.filter(sku__startswith="DEMO-").values_list("sku", flat=True))
    # Round the leaves, so the newest products span every category (not seventeen of the last one).
    for i in range(PRODUCTS_PER_LEAF):
        for leaf_index, leaf in enumerate(leaves):
            n = leaf_index * PRODUCTS_PER_LEAF + i + 1
            fields = product_fields(rng, leaf, n)
            on_hand = rng.choice([0, 2, 5, 12, 25, 60, 100])
            image_seed = rng.random()
            sku = f"DEMO-{n:04d}"
            if sku in existing:
                continue
            with transaction.atomic():
                product = product_create(sku=sku, category=leaf, on_hand=on_hand, **fields)
                shots = product_shots(leaf.name, COLOURS[fields["attributes"]["colour"]], image_seed)
                for view, (data, alt) in enumerate(zip(shots, VIEW_ALTS, strict=True)):
                    product_image_add(product=product, data=data, filename=f"{product.slug}-{view}.jpg",
                                      alt=f"{product.name}, {alt}")
            created += 1
    translations_load(stdout=stdout)
    reviews_load(stdout=stdout)
    bought_together_compute()
    stdout.write(f"   catalog: {created} products created, {Product.objects.count()} in total")
