"""A finance user (not a superuser) reads the shop dashboard and the reports in admin, with real orders,
and downloads the CSV exports."""

import csv
import importlib
import io
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.models import User
from payments.models import Payment
from payments.reconciliation.runs import reconciliation_run
from payments.services import wallets
from shop.cart.services import CartOwner, cart_line_add
from shop.orders.models import Order
from shop.orders.services.checkout import order_place
from tests.e2e.journeys import ADDRESS, PASSWORD
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _finance_user(email: str) -> User:
    """Staff in the "finance" group as the data migrations make it (the live-server tables start empty)."""
    importlib.import_module("payments.migrations.0005_staff_groups").create_groups(apps, None)
    importlib.import_module("payments.migrations.0009_reconciliation_screening_staff_perms").grant_finance(apps, None)
    from django.contrib.auth.models import Group

    user = User.objects.create_user(email=email, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    return user


def _buy(user, lines, *, method="wallet", currency="USD", token=""):
    for product, quantity in lines:
        cart_line_add(owner=CartOwner(user=user), product_id=product.pk, quantity=quantity)
    return order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method=method, currency=currency, card_token=token,
                       shipping_address=dict(ADDRESS))


@pytest.fixture
def trading_day(psp, shop_catalog, verified_user, settings):
    """Orders placed through the services: wallet and card, USD and EUR, one payment stuck in unknown."""
    settings.PAYMENT_READ_TIMEOUT = 1.0  # tok_timeout answers after 2 s: the payment is left unknown ...
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False  # ... and no webhook comes to settle it
    cat = shop_catalog
    shopper = verified_user("erin.e2e@example.com")
    usd = wallets.wallet_open(user=shopper, currency="USD")
    eur = wallets.wallet_open(user=shopper, currency="EUR")
    wallets.wallet_demo_credit(wallet_id=usd.pk, amount=Money("500.00", "USD"), reference="e2e-reports-usd")
    wallets.wallet_demo_credit(wallet_id=eur.pk, amount=Money("300.00", "EUR"), reference="e2e-reports-eur")
    paid = [
        _buy(shopper, [(cat.aurora, 2)]),
        _buy(shopper, [(cat.nimbus, 1)], method="card", token="tok_ok"),
        _buy(shopper, [(cat.aurora, 1), (cat.guide, 2)], currency="EUR"),
    ]
    assert [r.order.status for r in paid] == [Order.Status.PAID] * 3
    # Reconciled before the stuck one: a run would settle it from the provider's report.
    reconciliation_run(day=timezone.now().date())
    stuck = _buy(shopper, [(cat.guide, 1)], method="card", token="tok_timeout")
    assert Payment.objects.get(pk=stuck.order.payment_id).status == Payment.Status.UNKNOWN
    return {"catalog": cat, "orders": [r.order for r in paid], "stuck": stuck.order}


def _csv(download) -> list[list[str]]:
    return list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))


def test_finance_reads_the_dashboard_and_reports_and_exports_csv(new_page, shot, trading_day):
    cat = trading_day["catalog"]
    finance = _finance_user("fiona.finance@example.com")
    staff = new_page()
    staff.goto("/admin/")
    staff.locator("input[name=username]").fill(finance.email)
    staff.locator("input[name=password]").fill(PASSWORD)
    staff.locator("input[type=submit]").click()
    staff.wait_for_load_state()
    expect(staff.locator("#staff-module")).to_be_visible()
    shot(staff, "admin-index")

    staff.locator("#staff-module a[href='/admin/staff/dashboard/']").click()
    staff.wait_for_load_state()
    expect(staff.locator("h1")).to_have_text("Shop dashboard")
    usd_total = sum((o.total.amount for o in trading_day["orders"] if o.currency == "USD"), Decimal(0))
    expect(staff.locator("#sales-today")).to_contain_text(f"{usd_total:,.2f} USD")
    expect(staff.locator("#sales-today")).to_contain_text("EUR")
    expect(staff.locator("#attention")).to_contain_text("1 payment stuck (processing or unknown)")
    expect(staff.locator("#stuck-payments")).to_contain_text(trading_day["stuck"].number)
    expect(staff.locator("#orders-by-status svg")).to_be_visible()
    expect(staff.locator("#sales-chart svg")).to_have_count(2)  # one chart per currency
    expect(staff.locator("#low-stock")).to_contain_text(cat.nimbus.sku)  # 5 on hand, 1 sold
    shot(staff, "dashboard")

    staff.locator("#content-main a[href='/admin/staff/reports/']").first.click()
    staff.wait_for_load_state()
    expect(staff.locator("h1")).to_have_text("Reports")
    expect(staff.locator("#daily-sales table").first).to_contain_text("USD")
    expect(staff.locator("#top-products")).to_contain_text(cat.aurora.sku)
    expect(staff.locator("#turnover")).to_contain_text(cat.guide.sku)
    shot(staff, "reports")

    with staff.expect_download() as started:
        staff.locator("#turnover a[href*='export=turnover']").click()
    turnover = _csv(started.value)
    assert turnover[0] == ["sku", "name", "units_sold", "stock_at_start", "stock_at_end", "average_stock", "turnover"]
    by_sku = {row[0]: row for row in turnover[1:]}
    assert by_sku[cat.aurora.sku][2] == "3" and by_sku[cat.nimbus.sku][2] == "1"
    with staff.expect_download() as started:
        staff.locator("#daily-sales a[href*='export=daily_sales']").click()
    daily = _csv(started.value)
    assert {row[1] for row in daily[1:]} == {"EUR", "USD"}
    with staff.expect_download() as started:
        staff.locator("#top-products a[href*='export=top_products']").click()
    top = {(row[0], row[2]): row[3] for row in _csv(started.value)[1:]}
    assert top[(cat.aurora.sku, "USD")] == "2" and top[(cat.guide.sku, "EUR")] == "2"

    # A narrower range, typed in the form like staff would.
    today = timezone.now().date().isoformat()
    staff.locator("input[name=start]").fill(today)
    staff.locator("input[name=end]").fill(today)
    staff.locator("form.staff-range input[type=submit]").click()
    staff.wait_for_load_state()
    expect(staff.locator("#daily-sales")).to_contain_text(today)
    shot(staff, "reports-today")

    staff.goto("/admin/payments/reconciliationrun/")
    expect(staff.locator("#result_list")).to_contain_text("Clean")
    shot(staff, "reconciliation-runs")
    assert not staff.js_errors, staff.js_errors
