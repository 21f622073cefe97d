"""Invoice numbers under real concurrency on PostgreSQL: consecutive, never repeated, no gaps."""

import pytest
from django.db import transaction
from djmoney.money import Money

from shop.orders.models import Invoice, InvoiceKind, InvoiceSequence, Order, OrderLine
from shop.orders.services.invoices import invoice_issue
from shop.orders.services.transitions import order_lock
from tests.flows.test_concurrency import run_in_threads
from tests.orders.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _orders(count: int) -> list[int]:
    """`count` paid orders of different shoppers, none invoiced yet."""
    ids = []
    for _ in range(count):
        user = UserFactory()
        eur, zero = Money("12.50", "EUR"), Money("0", "EUR")
        order = Order.objects.create(  # the components checkout stores, no tax, no shipping
            user=user, currency="EUR", total=eur, subtotal=eur, discount_total=zero, voucher_discount=zero,
            shipping_price=zero, shipping_tax=zero, tax_total=zero, gift_card_total=zero,
            payment_method=Order.PaymentMethod.WALLET,
            status=Order.Status.PAID, shipping_address={"full_name": "Zoë Müller", "city": "Köln"},
        )
        OrderLine.objects.create(
            order=order, sku="SKU-1", name="Tasse", unit_price=eur, quantity=1, discount=zero, net=eur, tax=zero,
            gross=eur,
        )
        ids.append(order.id)
    return ids


class Abort(Exception):
    pass


def _issue(order_id: int, *, abort: bool = False):
    def call():
        with transaction.atomic():
            invoice = invoice_issue(order_lock(order_id))
            if abort:  # the paying transaction fails after the number was taken
                raise Abort(invoice.number)
            return invoice.sequence
    return call


def test_fifty_concurrent_issues_give_fifty_consecutive_numbers():
    ids = _orders(50)
    results = run_in_threads([_issue(order_id) for order_id in ids])
    assert all(isinstance(result, int) for result in results), results
    assert sorted(results) == list(range(1, 51))
    invoices = Invoice.objects.filter(kind=InvoiceKind.INVOICE)
    assert invoices.count() == 50
    assert len(set(invoices.values_list("number", flat=True))) == 50
    assert set(invoices.values_list("order_id", flat=True)) == set(ids)
    year = invoices.first().year
    assert InvoiceSequence.objects.get(kind=InvoiceKind.INVOICE, year=year).last_number == 50


def test_issues_rolled_back_under_concurrency_leave_no_gap():
    ids = _orders(30)
    results = run_in_threads([_issue(order_id, abort=index % 3 == 0) for index, order_id in enumerate(ids)])
    aborted = [result for result in results if isinstance(result, Abort)]
    assert len(aborted) == 10, results
    kept = sorted(result for result in results if isinstance(result, int))
    assert kept == list(range(1, 21))
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == kept
    # The numbers given back are given again, with no gap after them.
    leftover = [order_id for index, order_id in enumerate(ids) if index % 3 == 0]
    again = run_in_threads([_issue(order_id) for order_id in leftover])
    assert sorted(again) == list(range(21, 31))
