"""Demo apparel with sizes and colours, stocked in two warehouses (Germany first, the US farther).

Loaded after catalog.demo by `load_demo_data`; idempotent.
"""

import random
from decimal import Decimal

from django.db import transaction
from djmoney.money import Money

from catalog.demo import COLOURS
from catalog.demo_images import product_shots
from catalog.demo_translations import APPAREL_DE, translations_load
from catalog.models import Category, Product, ProductType, Warehouse
from catalog.services.categories import category_create
from catalog.services.products import product_create, product_image_add
from catalog.services.stock import stock_restock
from catalog.services.variants import product_type_create, product_variants_create
from catalog.services.warehouses import warehouse_default

SIZES = ["S", "M", "L", "XL"]
APPAREL_COLOURS = ["Red", "Blue", "Black"]
APPAREL = [
    ("DEMO-TEE", "Organic Cotton T-Shirt", "19.90", "A soft everyday tee of organic cotton."),
    ("DEMO-HOODIE", "Fleece Hoodie", "49.00", "A warm hoodie with a kangaroo pocket."),
    ("DEMO-RUNNER", "Trail Running Shirt", "34.50", "A light, quick-drying shirt for long runs."),
]
SEED = 20261207


def _warehouses() -> tuple[Warehouse, Warehouse]:
    """The German warehouse (the default one, tried first) and the US one; both ship everywhere."""
    germany = warehouse_default()
    if germany.name == "Main warehouse":
        Warehouse.objects.filter(pk=germany.pk).update(name="Berlin warehouse", country="DE", address="Berlin, Germany")
    usa, _created = Warehouse.objects.get_or_create(
        code="us", defaults={"name": "New Jersey warehouse", "country": "US", "priority": 10,
                             "address": "Newark, NJ, USA"},
    )
    return germany, usa


def _apparel_type() -> ProductType:
    found = ProductType.objects.filter(name="Apparel").first()
    return found or product_type_create(
        name="Apparel", options={"size": SIZES, "colour": APPAREL_COLOURS}
    )


def _category() -> Category:
    found = Category.objects.filter(slug="shirts").first() or Category.objects.filter(name="Shirts").first()
    return found or category_create(name="Shirts", parent=None, slug="shirts")


def load(*, stdout) -> None:
    germany, usa = _warehouses()
    product_type, category = _apparel_type(), _category()
    rng = random.Random(SEED)
    created = 0
    for sku, name, price, description in APPAREL:
        if Product.objects.filter(sku=sku).exists():
            continue
        with transaction.atomic():
            name_de, description_de = APPAREL_DE[sku]
            product = product_create(sku=sku, name=name, category=category, price=Money(price, "USD"),
                                     description=description, brand="Northwind", attributes={"material": "cotton"},
                                     translations={"name_de": name_de, "description_de": description_de})
            combos = [(s, c) for s in SIZES for c in APPAREL_COLOURS]
            variants = product_variants_create(
                product=product, product_type=product_type,
                variants=[{"sku": f"{sku}-{s}-{c.upper()}", "options": {"size": s, "colour": c},
                           "price": Decimal(price) + 3 if s == "XL" else None} for s, c in combos],
            )
            for variant in variants:
                # Some sold out, most in Germany, a few only in the US.
                for warehouse, units in ((germany, rng.choice([0, 0, 3, 8, 20])), (usa, rng.choice([0, 2, 10]))):
                    if units:
                        stock_restock(variant_id=variant.pk, warehouse_id=warehouse.pk, quantity=units,
                                      reason="demo stock")
            for view, shot in enumerate(product_shots("Shirts", COLOURS["red"], rng.random())):
                product_image_add(product=product, data=shot, filename=f"{product.slug}-{view + 1}.jpg")
        created += 1
    translations_load(stdout=stdout)  # the apparel options' German
    stdout.write(f"   apparel: {created} products with sizes and colours in {germany.code} and {usa.code}")
