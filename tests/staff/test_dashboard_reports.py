"""The staff dashboard and reports render real figures, draw SVG charts and export CSV."""

import csv
import io
import uuid
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone
from djmoney.money import Money

from payments.models import Payment
from shop.orders.services.checkout import order_place
from shop.staff import reports
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.factories import UserFactory
from tests.shipping.factories import shipping_method_everywhere
from tests.staff.conftest import client_for


@pytest.fixture
def sales(rates):
    """Today: 3 x A at 10.00 and 1 x B at 7.50 paid by wallet; a payment stuck in unknown; C nearly sold out."""
    a, b = make_product(price="10.00", on_hand=10), make_product(price="7.50", on_hand=20)
    low = make_product(price="1.00", on_hand=2)
    for product, quantity in ((a, 3), (b, 1)):
        user = shopper_new(funds="100.00")
        cart_fill(user, (product, quantity))
        order = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                            currency="USD").order
        assert order.status == "paid"
    stuck = Payment.objects.create(
        user=user, purpose=Payment.Purpose.ORDER, reference="SO-STUCK-1", method=Payment.Method.CARD,
        amount=Money("4.00", "USD"), status=Payment.Status.UNKNOWN, provider_key=f"payment-{uuid.uuid4()}",
    )
    return {"a": a, "b": b, "low": low, "stuck": stuck}


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.django_db
def test_dashboard_shows_sales_statuses_stuck_payments_and_low_stock(support, sales):
    page = support.get("/admin/staff/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert page.context["sales_today"][0]["currency"] == "USD"
    assert Decimal(page.context["sales_today"][0]["total"]) == Decimal("37.50")
    assert page.context["sales_today"][0]["orders"] == 2
    assert Decimal(page.context["sales_month"][0]["total"]) == Decimal("37.50")
    assert {s["status"]: s["count"] for s in page.context["statuses"]}["paid"] == 2
    assert "37.50 USD" in html
    assert html.count("<svg") >= 2 and "Orders by status" in html
    assert page.context["stuck_count"] == 1 and "SO-STUCK-1" in html
    assert sales["low"].sku in html and sales["a"].sku not in html.split('id="low-stock"')[1]


@pytest.mark.django_db
def test_reports_render_and_export_csv(finance, sales):
    today = timezone.now().date().isoformat()
    page = finance.get("/admin/staff/reports/", {"start": today, "end": today})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and sales["a"].sku in html and "export=turnover" in html

    daily = csv_rows(finance.get("/admin/staff/reports/", {"start": today, "end": today, "export": "daily_sales"}))
    assert daily[0] == ["day", "currency", "orders", "total", "refunded"]
    assert daily[1][:3] == [today, "USD", "2"] and Decimal(daily[1][3]) == Decimal("37.50")

    top = csv_rows(finance.get("/admin/staff/reports/", {"start": today, "end": today, "export": "top_products"}))
    assert [row[0] for row in top[1:]] == [sales["a"].sku, sales["b"].sku]
    assert top[1][3] == "3" and Decimal(top[1][4]) == Decimal("30.00")

    turnover = csv_rows(finance.get("/admin/staff/reports/", {"start": today, "end": today, "export": "turnover"}))
    by_sku = {row[0]: row for row in turnover[1:]}
    # A: 0 at the start of the day, 10 restocked, 3 sold -> 7 at the day's end; average 7; 3 / 7 = 0.43.
    assert by_sku[sales["a"].sku][2:] == ["3", "0", "7", "7.00", "0.43"]
    # C did not sell: it is dead stock, shown with turnover 0, not left out.
    assert by_sku[sales["low"].sku][2:] == ["0", "0", "2", "2.00", "0.00"]


@pytest.mark.django_db
def test_reports_reject_a_backwards_range(support):
    page = support.get("/admin/staff/reports/", {"start": "2026-02-10", "end": "2026-02-01"})
    assert page.status_code == 200 and "before the start date" in page.content.decode()


@pytest.mark.django_db
def test_an_empty_shop_renders_empty_charts(support):
    page = support.get("/admin/staff/dashboard/")
    assert page.status_code == 200 and "No data" in page.content.decode()


@pytest.mark.django_db
def test_staff_without_a_role_gets_403_on_dashboard_and_reports(db):
    client = client_for(UserFactory(is_staff=True))
    assert client.get("/admin/staff/dashboard/").status_code == 403
    assert client.get("/admin/staff/reports/").status_code == 403
    anonymous = client_for(UserFactory(is_staff=False))
    assert anonymous.get("/admin/staff/dashboard/").status_code == 302


def _movement(product, *, kind, delta, day):
    from datetime import datetime, time

    from catalog.models import Stock, StockMovement

    stock = Stock.objects.get(product=product)
    movement = StockMovement.objects.create(
        product=product, variant_id=stock.variant_id, warehouse_id=stock.warehouse_id, kind=kind, on_hand_delta=delta
    )
    StockMovement.objects.filter(pk=movement.pk).update(created_at=datetime.combine(day, time(12), tzinfo=UTC))
    Stock.objects.filter(product=product).update(on_hand=F("on_hand") + delta)


@pytest.mark.django_db
def test_turnover_averages_every_days_closing_stock_and_keeps_dead_stock():
    """Hand-computed over 3 days, D1..D3:

    P: 10 restocked before D1; D1 sells 2 (closes 8); D2 restocks 5 (13); D3 sells 4 and 1 (8);
       3 more sold after the range. Average (8 + 13 + 8) / 3 = 9.67; sold 7; 7 / (29 / 3) = 0.72.
       (First and last day only would say (10 + 8) / 2 = 9 and 0.78.)
    Q: 6 restocked before D1, never sold: average 6, turnover 0 (dead stock, listed).
    R: never stocked, never sold: not listed.
    """
    from catalog.models import StockMovement

    Kind = StockMovement.Kind
    d1 = timezone.now().date() - timedelta(days=10)
    d0, d2, d3, d4 = d1 - timedelta(days=1), d1 + timedelta(days=1), d1 + timedelta(days=2), d1 + timedelta(days=3)
    p, q, r = (make_product(on_hand=0) for _ in range(3))
    for product, kind, delta, day in (
        (p, Kind.RESTOCK, 10, d0), (p, Kind.SALE, -2, d1), (p, Kind.RESTOCK, 5, d2), (p, Kind.SALE, -4, d3),
        (p, Kind.SALE, -1, d3), (p, Kind.SALE, -3, d4), (q, Kind.RESTOCK, 6, d0),
    ):
        _movement(product, kind=kind, delta=delta, day=day)

    rows = {t.sku: t for t in reports.inventory_turnover(start=d1, end=d3, limit=None)}

    assert set(rows) == {p.sku, q.sku}
    assert (rows[p.sku].sold, rows[p.sku].start_stock, rows[p.sku].end_stock) == (7, 10, 8)
    assert rows[p.sku].average_stock == Decimal("9.67") and rows[p.sku].turnover == Decimal("0.72")
    assert (rows[q.sku].sold, rows[q.sku].average_stock, rows[q.sku].turnover) == (0, Decimal("6.00"), Decimal("0.00"))
    assert [t.sku for t in reports.inventory_slowest(start=d1, end=d3)] == [q.sku, p.sku]


@pytest.mark.django_db
def test_dashboard_counts_deposits_stuck_in_processing_when_the_provider_is_unreachable(support, settings):
    """Three deposits whose provider could not be reached (processing, waiting for a retry) are stuck, as is
    an unknown one; a payment in its first provider call is not. The dashboard's link lists exactly them."""
    from payments.models import Wallet
    from payments.services import wallets

    settings.PAYMENT_GATEWAY_URL = "http://127.0.0.1:9/psp-sandbox/"  # nothing listens: connection refused
    user = shopper_new(funds="1.00")
    wallet = Wallet.objects.get(user=user, currency="USD")
    deposits = [
        wallets.wallet_deposit(wallet_id=wallet.pk, amount=Money("5.00", "USD"), card_token="tok_ok", user=user)
        for _ in range(3)
    ]
    assert {p.status for p in deposits} == {Payment.Status.PROCESSING}
    unknown = Payment.objects.create(
        user=user, purpose=Payment.Purpose.ORDER, reference="SO-UNKNOWN-1", method=Payment.Method.CARD,
        amount=Money("4.00", "USD"), status=Payment.Status.UNKNOWN, provider_key=f"payment-{uuid.uuid4()}",
    )  # fmt: skip
    in_flight = Payment.objects.create(
        user=user, purpose=Payment.Purpose.ORDER, reference="SO-IN-FLIGHT", method=Payment.Method.CARD,
        amount=Money("3.00", "USD"), status=Payment.Status.PROCESSING, provider_key=f"payment-{uuid.uuid4()}",
        next_retry_at=timezone.now() + timedelta(seconds=35),
    )  # fmt: skip

    page = support.get("/admin/staff/dashboard/")
    assert page.status_code == 200
    assert page.context["stuck_count"] == 4
    assert {p.pk for p in page.context["stuck"]} == {*(p.pk for p in deposits), unknown.pk}
    assert "4 payments stuck (processing or unknown)" in page.content.decode()

    # An in-flight payment whose lease ran out (its process died) is stuck too.
    Payment.objects.filter(pk=in_flight.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))
    assert reports.payments_stuck()[1] == 5

    listed = support.get("/admin/payments/payment/", {"status__in": "processing,unknown"})
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 5
