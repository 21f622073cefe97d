"""Demo catalog: a three-level category tree, ~300 products with generated images and stock.

Idempotent: categories and products are keyed by slug/SKU, so a second run
adds nothing. Images are drawn with Pillow (no downloads).
"""

import io
import random

from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils.text import slugify
from djmoney.money import Money
from PIL import Image, ImageDraw, ImageFont

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
SEED = 20261122


def _draw_image(name: str, colour: tuple[int, int, int], rng: random.Random, size: int = 600) -> bytes:
    img = Image.new("RGB", (size, size), tuple(min(255, c + 150) for c in colour))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randint(0, size - 120), rng.randint(0, size - 220)
        x1, y1 = x0 + rng.randint(60, 260), y0 + rng.randint(60, 260)
        shade = tuple(max(0, min(255, c + rng.randint(-60, 40))) for c in colour)
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=shade)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=shade)
    draw.rectangle([0, size - 110, size, size], fill=(255, 255, 255))
    try:
        font = ImageFont.load_default(size=34)
    except TypeError:  # older Pillow without sized default font
        font = ImageFont.load_default()
    words, lines, line = name.split(), [], ""
    for word in words:
        if len(line) + len(word) > 24:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for i, text in enumerate(lines[:2]):
        draw.text((20, size - 100 + i * 44), text, fill=(29, 35, 48), font=font)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _category(name: str, parent: Category | None) -> Category:
    slug = slugify(name)
    existing = Category.objects.filter(slug=slug).first()
    return existing or category_create(name=name, parent=parent, slug=slug)


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
    noun = leaf.name.rstrip("s") if not leaf.name.endswith("ss") else leaf.name
    colour = rng.choice(list(COLOURS))
    brand = rng.choice(BRANDS)
    name = f"{brand} {rng.choice(ADJECTIVES)} {noun} {n}"
    attributes = {"colour": colour, "material": rng.choice(MATERIALS)}
    if leaf.name in {"Shirts", "Shoes", "Dresses"}:
        attributes["size"] = rng.choice(SIZES)
    price = Money(f"{rng.randint(5, 400)}.{rng.choice(['00', '49', '95', '99'])}", settings.DEFAULT_CURRENCY)
    description = (
        f"A {colour} {noun.lower()} by {brand}, made of {attributes['material']}. "
        f"{rng.choice(['Built to last.', 'Loved by our customers.', 'Great value.', 'New this season.'])}"
    )
    return {"name": name, "brand": brand, "price": price, "attributes": attributes, "description": description}


def load(*, stdout) -> None:
    call_command("load_exchange_rates", stdout=stdout)
    rng = random.Random(SEED)
    created = 0
    with transaction.atomic():
        leaves = leaf_categories()
    existing = set(Product.objects.filter(sku__startswith="DEMO-").values_list("sku", flat=True))
    for leaf_index, leaf in enumerate(leaves):
        for i in range(PRODUCTS_PER_LEAF):
            n = leaf_index * PRODUCTS_PER_LEAF + i + 1
            fields = product_fields(rng, leaf, n)
            on_hand = rng.choice([0, 2, 5, 12, 25, 60, 100])
            image_seed = rng.random()
            sku = f"DEMO-{n:04d}"
            if sku in existing:
                continue
            with transaction.atomic():
                product = product_create(sku=sku, category=leaf, on_hand=on_hand, **fields)
                data = _draw_image(product.name, COLOURS[fields["attributes"]["colour"]], random.Random(image_seed))
                product_image_add(product=product, data=data, filename=f"{product.slug}.jpg")
            created += 1
    bought_together_compute()
    stdout.write(f"   catalog: {created} products created, {Product.objects.count()} in total")
