"""Staff roles in admin: support views and resolves; only finance refunds and adjusts; every action is audited."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from payments.models import (
    AuditLog,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    ReconciliationItem,
    ReconciliationRun,
    Wallet,
)
from shop.orders.models import Order
from shop.orders.services.checkout import order_place
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.shipments import carrier_new
from tests.payments.factories import UserFactory
from tests.shipping.factories import shipping_method_everywhere
from tests.staff.conftest import client_for


def wallet_order(*, price="10.00", quantity=1) -> Order:
    user = shopper_new(funds="100.00")
    cart_fill(user, (make_product(price=price, on_hand=10), quantity))
    return order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                       currency="USD").order


def adjust(client, wallet, amount, reason="goodwill credit"):
    return client.post(
        "/admin/payments/wallet/",
        {"action": "adjust_balance", "_selected_action": [wallet.pk], "apply": "1", "amount": amount, "reason": reason},
    )


@pytest.mark.django_db
def test_groups_hold_the_right_permissions(support_user, finance_user):
    for perm in ("payments.view_payment", "payments.resolve_reconciliationitem", "payments.view_staff_reports",
                 "orders.view_order", "payments.view_auditlog"):
        assert support_user.has_perm(perm) and finance_user.has_perm(perm), perm
    for perm in ("payments.refund_payment", "payments.adjust_wallet", "payments.release_payment"):
        assert not support_user.has_perm(perm) and finance_user.has_perm(perm), perm
    # Approving a return refunds money: finance holds both permissions it needs.
    assert finance_user.has_perm("orders.change_returnrequest") and not support_user.has_perm("orders.change_order")


@pytest.mark.django_db
def test_fulfilment_ships_and_rejects_returns_but_moves_no_money(fulfilment_user):
    for perm in ("orders.change_order", "orders.change_returnrequest", "orders.view_order"):
        assert fulfilment_user.has_perm(perm), perm
    for perm in ("payments.refund_payment", "payments.adjust_wallet", "payments.release_payment"):
        assert not fulfilment_user.has_perm(perm), perm


@pytest.mark.django_db
def test_support_cannot_adjust_a_wallet(support, rates):
    wallet = Wallet.objects.get(user=wallet_order().user)
    before = (wallet.balance, LedgerTransaction.objects.count())
    assert adjust(support, wallet, "5.00").status_code == 403
    wallet.refresh_from_db()
    assert (wallet.balance, LedgerTransaction.objects.count()) == before
    assert not AuditLog.objects.filter(action="wallet_adjust").exists()


@pytest.mark.django_db
def test_support_cannot_refund_orders_returns_or_payments(support, rates):
    order = wallet_order()
    response = support.post("/admin/orders/order/", {"action": "refund", "_selected_action": [order.pk]})
    assert response.status_code == 403
    response = support.post(
        "/admin/payments/payment/",
        {"action": "refund_in_full", "_selected_action": [order.payment_id], "apply": "1", "reason": "x"},
    )
    assert response.status_code == 403
    response = support.post("/admin/orders/returnrequest/", {"action": "approve", "_selected_action": [1]})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert Payment.objects.get(pk=order.payment_id).status == Payment.Status.SUCCEEDED


@pytest.mark.django_db
def test_finance_adjusts_a_wallet_with_a_balanced_transaction_and_the_reason(finance, finance_user, rates):
    wallet = Wallet.objects.get(user=wallet_order().user)
    start = wallet.balance
    form = finance.post("/admin/payments/wallet/", {"action": "adjust_balance", "_selected_action": [wallet.pk]})
    assert form.status_code == 200 and b'name="reason"' in form.content
    missing_reason = adjust(finance, wallet, "5.00", reason="")
    assert missing_reason.status_code == 200 and not LedgerTransaction.objects.filter(kind="adjustment").exists()

    assert adjust(finance, wallet, "5.00", reason="courier lost the parcel").status_code == 302
    assert adjust(finance, wallet, "-2.50", reason="duplicate goodwill").status_code == 302

    wallet.refresh_from_db()
    assert wallet.balance == start + Decimal("2.50")
    adjustments = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).order_by("id")
    assert [tx.description for tx in adjustments] == ["courier lost the parcel", "duplicate goodwill"]
    for tx in adjustments:
        legs = LedgerEntry.objects.filter(transaction=tx)
        assert legs.count() == 2 and legs.aggregate(total=Sum("amount"))["total"] == 0
    assert LedgerEntry.objects.filter(account=wallet.account).aggregate(total=Sum("amount"))["total"] == wallet.balance
    audit = AuditLog.objects.filter(action="wallet_adjust").order_by("id")
    assert [(a.actor, a.reason, a.data["amount"]) for a in audit] == [
        (finance_user, "courier lost the parcel", "5.00"), (finance_user, "duplicate goodwill", "-2.50")
    ]
    # A debit never takes a wallet below zero: refused, nothing posted.
    assert adjust(finance, wallet, "-1000.00", reason="too much").status_code == 302
    wallet.refresh_from_db()
    assert wallet.balance == start + Decimal("2.50") and adjustments.count() == 2


@pytest.mark.django_db
def test_finance_refunds_an_order_and_the_action_is_audited(finance, finance_user, rates):
    order = wallet_order(price="12.00")
    asked = finance.post("/admin/orders/order/", {"action": "refund", "_selected_action": [order.pk]})
    assert asked.status_code == 200  # the reason is asked for first; nothing happened yet
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    response = finance.post(
        "/admin/orders/order/",
        {"action": "refund", "_selected_action": [order.pk], "apply": "1", "reason": "damaged in transit"},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    wallet = Wallet.objects.get(user=order.user)
    assert wallet.balance == Decimal("100.00")
    entry = AuditLog.objects.get(action="order_refund")
    assert (entry.actor, entry.object_type, entry.object_id) == (finance_user, "orders.order", str(order.pk))
    assert entry.data["ok"] is True and entry.reason == "damaged in transit"


@pytest.mark.django_db
def test_support_cannot_ship_orders_but_fulfilment_can_and_it_is_audited(
    support, fulfilment, fulfilment_user, rates
):
    order = wallet_order()
    carrier = carrier_new()
    ship = {"action": "ship_everything", "_selected_action": [order.pk], "apply": "1", "reason": "parcel 42",
            "carrier": carrier.pk, "tracking_numbers": "JD0042"}
    assert support.post("/admin/orders/order/", ship).status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and not AuditLog.objects.exists()

    assert fulfilment.post("/admin/orders/order/", ship).status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    entry = AuditLog.objects.get(action="order_ship_everything")
    assert entry.actor == fulfilment_user and entry.object_id == str(order.pk) and entry.reason == "parcel 42"
    page = support.get("/admin/payments/auditlog/")
    assert page.status_code == 200 and "order_ship_everything" in page.content.decode()
    # Fulfilment sees the parcel on the order's page without any shipment permission of its own.
    assert "JD0042" in fulfilment.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert support.get(f"/admin/payments/auditlog/{entry.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_support_resolves_reconciliation_items_with_a_note(support, support_user):
    run = ReconciliationRun.objects.create(day="2026-01-02", status=ReconciliationRun.Status.DISCREPANCIES)
    item = ReconciliationItem.objects.create(
        run=run, kind=ReconciliationItem.Kind.STOCK_ON_HAND, object_type="catalog.product", object_id="7",
        suggested_action=ReconciliationItem.Action.STOCKTAKE, expected=3, actual=4,
    )
    assert support.get(f"/admin/payments/reconciliationrun/{run.pk}/change/").status_code == 200
    listing = support.get("/admin/payments/reconciliationitem/?resolved__exact=0")
    assert listing.status_code == 200 and "catalog.product" in listing.content.decode()
    confirm = support.post("/admin/payments/reconciliationitem/", {"action": "resolve", "_selected_action": [item.pk]})
    assert confirm.status_code == 200
    done = support.post(
        "/admin/payments/reconciliationitem/",
        {"action": "resolve", "_selected_action": [item.pk], "apply": "1", "reason": "recounted: 4 is right"},
    )
    assert done.status_code == 302
    item.refresh_from_db()
    assert item.resolved and item.resolved_by == support_user and item.resolution_note == "recounted: 4 is right"
    assert AuditLog.objects.get(action="reconciliation_resolve").reason == "recounted: 4 is right"


@pytest.mark.django_db
def test_staff_without_a_role_cannot_resolve(roles):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reconciliationitem"))
    run = ReconciliationRun.objects.create(day="2026-01-03")
    item = ReconciliationItem.objects.create(run=run, kind="stock_reserved", suggested_action="review")
    response = client_for(viewer).post(
        "/admin/payments/reconciliationitem/",
        {"action": "resolve", "_selected_action": [item.pk], "apply": "1", "reason": "x"},
    )
    assert response.status_code == 403
    item.refresh_from_db()
    assert not item.resolved


@pytest.mark.django_db
def test_the_default_admin_still_works_for_superusers(rates):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client = client_for(admin_user)
    index = client.get("/admin/")
    assert index.status_code == 200 and "/admin/staff/dashboard/" in index.content.decode()
    for url in ("/admin/payments/payment/", "/admin/payments/wallet/", "/admin/orders/order/",
                "/admin/payments/fraudrule/add/", "/admin/payments/paymenthold/", "/admin/payments/auditlog/"):
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_finance_refunds_a_payment_in_payments_admin_with_a_reason(finance, finance_user, rates):
    order = wallet_order(price="8.00")
    url = "/admin/payments/payment/"
    confirm = finance.post(url, {"action": "refund_in_full", "_selected_action": [order.payment_id]})
    assert confirm.status_code == 200 and b'name="reason"' in confirm.content
    done = finance.post(
        url, {"action": "refund_in_full", "_selected_action": [order.payment_id], "apply": "1", "reason": "paid twice"}
    )
    assert done.status_code == 302
    payment = Payment.objects.get(pk=order.payment_id)
    assert payment.status == Payment.Status.REFUNDED
    refund = payment.refunds.get()
    assert refund.reason == "paid twice" and refund.actor == finance_user
    assert Wallet.objects.get(user=order.user).balance == Decimal("100.00")
    entry = AuditLog.objects.get(action="payment_refund")
    assert (entry.actor, entry.reason, entry.data["status"]) == (finance_user, "paid twice", "succeeded")
