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
