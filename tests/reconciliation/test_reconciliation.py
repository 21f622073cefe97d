"""Nightly reconciliation: each kind of discrepancy is reported exactly once; clean data reports none."""

import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone
from djmoney.money import Money

from catalog.models import Stock, StockMovement
from payments.exceptions import ReconciliationRunning
from payments.models import (
    AuditLog,
    GiftCard,
    LedgerAccount,
    Payment,
    ReconciliationItem,
    ReconciliationRun,
    Wallet,
)
from payments.reconciliation.items import reconciliation_item_resolve
from payments.reconciliation.runs import reconciliation_run
from payments.services import ledger
from payments.services.gift_cards import gift_card_issue
from payments.tasks import nightly_reconciliation
from shop.orders.models import InvoiceKind, InvoiceSequence, Order, ShipmentLine
from shop.orders.services.shipments import shipment_create
from tests.orders.factories import make_product, shopper_new
from tests.orders.shipments import carrier_new
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
    usd = lambda purpose: ledger.ledger_system_account(purpose=purpose, currency="USD")  # noqa: E731
    seeded = {}
    # 1. ledger
    seeded["unbalanced"] = helpers.unbalanced_entry(account=usd(LedgerAccount.Purpose.SHOP_REVENUE), amount="3.00")
    helpers.unbalanced_entry(account=usd(LedgerAccount.Purpose.REFUNDS_PAYABLE), amount="4.00", days_ago=3)
    other = shopper_new(funds="20.00")
    seeded["wallet"] = helpers.wallet_of(other)
    Wallet.objects.filter(pk=seeded["wallet"].pk).update(balance=F("balance") + 1)
    seeded["gift_card"] = gift_card_issue(
        amount=Money("15.00", "USD"), source=GiftCard.Source.STAFF, issue_reference="seed:gift-card"
    ).card
    GiftCard.objects.filter(pk=seeded["gift_card"].pk).update(balance=F("balance") + 1)
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
    # 2. provider: the refund of a late charge, for a payment that succeeded here
    taken = helpers.card_payment(user=user, amount="4.00")
    taken_charge = helpers.provider_charge(key=taken.provider_key, amount="4.00")
    helpers.provider_refund(charge=taken_charge, key=f"late-charge-{taken.uid}", amount="4.00")
    seeded["late_refund"] = taken
    # 2. provider: payouts (wallet withdrawals)
    wallet = helpers.wallet_of(user)
    seeded["payout_missing_here"] = helpers.provider_payout(key=f"payout-{uuid.uuid4()}")
    seeded["payout_missing_at_provider"] = helpers.our_withdrawal(wallet=wallet)
    for name, payout_kwargs in {
        "amount": {"amount": "3.50"},
        "currency": {"currency": "EUR"},
        "status": {"status": "failed"},
    }.items():
        withdrawal = helpers.our_withdrawal(wallet=wallet)
        helpers.provider_payout(key=withdrawal.provider_key, **payout_kwargs)
        seeded[f"payout_{name}"] = withdrawal
    # 3. orders
    order = data["wallet_order"]
    Order.objects.filter(pk=order.pk).update(total=F("total") + 1)
    seeded["order"] = order
    Order.objects.filter(pk=data["card_order"].pk).update(paid_at=None)
    seeded["no_paid_at"] = data["card_order"]
    seeded["orphan"] = Payment.objects.create(
        user=user, purpose=Payment.Purpose.ORDER, reference="SO-NOT-AN-ORDER", method=Payment.Method.WALLET,
        amount=Money("5.00", "USD"), status=Payment.Status.SUCCEEDED, provider_key=f"payment-{uuid.uuid4()}",
        settled_at=timezone.now(),
    )
    # 4. stock
    first, second = data["products"]
    Stock.objects.filter(product=first).update(reserved=F("reserved") + 1)
    Stock.objects.filter(product=second).update(on_hand=F("on_hand") + 1)
    # A committed movement written around the service: the counter no longer is its movements' sum.
    stock = Stock.objects.get(product=second)
    StockMovement.objects.create(product=second, variant_id=stock.variant_id, warehouse_id=stock.warehouse_id,
                                 kind=StockMovement.Kind.ADJUSTMENT, committed_delta=1, reason="edited")
    seeded["products"] = (first, second)
    # 5. shipments: a parcel row edited around the service holds one unit more than was allocated
    line = data["wallet_order"].lines.first()
    parcel = shipment_create(order=data["wallet_order"], lines={line: 1}, warehouse=line.allocations.first().warehouse,
                             carrier=carrier_new(), tracking_number="OVER1")
    ShipmentLine.objects.filter(shipment=parcel).update(quantity=line.allocations.first().quantity + 1)
    seeded["over_shipped_line"] = line
    # 6. invoices: the year's counter handed out a number no invoice carries (a gap)
    InvoiceSequence.objects.filter(kind=InvoiceKind.INVOICE).update(last_number=F("last_number") + 1)
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
    assert item[Kind.GIFT_CARD_BALANCE].object_id == str(seeded["gift_card"].pk)
    assert item[Kind.GIFT_CARD_BALANCE].actual - item[Kind.GIFT_CARD_BALANCE].expected == 1
    assert item[Kind.CHARGE_MISSING_HERE].object_id == seeded["charge_missing_here"].id
    assert item[Kind.CHARGE_MISSING_AT_PROVIDER].object_id == str(seeded["missing_at_provider"].pk)
    for name in ("amount", "currency", "status"):
        assert item[f"charge_{name}"].object_id == str(seeded[f"charge_{name}"].pk)
        assert item[f"refund_{name}"].object_id == str(seeded[f"refund_{name}"].pk)
    assert item[Kind.CHARGE_AMOUNT].expected == 10 and item[Kind.CHARGE_AMOUNT].actual == 11
    assert item[Kind.REFUND_MISSING_HERE].object_id == seeded["refund_missing_here"].id
    assert item[Kind.REFUND_MISSING_AT_PROVIDER].object_id == str(seeded["refund_missing_at_provider"].pk)
    assert item[Kind.LATE_REFUND].object_id == str(seeded["late_refund"].pk)
    assert item[Kind.PAYOUT_MISSING_HERE].object_id == seeded["payout_missing_here"].id
    assert item[Kind.PAYOUT_MISSING_AT_PROVIDER].object_id == str(seeded["payout_missing_at_provider"].pk)
    for name in ("amount", "currency", "status"):
        assert item[f"payout_{name}"].object_type == "payments.withdrawal"
        assert item[f"payout_{name}"].object_id == str(seeded[f"payout_{name}"].pk)
    assert item[Kind.PAYOUT_AMOUNT].expected == 3 and item[Kind.PAYOUT_AMOUNT].actual == Decimal("3.50")
    assert item[Kind.ORDER_PAYMENT].related == seeded["order"].number
    assert item[Kind.ORDER_COMPONENTS].related == seeded["order"].number  # its total no longer its components' sum
    assert item[Kind.ORDER_PAID_AT_MISSING].related == seeded["no_paid_at"].number
    assert item[Kind.PAYMENT_WITHOUT_ORDER].object_id == str(seeded["orphan"].pk)
    first, second = seeded["products"]
    assert item[Kind.STOCK_RESERVED].object_id == str(Stock.objects.get(product=first).pk)
    assert item[Kind.STOCK_ON_HAND].object_id == str(Stock.objects.get(product=second).pk)
    assert item[Kind.STOCK_COMMITTED].object_id == str(Stock.objects.get(product=second).pk)
    assert item[Kind.STOCK_COMMITTED].expected - item[Kind.STOCK_COMMITTED].actual == 1
    # The parcel edited to hold one unit more than allocated: the paid orders say -1 wait, the counter
    # still holds what the service left (allocated less the one unit it shipped).
    over = item[Kind.STOCK_COMMITTED_UNSHIPPED]
    allocated = seeded["over_shipped_line"].allocations.first().quantity
    assert over.object_type == "catalog.stock" and (over.expected, over.actual) == (-1, allocated - 1)
    assert item[Kind.SHIPPED_OVER_ALLOCATED].object_id == str(seeded["over_shipped_line"].pk)

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


def test_only_an_unknown_payment_is_settled_automatically_a_processing_one_is_flagged(provider, rates):
    user = shopper_new(funds="10.00")
    wallet = helpers.wallet_of(user)
    processing = helpers.card_payment(user=user, amount="6.00", status=Payment.Status.PROCESSING, wallet=wallet)
    pending = helpers.card_payment(user=user, amount="7.00", status=Payment.Status.PENDING, wallet=wallet)
    unknown = helpers.card_payment(user=user, amount="8.00", status=Payment.Status.UNKNOWN, wallet=wallet)
    for payment in (processing, pending, unknown):
        helpers.provider_charge(key=payment.provider_key, amount=str(payment.amount.amount))

    run = reconciliation_run(day=today())

    flagged = {i.object_id: i for i in run.items.filter(kind=Kind.CHARGE_MISSING_HERE)}
    assert set(flagged) == {str(processing.pk), str(pending.pk)}
    assert all(i.suggested_action == ReconciliationItem.Action.SETTLE_PAYMENT and not i.resolved
               for i in flagged.values())
    assert Payment.objects.get(pk=processing.pk).status == Payment.Status.PROCESSING
    assert Payment.objects.get(pk=pending.pk).status == Payment.Status.PENDING
    assert run.items.get(kind=Kind.CHARGE_SETTLED).object_id == str(unknown.pk)
    assert Payment.objects.get(pk=unknown.pk).status == Payment.Status.SUCCEEDED


def test_late_charge_refunds_are_checked_against_the_failed_payment(provider, rates):
    user = shopper_new(funds=None)
    failed = {name: helpers.card_payment(user=user, amount="9.00", status=Payment.Status.FAILED)
              for name in ("in_full", "partly", "refund_failed")}
    for name, refund_kwargs in {
        "in_full": {"amount": "9.00"},
        "partly": {"amount": "5.00"},
        "refund_failed": {"amount": "9.00", "status": "failed"},
    }.items():
        payment = failed[name]
        charge = helpers.provider_charge(key=payment.provider_key, amount="9.00")
        helpers.provider_refund(charge=charge, key=f"late-charge-{payment.uid}", **refund_kwargs)
    stranger_charge = helpers.provider_charge(key=f"payment-{uuid.uuid4()}", status="failed")
    stranger = helpers.provider_refund(charge=stranger_charge, key=f"late-charge-{uuid.uuid4()}")

    run = reconciliation_run(day=today())

    found = {(i.kind, i.object_id) for i in run.items.all()}
    assert (Kind.REFUND_AMOUNT, str(failed["partly"].pk)) in found
    assert (Kind.LATE_REFUND, str(failed["refund_failed"].pk)) in found
    assert (Kind.REFUND_MISSING_HERE, stranger.id) in found
    assert not any(object_id == str(failed["in_full"].pk) for _kind, object_id in found)


def test_a_processing_withdrawal_paid_out_by_the_provider_is_flagged_not_changed(provider, rates):
    from payments.models import Withdrawal

    wallet = helpers.wallet_of(shopper_new(funds="10.00"))
    withdrawal = helpers.our_withdrawal(wallet=wallet, status=Withdrawal.Status.PROCESSING)
    helpers.provider_payout(key=withdrawal.provider_key)
    failed_both = helpers.our_withdrawal(wallet=wallet, status=Withdrawal.Status.FAILED)
    helpers.provider_payout(key=failed_both.provider_key, status="failed")

    run = reconciliation_run(day=today())

    assert kinds(run) == {Kind.PAYOUT_MISSING_HERE: 1}
    assert run.items.get().object_id == str(withdrawal.pk)
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == Withdrawal.Status.PROCESSING


def test_a_withdrawal_paid_out_on_the_next_days_report_is_not_called_missing(provider, rates):
    from payments.psp_sandbox.models import SandboxPayout

    wallet = helpers.wallet_of(shopper_new(funds="10.00"))
    late = helpers.our_withdrawal(wallet=wallet)
    payout = helpers.provider_payout(key=late.provider_key)
    SandboxPayout.objects.filter(pk=payout.pk).update(created=timezone.now() + timedelta(days=1))
    lost = helpers.our_withdrawal(wallet=wallet)  # the provider has never heard of it

    run = reconciliation_run(day=today())

    assert kinds(run) == {Kind.PAYOUT_MISSING_AT_PROVIDER: 1}
    assert run.items.get().object_id == str(lost.pk)


def test_the_report_is_read_page_by_page_with_the_same_findings(provider, rates, monkeypatch):
    from payments.reconciliation import provider as reconciliation

    monkeypatch.setattr(reconciliation, "PAGE", 2)
    seen = []
    real = reconciliation._report_pages

    def spy(gateway, day, type):
        for page in real(gateway, day, type):
            seen.append((type, len(page)))
            yield page

    monkeypatch.setattr(reconciliation, "_report_pages", spy)
    data = helpers.clean_day()
    seed_every_discrepancy(data)

    run = reconciliation_run(day=today())

    expected = {kind: 1 for kind in Kind.values if kind != Kind.PROVIDER_REPORT_UNAVAILABLE}
    assert kinds(run) == expected
    assert max(size for _type, size in seen) == 2
    assert len([t for t, _size in seen if t == "charges"]) >= 4  # 8 charges, 2 a page


def test_a_report_that_breaks_off_midway_is_a_finding_and_nothing_is_called_missing(stub_server, settings, rates, db):
    helpers.card_payment(user=shopper_new(funds=None), amount="9.00")
    page = {"object": "list", "data": [], "has_more": True, "next_cursor": "abc"}
    stub = stub_server([(200, page), (503, {"error": {"code": "down"}})])
    settings.PAYMENT_GATEWAY_URL = stub.url

    run = reconciliation_run(day=today())

    assert kinds(run) == {Kind.PROVIDER_REPORT_UNAVAILABLE: 1}
    assert "starting_after=abc" in stub.requests[1]["path"]


def test_the_command_says_so_cleanly_when_the_day_is_already_being_reconciled(provider, capsys):
    from django.core.cache import cache
    from django.core.management import ManagementUtility

    lock = f"payments:reconciliation:{today().isoformat()}"
    cache.add(lock, "1", timeout=60)
    try:
        with pytest.raises(SystemExit) as exited:
            ManagementUtility(["manage.py", "reconcile", "--date", today().isoformat()]).execute()
    finally:
        cache.delete(lock)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "already running" in err and "Traceback" not in err
    assert not ReconciliationRun.objects.exists()
