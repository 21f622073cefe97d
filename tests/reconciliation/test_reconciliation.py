"""Nightly reconciliation: each kind of discrepancy is reported exactly once; clean data reports none."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone
from djmoney.money import Money

from catalog.models import Stock
from payments import services
from payments.models import (
    AuditLog,
    LedgerAccount,
    Payment,
    ReconciliationItem,
    ReconciliationRun,
    Wallet,
)
from payments.reconciliation import ReconciliationRunning, reconciliation_item_resolve, reconciliation_run
from payments.tasks import nightly_reconciliation
from shop.orders.models import Order
from tests.orders.factories import make_product, shopper_new
from tests.reconciliation import helpers

Kind = ReconciliationItem.Kind
pytestmark = pytest.mark.django_db(transaction=True)


def today():
    return timezone.now().date()


def kinds(run) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in run.items.values_list("kind", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def seed_every_discrepancy(data) -> dict:
    """One of each kind on top of a clean day; returns the objects the findings must name."""
    user = data["user"]
    usd = lambda purpose: services.ledger_system_account(purpose=purpose, currency="USD")  # noqa: E731
    seeded = {}
    # 1. ledger
    seeded["unbalanced"] = helpers.unbalanced_entry(account=usd(LedgerAccount.Purpose.SHOP_REVENUE), amount="3.00")
    helpers.unbalanced_entry(account=usd(LedgerAccount.Purpose.REFUNDS_PAYABLE), amount="4.00", days_ago=3)
    other = shopper_new(funds="20.00")
    seeded["wallet"] = helpers.wallet_of(other)
    Wallet.objects.filter(pk=seeded["wallet"].pk).update(balance=F("balance") + 1)
    # 2. provider: charges
    stranger = helpers.provider_charge(key=f"payment-{uuid.uuid4()}", amount="12.00")
    seeded["charge_missing_here"] = stranger
    seeded["missing_at_provider"] = helpers.card_payment(user=user, amount="9.00")
    for name, charge_kwargs in {
        "amount": {"amount": "11.00"},
        "currency": {"currency": "EUR"},
        "status": {"status": "failed"},
    }.items():
        payment = helpers.card_payment(user=user, amount="10.00")
        helpers.provider_charge(key=payment.provider_key, **charge_kwargs)
        seeded[f"charge_{name}"] = payment
    unknown = helpers.card_payment(
        user=user, amount="6.00", status=Payment.Status.UNKNOWN, wallet=helpers.wallet_of(user)
    )
    helpers.provider_charge(key=unknown.provider_key, amount="6.00")
    seeded["unknown"] = unknown
    # 2. provider: refunds (against a payment both sides agree on)
    base = helpers.card_payment(user=user, amount="50.00")
    base_charge = helpers.provider_charge(key=base.provider_key, amount="50.00")
    seeded["refund_missing_here"] = helpers.provider_refund(charge=base_charge, key=f"refund-{uuid.uuid4()}")
    seeded["refund_missing_at_provider"] = helpers.our_refund(payment=base)
    for name, refund_kwargs in {
        "amount": {"amount": "2.00"},
        "currency": {"currency": "EUR"},
        "status": {"status": "failed"},
    }.items():
        ours = helpers.our_refund(payment=base)
        helpers.provider_refund(charge=base_charge, key=f"refund-{ours.uid}", **refund_kwargs)
        seeded[f"refund_{name}"] = ours
    # 3. orders
    order = data["wallet_order"]
    Order.objects.filter(pk=order.pk).update(total=F("total") + 1)
    seeded["order"] = order
    seeded["orphan"] = Payment.objects.create(
        user=user, purpose=Payment.Purpose.ORDER, reference="SO-NOT-AN-ORDER", method=Payment.Method.WALLET,
        amount=Money("5.00", "USD"), status=Payment.Status.SUCCEEDED, provider_key=f"payment-{uuid.uuid4()}",
        settled_at=timezone.now(),
    )
    # 4. stock
    first, second = data["products"]
    Stock.objects.filter(product=first).update(reserved=F("reserved") + 1)
    Stock.objects.filter(product=second).update(on_hand=F("on_hand") + 1)
    seeded["products"] = (first, second)
    return seeded


def test_clean_day_reports_nothing_and_the_command_exits_0(provider, rates):
    helpers.clean_day()
    out = StringIO()
    call_command("reconcile", "--date", today().isoformat(), stdout=out)
    run = ReconciliationRun.objects.get(day=today())
    assert run.status == ReconciliationRun.Status.CLEAN, list(run.items.values("kind", "detail"))
    assert run.items.count() == 0
    assert run.checked["ledger_entries"] > 0 and run.checked["orders"] == 2 and run.checked["charges"] >= 2
    assert "no discrepancies" in out.getvalue()


def test_every_kind_of_discrepancy_is_reported_exactly_once(provider, rates):
    data = helpers.clean_day()
    seeded = seed_every_discrepancy(data)
    run = reconciliation_run(day=today())

    found = kinds(run)
    expected = {kind: 1 for kind in Kind.values if kind != Kind.PROVIDER_REPORT_UNAVAILABLE}
    assert found == expected, run.items.values_list("kind", "object_type", "object_id", "detail")
    item = {i.kind: i for i in run.items.all()}
    assert item[Kind.TRANSACTION_UNBALANCED].object_id == str(seeded["unbalanced"].pk)
    assert item[Kind.TRANSACTION_UNBALANCED].actual == 3
    assert item[Kind.LEDGER_TOTALS].object_id == "USD" and "4.00" in item[Kind.LEDGER_TOTALS].detail
    assert item[Kind.WALLET_BALANCE].object_id == str(seeded["wallet"].pk)
    assert item[Kind.WALLET_BALANCE].actual - item[Kind.WALLET_BALANCE].expected == 1
    assert item[Kind.CHARGE_MISSING_HERE].object_id == seeded["charge_missing_here"].id
    assert item[Kind.CHARGE_MISSING_AT_PROVIDER].object_id == str(seeded["missing_at_provider"].pk)
    for name in ("amount", "currency", "status"):
        assert item[f"charge_{name}"].object_id == str(seeded[f"charge_{name}"].pk)
        assert item[f"refund_{name}"].object_id == str(seeded[f"refund_{name}"].pk)
    assert item[Kind.CHARGE_AMOUNT].expected == 10 and item[Kind.CHARGE_AMOUNT].actual == 11
    assert item[Kind.REFUND_MISSING_HERE].object_id == seeded["refund_missing_here"].id
    assert item[Kind.REFUND_MISSING_AT_PROVIDER].object_id == str(seeded["refund_missing_at_provider"].pk)
    assert item[Kind.ORDER_PAYMENT].related == seeded["order"].number
    assert item[Kind.PAYMENT_WITHOUT_ORDER].object_id == str(seeded["orphan"].pk)
    first, second = seeded["products"]
    assert item[Kind.STOCK_RESERVED].object_id == str(first.pk)
    assert item[Kind.STOCK_ON_HAND].object_id == str(second.pk)

    # The one safe repair: the unknown payment the provider charged is settled through the service.
    settled = item[Kind.CHARGE_SETTLED]
    assert settled.auto_repaired and settled.resolved
    unknown = Payment.objects.get(pk=seeded["unknown"].pk)
    assert unknown.status == Payment.Status.SUCCEEDED
    assert AuditLog.objects.filter(action="reconciliation_settle", object_id=str(unknown.pk)).count() == 1
    # Nothing else was changed: the findings are left for staff.
    assert all(not i.resolved for i in run.items.exclude(kind=Kind.CHARGE_SETTLED))
    assert Payment.objects.get(pk=seeded["charge_status"].pk).status == Payment.Status.SUCCEEDED
    assert Wallet.objects.get(pk=seeded["wallet"].pk).balance == seeded["wallet"].balance + 1
    assert run.status == ReconciliationRun.Status.DISCREPANCIES
    assert run.discrepancy_count == len(expected) - 1 and run.repaired_count == 1


def test_a_rerun_replaces_the_findings_and_keeps_resolutions(provider, rates, django_user_model):
    data = helpers.clean_day()
    seed_every_discrepancy(data)
    first = reconciliation_run(day=today())
    staff = django_user_model.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    wallet_item = first.items.get(kind=Kind.WALLET_BALANCE)
    reconciliation_item_resolve(item_id=wallet_item.pk, actor=staff, note="checked with finance")
    first_ids = set(first.items.values_list("id", flat=True))

    second = reconciliation_run(day=today())

    assert list(ReconciliationRun.objects.filter(day=today())) == [second]
    assert not ReconciliationItem.objects.filter(id__in=first_ids).exists()
    # The unknown payment was settled by the first run: the re-run has nothing to repair.
    expected = {kind: 1 for kind in Kind.values if kind not in (Kind.PROVIDER_REPORT_UNAVAILABLE, Kind.CHARGE_SETTLED)}
    assert kinds(second) == expected
    carried = second.items.get(kind=Kind.WALLET_BALANCE)
    assert carried.resolved and carried.resolved_by == staff and carried.resolution_note == "checked with finance"
    assert AuditLog.objects.filter(action="reconciliation_resolve", actor=staff).count() == 1

    third = reconciliation_run(day=today())
    assert ReconciliationItem.objects.count() == third.items.count() == len(expected)


def test_command_exits_1_on_discrepancies_and_prints_a_table(provider, rates):
    product = make_product(on_hand=3)
    Stock.objects.filter(product=product).update(on_hand=F("on_hand") + 2)
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile", "--date", today().isoformat(), stdout=out)
    assert exited.value.code == 1
    text = out.getvalue()
    assert "Stock on hand differs from its movements" in text
    assert "Discrepancies" in text


def test_an_unreachable_provider_is_a_finding_not_a_crash(stub_server, settings, db):
    stub = stub_server([(503, {"error": {"code": "down"}})])
    settings.PAYMENT_GATEWAY_URL = stub.url
    run = reconciliation_run(day=today())
    assert kinds(run) == {Kind.PROVIDER_REPORT_UNAVAILABLE: 1}
    assert run.status == ReconciliationRun.Status.DISCREPANCIES
    assert stub.requests[0]["path"].startswith("/v1/settlements?date=")


def test_the_nightly_task_checks_yesterday(provider, settings):
    from datetime import timedelta

    from django.conf import settings as django_settings

    assert django_settings.CELERY_BEAT_SCHEDULE["nightly-reconciliation"]["task"] == nightly_reconciliation.name
    result = nightly_reconciliation.apply().result  # eager, in-process; .get() refuses inside a task context
    yesterday = (timezone.now() - timedelta(days=1)).date()
    run = ReconciliationRun.objects.get()
    assert run.day == yesterday and result == {"run": run.pk, "day": yesterday.isoformat(), "status": "clean", "open": 0}


def test_two_runs_of_one_day_do_not_overlap(provider):
    from django.core.cache import cache

    lock = f"payments:reconciliation:{today().isoformat()}"
    cache.add(lock, "1", timeout=60)
    try:
        with pytest.raises(ReconciliationRunning):
            reconciliation_run(day=today())
        assert not ReconciliationRun.objects.exists()
    finally:
        cache.delete(lock)
    assert reconciliation_run(day=today()).status == ReconciliationRun.Status.CLEAN
