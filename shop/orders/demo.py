"""Demo data: one paid order for the demo shopper, made through the services (wallet payment)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from djmoney.money import Money

from shop.cart.services import CartOwner, cart_clear, cart_line_add
from shop.core.exceptions import ShopError
from shop.orders.models import Order
from shop.orders.services.checkout import order_place
from shop.shipping import demo as shipping_demo
from shop.shipping.models import ShippingMethod
from shop.shipping.selectors import shipping_methods_available

DEMO_EMAIL = "shopper@example.com"


def load(*, stdout) -> None:
    """Idempotent: does nothing when the demo shopper already has an order."""
    from catalog.models import Product
    from catalog.selectors.products import products_by_ids
    from catalog.selectors.stock import product_available

    user = get_user_model().objects.filter(email__iexact=DEMO_EMAIL).first()
    if user is None:
        stdout.write("   no demo shopper; skipping the demo order")
        return
    if Order.objects.filter(user=user).exists():
        stdout.write("   the demo shopper already has an order")
        return
    address = user.addresses.first()
    if address is None:
        address_value = {
            "full_name": user.get_full_name(), "line1": "1 Demo Street", "city": "Berlin",
            "postal_code": "10115", "country": "DE",
        }
    else:
        address_value = address.pk
    ids = list(Product.objects.filter(is_active=True).order_by("id").values_list("id", flat=True)[:10])
    products = products_by_ids(ids)
    chosen = [p for p in products.values() if product_available(p) >= 1][:2]
    if not chosen:
        stdout.write("   no products in stock; skipping the demo order")
        return
    owner = CartOwner(user=user)
    cart_clear(owner=owner)
    for product in chosen:
        cart_line_add(owner=owner, product_id=product.id, quantity=1)
    country = address.country if address is not None else address_value["country"]
    method = _demo_shipping_method(country=country, stdout=stdout)
    try:
        result = order_place(
            user=user, payment_method=Order.PaymentMethod.WALLET, shipping_address=address_value,
            currency=settings.DEFAULT_CURRENCY, shipping_method=method,
        )
    except ShopError as exc:
        cart_clear(owner=owner)
        stdout.write(f"   could not place the demo order: {exc.message}")
        return
    stdout.write(f"   demo order {result.order.number}: {result.order.get_status_display()}")


def _demo_shipping_method(*, country: str, stdout) -> int | None:
    """The cheapest method serving the demo address (the shipping demo is loaded first when there is none)."""
    if not ShippingMethod.objects.exists():
        shipping_demo.load(stdout=stdout)
    quotes = shipping_methods_available(
        country=country, weight_grams=0, subtotal=Money(0, settings.DEFAULT_CURRENCY)
    )
    return quotes[0].method_id if quotes else None
