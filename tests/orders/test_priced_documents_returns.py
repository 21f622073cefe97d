"""Where pricing meets shipments and invoices: documents state the stored components, returns refund what was paid."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from payments.models import Refund
from shop.cart.models import Cart
from shop.orders.models import InvoiceKind, Order
from shop.orders.services.checkout import order_place
from shop.orders.services.returns import return_request_approve, return_request_create
from shop.orders.services.shipments import order_deliver_everything
from shop.pricing.models import TaxClass, TaxRate
from tests.orders.factories import cart_fill
from tests.orders.shipments import ship_all
from tests.pricing.factories import make_voucher
from tests.shipping.factories import MethodFactory, ZoneFactory, price_add

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def priced_order(shopper, product):
    """2 x 10.00 with 10 % off by voucher, 4.90 shipping to Germany, prices gross with 19 % VAT: 22.90 paid."""
    TaxRate.objects.create(country="DE", tax_class=TaxClass.STANDARD, rate=Decimal("19"))
    method = MethodFactory(name="Standard", zones=[ZoneFactory(countries=["DE"])])
    price_add(method, "USD", price="4.90")
    make_voucher("TENOFF", percentage="10")
    cart_fill(shopper, (product, 2))
    Cart.objects.filter(user=shopper).update(voucher_code="TENOFF")
    order = order_place(
        user=shopper, payment_method="wallet", currency="USD", shipping_method=method.pk,
        shipping_address=shopper.addresses.first().pk,
    ).order
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.total == usd("22.90")
    return order


def test_the_invoice_states_the_stored_components_and_the_order_total(priced_order):
    document = priced_order.invoices.get(kind=InvoiceKind.INVOICE).document
    [line] = document["lines"]
    assert (line["quantity"], line["unit_price"], line["discount"], line["gross"]) == (2, "10.00", "2.00", "18.00")
    assert line["tax_rate"] == "19.00" and Decimal(line["net"]) + Decimal(line["tax"]) == Decimal("18.00")
    assert (document["shipping"], document["shipping_tax"]) == ("4.12", "0.78")
    assert document["total"] == "22.90" == str(priced_order.total.amount)
    assert document["tax_total"] == str(priced_order.tax_total.amount) == "3.65"
    assert sum(Decimal(row["tax"]) for row in document["tax_summary"]) + Decimal("0.78") == Decimal("3.65")


def _return(order, units: int):
    ship_all(order)
    order_deliver_everything(order_id=order.id)
    line = order.lines.get()
    request = return_request_create(order_id=order.id, user=order.user, lines={line.id: units}, reason="too big")
    return_request_approve(return_id=request.id)
    return Refund.objects.get(reference=f"{order.number}-return-{request.id}")


def test_a_returned_unit_refunds_its_discounted_price_not_its_list_price(priced_order):
    refund = _return(priced_order, 1)
    assert refund.amount == usd("9.00")  # 10.00 less its 10 % voucher share; shipping stays with the kept unit


def test_returning_the_whole_order_refunds_the_shipping_too_and_exactly_the_total(priced_order):
    refund = _return(priced_order, 2)
    assert refund.amount == usd("22.90") == priced_order.total
    note = priced_order.invoices.get(kind=InvoiceKind.CREDIT_NOTE)
    assert note.total == usd("22.90")
