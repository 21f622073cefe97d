"""A wallet checkout answers from what its transaction wrote (issue 19): the answer must be exactly the
order as it is stored, and the invoice made from the lines in hand exactly the one the stored lines make.

Also the lock order of a paying transaction: the invoice number's sequence row (every paid order's) is
taken after the stock rows, as the card and gift-card paths take it, so the two never deadlock.
"""

from decimal import Decimal

import pytest
from celery.signals import task_prerun
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Warehouse
from catalog.services.stock import stock_restock
from shop.cart.models import Cart
from shop.orders.models import Invoice, Order, OutboxEmail
from shop.orders.services.invoices import invoice_document_from_order
from shop.orders.services.outbox import SEND_TASK
from shop.pricing.models import TaxClass, TaxRate
from tests.orders.factories import cart_fill, make_product
from tests.orders.test_api import checkout
from tests.orders.test_gift_card_orders import apply, issue
from tests.pricing.factories import make_voucher
from tests.shipping.factories import MethodFactory, ZoneFactory, price_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxed_shipping(shopper):
    """19 % VAT and a 4.90 USD method where the shopper lives: every component of the order is non-zero."""
    country = shopper.addresses.first().country
    TaxRate.objects.create(country=country, tax_class=TaxClass.STANDARD, rate=Decimal("19"))
    method = MethodFactory(name="Standard", zones=[ZoneFactory(countries=[country])])
    price_add(method, "USD", price="4.90")
    return method


def body(shopper, method):
    return {"payment_method": "wallet", "shipping_method": method.pk, "shipping_address": shopper.addresses.first().pk}


def two_lines_one_split():
    """Two products; the first's 3 units come from two warehouses (2 in the default one, 1 in a second:
    neither holds 3)."""
    split = make_product(price="3.33", on_hand=2)
    far = Warehouse.objects.create(code="far", name="Far", country="US", priority=50)
    stock_restock(product_id=split.pk, warehouse_id=far.pk, quantity=1, reason="test")
    return split, make_product(price="7.77", on_hand=5)


def stored(api, number):
    response = api.get(f"/api/v1/orders/{number}/")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_answer_is_the_stored_order_with_voucher_tax_shipping_and_a_split_line(api, shopper, taxed_shipping):
    split, other = two_lines_one_split()
    cart_fill(shopper, (split, 3), (other, 1))
    make_voucher("TENOFF", percentage="10")
    assert Cart.objects.filter(user=shopper).update(voucher_code="TENOFF") == 1

    response = checkout(api, body(shopper, taxed_shipping))

    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer == stored(api, answer["number"])
    # What makes this order worth comparing: a split line, a discount, tax, shipping, an invoice, two events.
    allocations = {line["sku"]: line["allocations"] for line in answer["lines"]}
    assert sorted(a["quantity"] for a in allocations[split.variants.get().sku]) == [1, 2]
    assert answer["discounts"] and answer["tax"] and answer["shipping"]["price"]["amount"] == "4.90"
    assert [d["kind"] for d in answer["documents"]] == ["invoice"]
    assert [(e["from_status"], e["to_status"]) for e in answer["events"]] == [
        ("", "pending_payment"), ("pending_payment", "paid")
    ]


def test_the_answer_is_the_stored_order_when_a_gift_card_pays_part(api, shopper, taxed_shipping):
    cart_fill(shopper, (make_product(price="20.00"), 1))
    apply(shopper, issue("15.00"))

    response = checkout(api, body(shopper, taxed_shipping))

    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["gift_cards"] and answer["gift_card_total"]["amount"] == "15.00"
    assert answer == stored(api, answer["number"])


def test_the_invoice_made_from_the_lines_in_hand_is_the_one_the_stored_order_makes(api, shopper, taxed_shipping):
    split, other = two_lines_one_split()
    cart_fill(shopper, (split, 3), (other, 2))

    number = checkout(api, body(shopper, taxed_shipping)).json()["number"]

    invoice = Invoice.objects.get(order__number=number)
    again = invoice_document_from_order(Order.objects.get(number=number))
    assert {k: v for k, v in invoice.document.items() if k in again} == again
    assert invoice.document["tax_summary"][0]["rate"] == "19.00"


def test_the_invoice_sequence_is_taken_after_the_stock_rows(api, shopper, taxed_shipping):
    cart_fill(shopper, (make_product(price="5.00"), 1))

    with CaptureQueriesContext(connection) as captured:
        assert checkout(api, body(shopper, taxed_shipping)).status_code == 201

    statements = [query["sql"] for query in captured.captured_queries]
    stock = next(i for i, sql in enumerate(statements) if sql.startswith('UPDATE "catalog_stock"'))
    sequence = next(i for i, sql in enumerate(statements) if 'INTO "orders_invoicesequence"' in sql)
    assert stock < sequence


def test_a_wallet_checkout_sends_its_two_e_mails_by_one_task(
    api, shopper, taxed_shipping, mailoutbox, django_capture_on_commit_callbacks
):
    cart_fill(shopper, (make_product(price="5.00"), 1))
    sent = []

    def record(sender=None, args=None, **_kwargs):
        if sender.name == SEND_TASK:
            sent.append(tuple(args))

    task_prerun.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            number = checkout(api, body(shopper, taxed_shipping)).json()["number"]
    finally:
        task_prerun.disconnect(record)

    rows = list(OutboxEmail.objects.filter(order__number=number).order_by("id"))
    assert [row.kind for row in rows] == [OutboxEmail.Kind.ORDER_PLACED, OutboxEmail.Kind.ORDER_PAID]
    assert sent == [tuple(row.id for row in rows)]
    assert all(row.sent_at for row in rows) and len(mailoutbox) == 2
