"""Demo data: paid orders for the demo shopper, made through the services (wallet payment), some shipped.

The first order ships with DHL and is delivered, the second ships with UPS
(on its way), the third waits to be shipped; tracking numbers are made up
but have the carriers' shapes, so their tracking links open the real pages.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from djmoney.money import Money

from shop.cart.services import CartOwner, cart_clear, cart_line_add
from shop.core.exceptions import ShopError
from shop.orders.models import Order
from shop.orders.selectors import order_unshipped_by_warehouse
from shop.orders.services.checkout import order_place
from shop.orders.services.shipments import order_deliver_everything, order_ship_everything
from shop.shipping import demo as shipping_demo
from shop.shipping.models import Carrier, ShippingMethod
from shop.shipping.selectors import shipping_methods_available

DEMO_EMAIL = "shopper@example.com"
DEMO_ORDERS = 3
# (carrier code, tracking-number prefix, deliver it): the demo orders' parcels, in order.
DEMO_PARCELS = (("dhl", "00340434", True), ("ups", "1Z999AA1", False))


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
    chosen = [p for p in products.values() if product_available(p) >= 1][:DEMO_ORDERS]
    if not chosen:
        stdout.write("   no products in stock; skipping the demo order")
        return
    country = address.country if address is not None else address_value["country"]
    method = _demo_shipping_method(country=country, stdout=stdout)
    orders = [order for product in chosen if (order := _order_place(user, product, address_value, method, stdout))]
    _orders_ship(orders, stdout)


def _order_place(user, product, address_value, method: int | None, stdout) -> Order | None:
    owner = CartOwner(user=user)
    cart_clear(owner=owner)
    cart_line_add(owner=owner, product_id=product.id, quantity=1)
    try:
        result = order_place(
            user=user, payment_method=Order.PaymentMethod.WALLET, shipping_address=address_value,
            currency=settings.DEFAULT_CURRENCY, shipping_method=method,
        )
    except ShopError as exc:
        cart_clear(owner=owner)
        stdout.write(f"   could not place the demo order: {exc.message}")
        return None
    stdout.write(f"   demo order {result.order.number}: {result.order.get_status_display()}")
    return result.order


def _orders_ship(orders: list[Order], stdout) -> None:
    """Ship the first demo orders with the shipping demo's carriers (skipped without them)."""
    carriers = {c.code: c for c in Carrier.objects.filter(is_active=True)}
    for order, (code, prefix, deliver) in zip(orders, DEMO_PARCELS, strict=False):
        if code not in carriers or order.status != Order.Status.PAID:
            stdout.write(f"   demo order {order.number} not shipped (no {code} carrier)")
            continue
        warehouses = sorted(order_unshipped_by_warehouse(order.pk))
        numbers = [f"{prefix}{order.pk:06d}{i}" for i, _wid in enumerate(warehouses, start=1)]
        try:
            order_ship_everything(order_id=order.pk, carrier=carriers[code], tracking_numbers=numbers,
                                  reason="demo data")
            if deliver:
                order_deliver_everything(order_id=order.pk, reason="demo data")
        except ShopError as exc:
            stdout.write(f"   could not ship demo order {order.number}: {exc.message}")
            continue
        order.refresh_from_db()
        stdout.write(f"   demo order {order.number}: {order.get_status_display()} ({', '.join(numbers)})")


def _demo_shipping_method(*, country: str, stdout) -> int | None:
    """The cheapest method serving the demo address (the shipping demo is loaded first when there is none)."""
    if not ShippingMethod.objects.exists():
        shipping_demo.load(stdout=stdout)
    quotes = shipping_methods_available(
        country=country, weight_grams=0, subtotal=Money(0, settings.DEFAULT_CURRENCY)
    )
    return quotes[0].method_id if quotes else None
