"""What payments calls through payments.handlers for an order's payment (registered in OrdersConfig.ready).

Each handler runs inside the payments transaction that changed the payment,
and locks the order row (only) before touching it.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.services.stock import stock_restock, stock_sale_cancel
from payments.exceptions import PaymentErrorCode
from payments.models import Payment
from payments.services.refunds import payment_refund
from shop.core.tasks import task_enqueue_on_commit
from shop.orders.models import Order, OrderLine, OutboxEmail, ReturnRequest, ShipmentLine
from shop.orders.selectors import order_returned_quantities, order_unshipped_by_warehouse
from shop.orders.services.gift_cards import order_gift_cards_fully_refunded, order_gift_cards_refunded_for
from shop.orders.services.invoices import credit_note_issue
from shop.orders.services.outbox import outbox_email_queue
from shop.orders.services.shipments import order_unshipped_settle
from shop.orders.services.transitions import (
    REFUNDABLE,
    S,
    order_cancel,
    order_mark_paid_locked,
    order_note,
    order_transition,
)
from shop.pricing.services.vouchers import voucher_redemption_release

logger = logging.getLogger(__name__)


def _order_for_payment(payment) -> Order | None:
    """The payment's order, locked (its row only), with its user loaded."""
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(number=payment.reference)
        .first()
    )


def payment_failure_code(payment: Payment | None, default: PaymentErrorCode) -> str:
    """Why a payment failed: the code payments recorded for it (provider data), else `default`."""
    if payment is not None and payment.last_error_code:
        return payment.last_error_code
    return default


def order_payment_succeeded(payment) -> None:
    """Payments' on_succeeded, inside its transaction: the order becomes paid.

    A payment that succeeds for an order cancelled meanwhile is refunded in
    full after commit (the shopper never pays for a cancelled order).
    """
    order = _order_for_payment(payment)
    if order is None:
        logger.error("payment %s succeeded for unknown order %s", payment.pk, payment.reference)
        return
    if order.status == S.PENDING_PAYMENT:
        order_mark_paid_locked(order, reason=_("Payment received"))
        return
    if order.status == S.CANCELLED:
        order_note(order, reason=_("Payment received after the order was cancelled: refunding it"))
        task_enqueue_on_commit("shop.orders.tasks.refund_late_payment", payment.pk, order.number)


def payment_late_refund(*, payment_id: int, number: str) -> None:
    """Give back a payment that succeeded for an already cancelled order (idempotent per reference)."""
    payment = Payment.objects.get(pk=payment_id)
    payment_refund(
        payment_id=payment_id, amount=payment.amount, reference=f"{number}-late-refund",
        reason="payment succeeded after the order was cancelled",
    )


def order_payment_failed(payment) -> None:
    """Payments' on_failed, inside its transaction: the order is cancelled and its stock released."""
    order = _order_for_payment(payment)
    if order is None or order.status != S.PENDING_PAYMENT:
        return
    code = payment_failure_code(payment, PaymentErrorCode.PAYMENT_FAILED)
    order_cancel(order_id=order.id, reason=_("Payment failed: %(code)s") % {"code": code}, check_payment=False)
    outbox_email_queue(order=order, kind=OutboxEmail.Kind.PAYMENT_FAILED, context={"code": code})


def order_payment_refunded(payment, refund) -> None:
    """Payments' on_refunded, inside the refund's transaction: the order records the money given back."""
    order = _order_for_payment(payment)
    if order is None:
        return
    order_refund_record(order, refund)


def order_refund_record(order: Order, refund) -> None:
    """Record a refund on the locked order, in the refund's transaction; `refund.amount` is the payment's part.

    The gift cards' part of the same reference (order_refund_pay_back posts it
    first) counts with it: the credit note, the return's amount and the e-mail
    say the whole sum. `<number>-refund` (full refund) restocks an unshipped order's goods;
    `<number>-return-<id>` approves that return and restocks its lines;
    any other refund (late payment, made in payments' admin) is recorded only.
    A refund of an invoiced order issues a credit note for the units it puts
    back (and the rest of the amount), attached to the refund e-mail.
    Once the payment and the gift cards have all been given back, the order
    is refunded and its voucher's use released.
    """
    reference, actor = refund.reference, refund.actor
    amount = refund.amount + order_gift_cards_refunded_for(order, reference)
    lines = {line.id: line for line in order.lines.all()}
    restock = _refund_restock_wanted(order, lines, refund, amount)
    credited: dict[int, int] = {}  # units per order line, whichever warehouses they go back to
    for line_id, _warehouse_id, units in restock:
        credited[line_id] = credited.get(line_id, 0) + units
    if reference == f"{order.number}-refund":  # a full refund credits every unit not yet refunded, shipped or not
        credited = {line_id: line.returnable_quantity for line_id, line in lines.items() if line.returnable_quantity}
    credit_note = credit_note_issue(order, refund_reference=reference, amount=amount, lines=credited)
    # Only a return brings back units that shipped; every other restock is of units that never left.
    shipped = reference.startswith(f"{order.number}-return-")
    _refund_restock(order, lines, restock, reference=reference, actor=actor, shipped=shipped)
    order.refunded_total = order.refunded_total + refund.amount
    order.save(update_fields=["refunded_total_currency", "refunded_total", "updated_at"])
    reason = refund.reason or reference
    if order.refunded_total >= order.total and order_gift_cards_fully_refunded(order) and order.status in REFUNDABLE:
        order_transition(order, S.REFUNDED, actor=actor, reason=reason)
        if order.voucher_code:  # a fully refunded order gives its voucher's use back
            voucher_redemption_release(reference=order.number)
    elif reference == f"{order.number}-unshipped":
        order_unshipped_settle(order, actor=actor, reason=reason)
    else:
        order_note(
            order, actor=actor, reason=_("Refund of %(amount)s: %(reason)s") % {"amount": amount, "reason": reason}
        )
    outbox_email_queue(
        order=order, kind=OutboxEmail.Kind.ORDER_REFUNDED, key_suffix=f":{reference}",
        context={"amount": str(amount.amount), "currency": amount.currency.code},
        attachments=[credit_note.id] if credit_note else None,
    )


def _refund_restock_wanted(
    order: Order, lines: dict[int, OrderLine], refund, amount
) -> list[tuple[int, int | None, int]]:
    """Which units the refund puts back, and where: (order line id, warehouse id, units); approves the return it pays.

    A full refund of an unshipped order: every unit, to the warehouses its
    allocations took it from. The rest of a partially shipped order
    (`-unshipped`, or a full refund before it all shipped): the units
    allocated and never shipped, to their warehouses. A return: its units,
    to the warehouses their shipments left from.
    """
    reference = refund.reference
    if reference == f"{order.number}-refund" and order.status == S.PAID:
        return [
            (line_id, warehouse_id, units)
            for line_id, line in lines.items() if line.returnable_quantity
            for warehouse_id, units in _restock_targets(line, line.returnable_quantity)
        ]
    if reference == f"{order.number}-unshipped" or (
        reference == f"{order.number}-refund" and order.status == S.PARTIALLY_SHIPPED
    ):
        return [
            (line_id, warehouse_id, units)
            for warehouse_id, left in sorted(order_unshipped_by_warehouse(order.pk).items())
            for line_id, units in sorted(left.items())
        ]
    if not reference.startswith(f"{order.number}-return-"):
        return []
    request = (
        ReturnRequest.objects.select_for_update()
        .filter(pk=reference.rsplit("-", 1)[-1], order=order, status=ReturnRequest.Status.REQUESTED)
        .first()
    )
    if request is None:
        return []
    returned_before = order_returned_quantities(order.pk)
    restock = [
        (rl.order_line_id, warehouse_id, units)
        for rl in request.lines.all()
        for warehouse_id, units in _shipped_targets(rl.order_line_id, rl.quantity, returned_before.get(rl.order_line_id, 0))
    ]
    request.status = ReturnRequest.Status.APPROVED
    request.refund_amount = amount
    request.decided_at = timezone.now()
    request.decided_by = refund.actor
    request.save()
    return restock


def _shipped_targets(line_id: int, quantity: int, skip: int) -> list[tuple[int | None, int]]:
    """(warehouse id, units) for `quantity` returned units of a line: where its parcels left from, after `skip`."""
    targets = []
    for warehouse_id, shipped in ShipmentLine.objects.filter(order_line_id=line_id).order_by(
        "shipment_id"
    ).values_list("shipment__warehouse_id", "quantity"):
        free = shipped - min(skip, shipped)
        skip -= shipped - free
        take = min(free, quantity)
        if take:
            targets.append((warehouse_id, take))
            quantity -= take
    if quantity:  # a line that never shipped (returns refuse it): the default warehouse
        targets.append((None, quantity))
    return targets


def _refund_restock(
    order: Order, lines: dict[int, OrderLine], restock: list[tuple[int, int | None, int]], *, reference: str, actor,
    shipped: bool,
) -> None:
    """Count the refunded units on their lines and put them back on hand.

    Returned (shipped) units are restocked; units that never shipped go from
    committed back on hand in the warehouse they were allocated from.
    """
    unshipped = []
    for line_id, warehouse_id, quantity in restock:
        line = lines[line_id]
        quantity = min(quantity, line.returnable_quantity)
        if quantity <= 0:
            continue
        line.refunded_quantity += quantity
        OrderLine.objects.filter(pk=line_id).update(refunded_quantity=line.refunded_quantity)
        if not shipped:
            if line.variant_id is not None and warehouse_id is not None:
                unshipped.append((line.variant_id, warehouse_id, quantity))
            continue
        if line.variant_id is None and line.product_id is None:
            continue
        stock_restock(
            variant_id=line.variant_id, product_id=line.product_id, warehouse_id=warehouse_id, quantity=quantity,
            actor=actor, reason=f"refund {reference}", reference=order.number,
        )
    if unshipped:
        stock_sale_cancel(lines=unshipped, reference=order.number, actor=actor, reason=f"refund {reference}")


def _restock_targets(line: OrderLine, quantity: int) -> list[tuple[int | None, int]]:
    """(warehouse id, units) for `quantity` more units of `line` coming back; None: the default warehouse."""
    allocations = list(line.allocations.order_by("warehouse_id").values_list("warehouse_id", "quantity"))
    if not allocations:
        return [(None, quantity)]
    skip, targets = line.refunded_quantity, []
    for warehouse_id, allocated in allocations:
        free = allocated - min(skip, allocated)
        skip -= allocated - free
        take = min(free, quantity)
        if take:
            targets.append((warehouse_id, take))
            quantity -= take
    if quantity:  # more back than was allocated (never by the guards above): the last warehouse takes it
        targets.append((allocations[-1][0], quantity))
    return targets
