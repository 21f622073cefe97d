"""Return requests: the shopper asks, staff approve (refund and restock) or reject."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from shop.core.exceptions import InvalidTransition
from shop.core.money import money_round
from shop.orders.exceptions import OrderNotFound, ReturnInvalid
from shop.orders.models import Order, OrderLine, ReturnLine, ReturnRequest
from shop.orders.selectors import order_return_left, order_shipping_charged
from shop.orders.services.gift_cards import (
    order_gift_cards_take_back,
    order_refund_pay_back,
    order_refundable,
)
from shop.orders.services.transitions import order_lock, order_note, order_refund_check, signed_in_actor


def return_request_create(*, order_id: int, user, lines: dict[int, int], reason: str) -> ReturnRequest:
    """The shopper asks to return some units of some lines (order line id -> quantity)."""
    reason = (reason or "").strip()
    if not reason:
        raise ReturnInvalid(_("Tell us why you are returning these items."), field="reason")
    with transaction.atomic():
        order = order_lock(order_id)
        if order.user_id != user.id:
            raise OrderNotFound()
        if not order.is_returnable:
            raise InvalidTransition(_("Only shipped or delivered items can be returned."))
        chosen = _return_lines_choose(order, lines)
        request = ReturnRequest.objects.create(order=order, reason=reason[:500])
        ReturnLine.objects.bulk_create(
            [ReturnLine(return_request=request, order_line_id=k, quantity=q) for k, q in chosen.items()]
        )
        order_note(order, actor=user, reason=_("Return requested: %(reason)s") % {"reason": reason[:200]})
    return request


def _return_lines_choose(order: Order, lines: dict[int, int]) -> dict[int, int]:
    """The (order line id -> quantity) to return: shipped lines only, each within what is left to return."""
    order_lines = {line.id: line for line in order.lines.all()}
    left = order_return_left(order)
    chosen = {}
    for line_id, quantity in lines.items():
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise ReturnInvalid(_("Enter a whole number of items."), field="lines")
        if quantity == 0:
            continue
        line = order_lines.get(line_id)
        if line is None:
            raise ReturnInvalid(_("This item is not in the order."), field="lines")
        if quantity > left.get(line_id, 0):
            raise ReturnInvalid(
                _("You can return at most %(n)d of “%(name)s” (only what was shipped to you).")
                % {"n": left.get(line_id, 0), "name": line.name},
                field="lines",
            )
        chosen[line_id] = quantity
    if not chosen:
        raise ReturnInvalid(_("Choose at least one item to return."), field="lines")
    return chosen


def _line_paid_for(line: OrderLine, units: int) -> Money:
    """What the shopper paid for `units` of the line: its stored gross (discounts off, tax in), pro rata,
    half-up to the currency's minor unit; never the list price, so a discounted line refunds no more."""
    if units >= line.quantity:
        return line.gross
    return money_round(line.gross * units / line.quantity)


def _return_shipping_share(order: Order, lines: dict[OrderLine, int]) -> Money:
    """The shipping refunded with a return of `lines` ({order line: units returned now}).

    Whole order returned (every unit of every line refunded once these come
    back) -> the order's shipping price, else zero in the order's currency.
    """
    if _order_wholly_returned(order, lines):
        return order_shipping_charged(order)
    return Money(Decimal("0"), order.currency)


def _order_wholly_returned(order: Order, lines: dict[OrderLine, int]) -> bool:
    """Whether every unit of every line is refunded once `lines` come back."""
    returning = {_pk(line): units for line, units in lines.items()}
    return all(
        refunded + returning.get(line_id, 0) >= quantity
        for line_id, quantity, refunded in order.lines.values_list("id", "quantity", "refunded_quantity")
    )


def _pk(line) -> int:
    return line if isinstance(line, int) else line.pk


def return_request_approve(*, return_id: int, actor=None, reason: str = "") -> ReturnRequest:
    """Staff approve a return: its lines are refunded (back the way they were paid) and restocked.

    The refund's reference is derived from the return, so approving twice
    refunds once; the return becomes approved in the refund's transaction.
    Call outside a transaction (a card refund is an HTTP call).
    """
    with transaction.atomic():
        request = ReturnRequest.objects.get(pk=return_id)
        order = order_lock(request.order_id)
        request = ReturnRequest.objects.select_for_update().get(pk=return_id)
        if request.status != ReturnRequest.Status.REQUESTED:
            raise InvalidTransition(_("This return request was already decided."))
        lines = {line.id: line for line in order.lines.all()}
        returned = {lines[rl.order_line_id]: rl.quantity for rl in request.lines.all()}
        amount = sum(
            (_line_paid_for(line, units) for line, units in returned.items()), Money(Decimal("0"), order.currency)
        ) + _return_shipping_share(order, returned)
        amount = min(amount, order_refundable(order))
        order_refund_check(order, amount)
        reference = f"{order.number}-return-{request.pk}"
        order_gift_cards_take_back(order, {line.pk: units for line, units in returned.items()})
    approved = _("Return %(id)s approved") % {"id": request.pk}
    order_refund_pay_back(
        order_id=order.pk, amount=amount, reference=reference,
        reason=f"{approved}: {reason}" if reason else approved,
        actor=signed_in_actor(actor),
    )
    request.refresh_from_db()
    return request


def return_request_reject(*, return_id: int, actor=None, reason: str = "") -> ReturnRequest:
    """Staff reject a return; nothing is refunded."""
    with transaction.atomic():
        request = ReturnRequest.objects.select_for_update().get(pk=return_id)
        if request.status != ReturnRequest.Status.REQUESTED:
            raise InvalidTransition(_("This return request was already decided."))
        request.status = ReturnRequest.Status.REJECTED
        request.decided_at = timezone.now()
        request.decided_by = signed_in_actor(actor)
        request.save()
        order = order_lock(request.order_id)
        order_note(order, actor=actor,
                   reason=_("Return request rejected: %(reason)s") % {"reason": reason})
    return request
