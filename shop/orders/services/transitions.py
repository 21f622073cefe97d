"""The order state machine: one function moves an order along an edge and writes its OrderEvent.

Lock order: an order row (select_for_update) first, then whatever the
catalog/payments services lock (stock rows in product-id order, wallets).
Each transition locks the order, checks the edge, writes an OrderEvent and
queues its e-mail in the outbox, all in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.services.recommendations import product_purchase_record
from catalog.services.stock import stock_commit_sale, stock_release
from payments.exceptions import PaymentInProgress
from payments.models import Payment
from payments.services.charges import payment_void
from shop.core.exceptions import InvalidTransition
from shop.orders.exceptions import OrderErrorCode, PaymentBeingConfirmed
from shop.orders.models import Order, OrderEvent, OrderLine, OutboxEmail
from shop.orders.selectors import order_payment_being_confirmed, related_cache_fill
from shop.orders.services.gift_cards import (
    order_gift_card_refundable,
    order_gift_cards_issue,
    order_gift_cards_release,
    order_gift_cards_take_back,
    order_refund_pay_back,
    order_refundable,
)
from shop.orders.services.invoices import invoice_issue
from shop.orders.services.outbox import outbox_email_queue
from shop.pricing.services.vouchers import voucher_redemption_release

S = Order.Status
# The order state machine: every allowed edge, and nothing else.
TRANSITIONS: dict[str, set[str]] = {
    S.PENDING_PAYMENT: {S.PAID, S.CANCELLED},
    # Shipping happens through shipments (services/shipments.py), never by a bare transition.
    S.PAID: {S.PARTIALLY_SHIPPED, S.SHIPPED, S.REFUNDED},
    S.PARTIALLY_SHIPPED: {S.SHIPPED, S.REFUNDED},
    S.SHIPPED: {S.DELIVERED, S.REFUNDED},
    S.DELIVERED: {S.REFUNDED},
    S.CANCELLED: set(),
    S.REFUNDED: set(),
}
REFUNDABLE = {S.PAID, S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED}
PAYMENT_UNSETTLED = Payment.OPEN_STATUSES  # processing, unknown
_STAMPS = {S.PAID: "paid_at", S.SHIPPED: "shipped_at", S.DELIVERED: "delivered_at", S.CANCELLED: "cancelled_at"}


def order_lock(order_id: int) -> Order:
    """The order row, locked (select_for_update); call inside a transaction."""
    return Order.objects.select_for_update().get(pk=order_id)


def signed_in_actor(actor):
    """The actor to record: a signed-in user, else None (anonymous users and jobs)."""
    return actor if actor is not None and actor.is_authenticated else None


def order_transition(order: Order, to: str, *, actor=None, reason: str = "") -> OrderEvent:
    """Move a locked order along an allowed edge and record it, or raise InvalidTransition (409)."""
    if to not in TRANSITIONS[order.status]:
        raise InvalidTransition(
            _("An order that is %(status)s cannot become %(to)s.")
            % {"status": order.get_status_display(), "to": Order.Status(to).label},
            from_status=order.status,
            to_status=to,
        )
    from_status = order.status
    order.status = to
    fields = ["status", "updated_at"]
    if to in _STAMPS:
        setattr(order, _STAMPS[to], timezone.now())
        fields.append(_STAMPS[to])
    order.save(update_fields=fields)
    return order_event_record(order, from_status=from_status, to_status=to, actor=actor, reason=reason)


def order_event_record(order: Order, *, from_status: str, to_status: str, actor=None, reason: str = "") -> OrderEvent:
    """Write one OrderEvent (a transition, or a note when from_status == to_status)."""
    return OrderEvent.objects.create(
        order=order, actor=signed_in_actor(actor), from_status=from_status, to_status=to_status,
        reason=str(reason)[:255],
    )


def order_note(order: Order, *, reason: str, actor=None) -> OrderEvent:
    """Record something that happened to the order without changing its status."""
    return order_event_record(order, from_status=order.status, to_status=order.status, actor=actor, reason=reason)


def order_mark_paid(*, order_id: int, actor=None, reason: str = "") -> Order:
    """pending_payment -> paid: the reservation becomes a sale, purchases are recorded, the invoice
    issued, the receipt (with the invoice) queued.

    Runs inside the payments transaction that marks the payment succeeded.
    """
    with transaction.atomic(savepoint=False):
        return order_mark_paid_locked(order_lock(order_id), actor=actor, reason=reason)


def order_mark_paid_locked(order: Order, *, actor=None, reason: str = "") -> Order:
    """order_mark_paid for an order its caller has already locked."""
    order_paid_record(order, actor=actor, reason=reason)
    stock_commit_sale(reference=order.number, actor=actor)
    order_paid_documents(order)
    return order


def order_paid_record(order: Order, *, actor=None, reason: str = "") -> OrderEvent:
    """The first half of the paid transition (order_mark_paid_locked): pending_payment -> paid and the
    purchases recorded, for an order its caller holds locked; its stock is the caller's to sell.

    The lines are read once with their products (the purchases here, the invoice and the gift cards
    of order_paid_documents); an order its checkout made in this transaction brings its own
    (`created_lines`) and none is read. Returns the transition's event.
    """
    event = order_transition(order, S.PAID, actor=actor, reason=reason or _("Payment received"))
    created = getattr(order, "created_lines", None)
    if created is not None:
        related_cache_fill(order, "lines", sorted(created, key=lambda line: line.pk))
    else:
        prefetch_related_objects([order], Prefetch("lines", queryset=OrderLine.objects.select_related("product")))
    if order.user_id:  # a guest's purchase has no account to recommend to
        product_purchase_record(
            user=order.user,
            lines=[(line.product_id, line.quantity) for line in order.lines.all() if line.product_id],
            reference=order.number,
        )
    return event


def order_paid_documents(order: Order) -> None:
    """The second half of the paid transition: the invoice, gift cards bought, the receipt e-mail.

    Last in the paying transaction, after its stock rows: the invoice number's
    sequence row, which every paid order of the shop takes, stays locked only
    for the few statements up to commit (and every path takes it after the
    stock rows, so the two never deadlock).
    """
    # Only the transition out of pending_payment (under the order's lock) gets here.
    invoice = invoice_issue(order, first_time=True)
    order.issued_invoice = invoice
    order_gift_cards_issue(order)  # gift-card products bought: cards issued, codes e-mailed (once)
    outbox_email_queue(order=order, kind=OutboxEmail.Kind.ORDER_PAID, first_time=True, attachments=[invoice.id])


def order_cancel(*, order_id: int, actor=None, reason: str = "", check_payment: bool = True) -> Order:
    """pending_payment -> cancelled, its voucher's use, its gift cards' money and its stock released (exactly once).

    Refused (409) while the card payment's outcome is being confirmed, since
    money may have moved; payments' own failure handler skips that check.
    """
    with transaction.atomic():
        order = order_lock(order_id)
        if check_payment and order.status == S.PENDING_PAYMENT and order_payment_being_confirmed(order):
            raise PaymentBeingConfirmed()
        order_transition(order, S.CANCELLED, actor=actor, reason=reason or _("Cancelled"))
        order.cancel_reason = str(reason)[:255]
        order.save(update_fields=["cancel_reason", "updated_at"])
        if check_payment and order.payment_id:
            # A card payment not yet sent (pending, or held for fraud review) must never be
            # charged for a cancelled order: void it in the same transaction.
            try:
                payment_void(payment_id=order.payment_id, reason=str(reason))
            except PaymentInProgress:
                raise PaymentBeingConfirmed()
        if order.voucher_code:  # the voucher's use is given back (before the stock rows: checkout's lock order)
            voucher_redemption_release(reference=order.number)
        order_gift_cards_release(order)  # what the gift cards paid goes back to them (before the stock rows)
        stock_release(reference=order.number, actor=actor, reason=str(reason))
    return order


def order_refund_check(order: Order, amount: Money) -> None:
    """Refuse (409) a refund of `amount` the locked order cannot take."""
    if order.status not in REFUNDABLE:
        raise InvalidTransition(
            _("An order that is %(status)s cannot be refunded.") % {"status": order.get_status_display()},
            from_status=order.status,
            to_status=S.REFUNDED,
        )
    if order.payment_id is None and not order_gift_card_refundable(order).amount:
        raise InvalidTransition(_("This order has no payment to refund."))
    if amount.amount <= 0 or amount > order_refundable(order):
        raise InvalidTransition(_("Nothing is left to refund on this order."))


def order_refund(*, order_id: int, actor=None, reason: str = "") -> Order:
    """paid|shipped|delivered -> refunded: everything not yet refunded goes back the way it was paid.

    Gift cards get their part back first, then payments refunds the rest
    (both idempotent per reference, so a double click refunds once); the
    order records it in the refund's own transaction (order_refund_record). An order refunded before shipping puts its
    goods back in stock. Call outside a transaction: a card refund is an
    HTTP call to the provider.
    """
    with transaction.atomic():
        order = order_lock(order_id)
        amount = order_refundable(order)
        order_refund_check(order, amount)
        reference = f"{order.number}-refund"
        # Gift cards the order bought are taken back first (refused if spent from: nothing is refunded).
        order_gift_cards_take_back(order, {line.pk: line.returnable_quantity for line in order.lines.all()})
    order_refund_pay_back(
        order_id=order.pk, amount=amount, reference=reference,
        reason=str(reason or _("Full refund")), actor=signed_in_actor(actor),
    )
    order.refresh_from_db()
    return order


def order_expire_reservations(*, now: datetime | None = None, limit: int = 200) -> int:
    """Cancel unpaid orders past their reservation and release their stock; returns how many.

    Orders whose payment outcome is unknown (or being processed) are left
    alone. Orders locked by someone else are skipped (skip_locked) and seen
    on the next run; the status edge makes a second cancel impossible.
    """
    now = now or timezone.now()
    unsettled = Payment.objects.filter(reference=OuterRef("number"), status__in=PAYMENT_UNSETTLED)
    candidates = list(
        Order.objects.filter(status=S.PENDING_PAYMENT, reservation_expires_at__lt=now)
        .exclude(Exists(unsettled))
        .order_by("reservation_expires_at")
        .values_list("id", flat=True)[:limit]
    )
    cancelled = 0
    for order_id in candidates:
        with transaction.atomic():
            order = (
                Order.objects.select_for_update(skip_locked=True)
                .filter(pk=order_id, status=S.PENDING_PAYMENT, reservation_expires_at__lt=now)
                .first()
            )
            if order is None or order_payment_being_confirmed(order):
                continue
            order_cancel(order_id=order.id, reason=_("Reservation expired before payment"))
            outbox_email_queue(
                order=order, kind=OutboxEmail.Kind.PAYMENT_FAILED,
                context={"code": OrderErrorCode.RESERVATION_EXPIRED},
            )
            cancelled += 1
    return cancelled
