import factory
from django.conf import settings
from djmoney.money import Money

from catalog.models import Category
from catalog.services.categories import category_create
from catalog.services.products import product_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = settings.AUTH_USER_MODEL

    email = factory.Sequence(lambda n: f"shopper{n}@example.com")
    password = factory.django.Password("pw-123456-secret")


_seq = iter(range(1, 10**9))


def make_category(name: str | None = None, parent: Category | None = None) -> Category:
    n = next(_seq)
    name = name or f"Category {n}"
    return category_create(name=name, parent=parent, slug=f"{name.lower().replace(' ', '-')}-{n}")


def make_product(
    *,
    category: Category | None = None,
    name: str | None = None,
    price="10.00",
    on_hand: int = 10,
    brand: str = "Acme",
    description: str = "",
    attributes: dict | None = None,
    is_active: bool = True,
):
    n = next(_seq)
    return product_create(
        sku=f"SKU-{n:06d}",
        name=name or f"Product {n}",
        category=category or make_category(),
        price=Money(price, settings.DEFAULT_CURRENCY),
        brand=brand,
        description=description,
        attributes=attributes or {},
        is_active=is_active,
        on_hand=on_hand,
    )


def make_warehouse(code: str, *, country: str = "DE", priority: int = 0, ships_to=None, is_active: bool = True):
    from catalog.models import Warehouse

    return Warehouse.objects.create(
        code=code, name=code.upper(), country=country, priority=priority, ships_to=ships_to or [], is_active=is_active
    )


def default_variant(product):
    """The product's default variant (the one a product without options has)."""
    return product.variants.get(is_default=True)


def make_apparel(*, sizes=("S", "M", "L"), colours=("Red", "Blue"), stock=None, price="20.00", **kwargs):
    """A product with one variant per size and colour. `stock`: {(size, colour): units} in the default warehouse."""
    from catalog.services.stock import stock_restock
    from catalog.services.variants import product_type_create, product_variants_create

    product = make_product(on_hand=0, price=price, **kwargs)
    n = next(_seq)
    product_type = product_type_create(name=f"Apparel {n}", options={"size": list(sizes), "colour": list(colours)})
    combos = [(size, colour) for size in sizes for colour in colours]
    made = product_variants_create(
        product=product, product_type=product_type,
        variants=[{"sku": f"{product.sku}-{s}-{c}", "options": {"size": s, "colour": c}} for s, c in combos],
    )
    variants = dict(zip(combos, made, strict=True))
    for key, units in (stock or {}).items():
        stock_restock(variant_id=variants[key].pk, quantity=units, reason="test")
    return product, variants
