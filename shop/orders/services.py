"""Every write to orders: placing, one function per transition, returns, refunds, the e-mail outbox.

Lock order: an order row (select_for_update) first, then whatever the
catalog/payments services lock (stock rows in product-id order, wallets).
Each transition locks the order, checks the edge, writes an OrderEvent and
queues its e-mail in the outbox, all in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.exceptions import AddressNotFound
from accounts.models import Address
from accounts.selectors import address_get_for_user
from catalog.exceptions import OutOfStock
from catalog.selectors import price_converter, products_by_ids
from catalog.services import (
    product_purchase_record,
    stock_commit_sale,
    stock_release,
    stock_reserve,
    stock_restock,
    stock_sell,
)
from payments.exceptions import CardDeclined, InsufficientFunds, PaymentInProgress, WalletNotFound
from payments.models import Payment
from payments.selectors import card_token_check
from payments.services.charges import (
    payment_charge_card,
    payment_create,
    payment_pay_with_wallet,
    payment_void,
)
from payments.services.refunds import payment_refund
from shop.cart.exceptions import CartEmpty, ProductUnavailable
from shop.cart.selectors import cart_raw_lines
from shop.cart.services import CartOwner, cart_lines_put_back, cart_lines_take, quantity_validate
from shop.core.exceptions import InvalidTransition, ShopError
from shop.orders.exceptions import CheckoutInvalid, PaymentBeingConfirmed, ReturnInvalid
from shop.orders.models import (
    Order,
    OrderEvent,
    OrderLine,
    OutboxEmail,
    ReturnLine,
    ReturnRequest,
    order_number_new,
)
from shop.orders.selectors import order_payment_being_confirmed

logger = logging.getLogger(__name__)

S = Order.Status
# The order state machine: every allowed edge, and nothing else.
TRANSITIONS: dict[str, set[str]] = {
    S.PENDING_PAYMENT: {S.PAID, S.CANCELLED},
    S.PAID: {S.SHIPPED, S.REFUNDED},
    S.SHIPPED: {S.DELIVERED, S.REFUNDED},
    S.DELIVERED: {S.REFUNDED},
    S.CANCELLED: set(),
    S.REFUNDED: set(),
}
PAYMENT_UNSETTLED = Payment.OPEN_STATUSES  # processing, unknown


class PlaceOutcome:
    PAID = "paid"
    PENDING = "pending"  # payment outcome not known yet (202)
    DECLINED = "declined"  # card declined: order cancelled, stock released (402)


@dataclass
class PlaceResult:
    order: Order
    outcome: str
    error: ShopError | None = None


# --- helpers ---------------------------------------------------------------------


def _lock(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def _transition(order: Order, to: str, *, actor=None, reason: str = "") -> OrderEvent:
    """Move a locked order along an allowed edge, or raise InvalidTransition (409)."""
    if to not in TRANSITIONS[order.status]:
        raise InvalidTransition(
            _("An order that is %(status)s cannot become %(to)s.")
            % {"status": order.get_status_display(), "to": Order.Status(to).label},
            from_status=order.status,
            to_status=to,
        )
    from_status = order.status
    order.status = to
    stamp = {S.PAID: "paid_at", S.SHIPPED: "shipped_at", S.DELIVERED: "delivered_at", S.CANCELLED: "cancelled_at"}
    fields = ["status", "updated_at"]
    if to in stamp:
        setattr(order, stamp[to], timezone.now())
        fields.append(stamp[to])
    order.save(update_fields=fields)
    return _event(order, from_status=from_status, to_status=to, actor=actor, reason=reason)


def _event(order: Order, *, from_status: str, to_status: str, actor=None, reason: str = "") -> OrderEvent:
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return OrderEvent.objects.create(
        order=order, actor=actor, from_status=from_status, to_status=to_status, reason=str(reason)[:255]
    )


def outbox_email_queue(
    *, order: Order, kind: str, key_suffix: str = "", context: dict | None = None, first_time: bool = False
) -> OutboxEmail:
    """Write an e-mail to the outbox in the caller's transaction; sent after commit.

    The key makes it idempotent: the same e-mail queued twice is one row.
    `first_time` is for callers that cannot queue this e-mail twice (a new
    order; a transition made under the order's lock): the row is simply
    inserted, and should that ever be wrong the unique key fails the whole
    transaction rather than sending two.
    """
    key = f"{order.number}:{kind}{key_suffix}"
    fields = {
        "kind": kind,
        "order": order,
        "recipient": order.email or order.user.email,
        "language": getattr(order.user, "preferred_language", "") or translation.get_language() or "",
        "context": context or {},
    }
    if first_time:
        row, created = OutboxEmail.objects.create(key=key, **fields), True
    else:
        with transaction.atomic(savepoint=False):
            row, created = OutboxEmail.objects.get_or_create(key=key, defaults=fields)
    if created:
        row_id = row.id
        transaction.on_commit(lambda: _outbox_kick(row_id))
    return row


def _outbox_kick(row_id: int) -> None:
    from shop.orders.tasks import send_order_email

    try:
        send_order_email.delay(row_id)
    except Exception:  # broker down: the drain_outbox beat job sends it later
        logger.warning("could not queue e-mail %s; drain_outbox will send it", row_id, exc_info=True)


# --- placing an order ------------------------------------------------------------------


def _address_snapshot(*, user, shipping_address) -> dict:
    if isinstance(shipping_address, bool):
        raise CheckoutInvalid(_("Choose a shipping address."), field="shipping_address")
    if isinstance(shipping_address, int):
        try:
            return address_get_for_user(user, shipping_address).as_snapshot()
        except AddressNotFound:
            raise CheckoutInvalid(_("Unknown shipping address."), field="shipping_address")
    if isinstance(shipping_address, dict):
        fields = {"full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone"}
        unknown = set(shipping_address) - fields
        if unknown:
            raise CheckoutInvalid(_("Unknown address field."), field=f"shipping_address.{sorted(unknown)[0]}")
        values = {k: v for k, v in shipping_address.items() if k in fields}
        if any(not isinstance(v, str) for v in values.values()):
            raise CheckoutInvalid(_("Address fields must be text."), field="shipping_address")
        values = {k: v.strip() for k, v in values.items()}
        values["country"] = values.get("country", "").upper()
        address = Address(user=user, **values)
        try:
            address.full_clean(exclude=["user"])
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise CheckoutInvalid(messages[0], field=f"shipping_address.{field}")
        if len(address.country) != 2 or not address.country.isalpha():
            raise CheckoutInvalid(_("Enter a two-letter country code."), field="shipping_address.country")
        return address.as_snapshot()
    raise CheckoutInvalid(_("Choose a shipping address."), field="shipping_address")


@dataclass
class _Line:
    product: object
    quantity: int
    unit_price: Money
    price_seen: Money | None = None  # the cart line's, to put it back if the order does not go through


def _checkout_lines(*, user, currency: str) -> list[_Line]:
    raw = cart_raw_lines(owner=CartOwner(user=user))
    if not raw:
        raise CartEmpty()
    products = products_by_ids([product_id for _id, product_id, _q, _p in raw])
    convert = price_converter(currency)  # one rate lookup for all lines
    lines = []
    for _id, product_id, quantity, seen in raw:
        product = products.get(product_id)
        if product is None or not product.is_active:
            raise ProductUnavailable(
                _("A product in your cart is no longer sold; remove it and try again."), product_id=product_id
            )
        quantity_validate(quantity)
        lines.append(_Line(product=product, quantity=quantity, unit_price=convert(product.price), price_seen=seen))
    return lines


def _lines_total(lines: list[_Line], currency: str) -> Money:
    return sum((line.unit_price * line.quantity for line in lines), Money(Decimal("0"), currency))


def _order_create(
    *, user, currency, method, address: dict, lines: list[_Line], checkout_token: str, reserve: bool = True
) -> Order:
    """The pending order with its line snapshots; with `reserve`, its stock reserved too."""
    total = _lines_total(lines, currency)
    for attempt in range(5):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=order_number_new(),
                    user=user,
                    currency=currency,
                    total=total,
                    refunded_total=Money(Decimal("0"), currency),
                    payment_method=method,
                    shipping_address=address,
                    email=user.email,
                    reservation_expires_at=timezone.now() + timedelta(minutes=settings.RESERVATION_MINUTES),
                    checkout_token=checkout_token,
                )
            break
        except IntegrityError:
            # A random number already taken (rare, but a busy day makes it likely
            # once): draw again. A taken checkout token is the caller's business.
            if attempt == 4 or (
                checkout_token and Order.objects.filter(user=user, checkout_token=checkout_token).exists()
            ):
                raise
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product=line.product,
                sku=line.product.sku,
                name=line.product.name,
                unit_price=line.unit_price,
                quantity=line.quantity,
            )
            for line in lines
        ]
    )
    _event(order, from_status="", to_status=S.PENDING_PAYMENT, actor=user, reason=_("Order placed"))
    outbox_email_queue(order=order, kind=OutboxEmail.Kind.ORDER_PLACED, first_time=True)
    if reserve:
        _order_reserve(order, lines, actor=user)
    return order


def _order_reserve(order: Order, lines: list[_Line], *, actor) -> None:
    stock_reserve(
        lines=_stock_lines(lines), reference=order.number, expires_at=order.reservation_expires_at, actor=actor
    )


def _stock_lines(lines: list[_Line]) -> list[tuple[int, int]]:
    return [(line.product.id, line.quantity) for line in lines]


def _sold_out_refuse(lines: list[_Line]) -> None:
    """Refuse at once a line that is visibly sold out, before any write (the stock loaded with the cart).

    Only a fast answer for the many buyers of a sold-out flash sale: the
    guarded UPDATE in the transaction is what decides.
    """
    for line in lines:
        stock = getattr(line.product, "stock", None)
        if stock is not None and stock.on_hand - stock.reserved < line.quantity:
            raise OutOfStock(product_id=line.product.id, available=max(0, stock.on_hand - stock.reserved))


def order_place(
    *,
    user,
    payment_method: str,
    shipping_address,
    currency: str,
    card_token: str = "",
    checkout_token: str = "",
    expected_total: Money | None = None,
) -> PlaceResult:
    """Check out the user's cart: order with line snapshots, stock reserved, payment made.

    Wallet: order, reservation, debit and "paid" commit together in one
    transaction (insufficient funds rolls all of it back). Card: the order
    and reservation commit first, then the provider is called outside any
    transaction; a decline cancels the order and releases the stock, an
    unknown outcome leaves it pending_payment with the reservation kept.
    A repeated `checkout_token` returns the order it made the first time.
    `expected_total` (what the shopper was shown) must equal the total in
    `currency`, else CheckoutInvalid (field "total") and nothing is made.
    """
    if payment_method not in Order.PaymentMethod.values:
        raise CheckoutInvalid(_("Choose how to pay: wallet or card."), field="payment_method")
    if payment_method == Order.PaymentMethod.CARD:
        # Only a provider token (tok_...): a card number is refused before anything is made.
        card_token = card_token_check(card_token)
    if currency not in settings.CURRENCIES:
        raise CheckoutInvalid(_("Unsupported currency."), field="currency")
    if checkout_token:
        existing = Order.objects.filter(user=user, checkout_token=checkout_token).first()
        if existing is not None:
            return _replay(existing)
    address = _address_snapshot(user=user, shipping_address=shipping_address)
    lines = _checkout_lines(user=user, currency=currency)
    if expected_total is not None:
        total = _lines_total(lines, currency)
        if expected_total != total:
            raise CheckoutInvalid(
                _("Your order total is now %(total)s, not %(expected)s. Please review your order again.")
                % {"total": total, "expected": expected_total},
                field="total",
            )
    cart_taken = [(line.product.id, line.quantity) for line in lines]
    _sold_out_refuse(lines)
    # Stock rows are the one thing buyers of a hot product queue on: each transaction
    # takes them last, so they stay locked only for its final statements and commit.
    try:
        if payment_method == Order.PaymentMethod.WALLET:
            with transaction.atomic():
                order = _order_create(
                    user=user, currency=currency, method=payment_method, address=address, lines=lines,
                    checkout_token=checkout_token, reserve=False,
                )
                # The cart's lines go with the order: a second checkout of the same cart waits
                # here and is refused (CartChanged) before it touches the wallet.
                cart_lines_take(user=user, lines=cart_taken)
                payment = payment_create(
                    user=user, purpose=Payment.Purpose.ORDER, reference=order.number, amount=order.total,
                    method=Payment.Method.WALLET,
                )
                Order.objects.filter(pk=order.pk).update(payment_id=payment.id)
                # The payments handler marks the order paid inside this transaction.
                try:
                    payment_pay_with_wallet(payment_id=payment.id)
                except WalletNotFound:
                    raise InsufficientFunds(
                        _("You have no %(currency)s wallet to pay from. Open one and add money, or pay by card.")
                        % {"currency": currency},
                        reason="no_wallet",
                    )
                # Paid in this transaction: reserved and sold in one guarded step, last.
                stock_sell(lines=_stock_lines(lines), reference=order.number, actor=user)
            order.refresh_from_db()
            return PlaceResult(order=order, outcome=PlaceOutcome.PAID)
        with transaction.atomic():
            order = _order_create(
                user=user, currency=currency, method=payment_method, address=address, lines=lines,
                checkout_token=checkout_token, reserve=False,
            )
            # As above; put back below if the card is declined.
            cart_lines_take(user=user, lines=cart_taken)
            payment = payment_create(
                user=user, purpose=Payment.Purpose.ORDER, reference=order.number, amount=order.total,
                method=Payment.Method.CARD, card_token=card_token,
            )
            Order.objects.filter(pk=order.pk).update(payment_id=payment.id)
            _order_reserve(order, lines, actor=user)  # last: see above
    except IntegrityError:
        # Two requests with the same checkout token raced: the other one made the order.
        if checkout_token:
            existing = Order.objects.filter(user=user, checkout_token=checkout_token).first()
            if existing is not None:
                return _replay(existing)
        raise
    # Outside any transaction: the provider call may take seconds.
    payment = payment_charge_card(payment_id=payment.id)
    order.refresh_from_db()
    result = _result_for(order, payment=payment)
    if result.outcome == PlaceOutcome.DECLINED:
        # The shopper is invited to pay another way: the cart is as it was.
        cart_lines_put_back(
            user=user, lines=[(line.product.id, line.quantity, line.price_seen) for line in lines if line.price_seen is not None]
        )
    return result


def _replay(order: Order) -> PlaceResult:
    """The answer for a checkout token already used: its order, as it is now.

    The cart is left alone: the order took its lines when it was made, so
    whatever is in the cart now was put there after it (buying the same
    product again is the shopper's call, not the retry's).
    """
    return _result_for(order)


def _result_for(order: Order, payment=None) -> PlaceResult:
    if order.status == S.PENDING_PAYMENT:
        return PlaceResult(order=order, outcome=PlaceOutcome.PENDING)
    if order.status == S.CANCELLED:
        if payment is None and order.payment_id:
            payment = Payment.objects.filter(pk=order.payment_id).first()
        code = getattr(payment, "last_error_code", "") or "card_declined"
        error = CardDeclined(
            _("Your payment was declined (%(code)s). Nothing was charged; please try another payment method.")
            % {"code": code},
            reason=code,
            order=order.number,
        )
        return PlaceResult(order=order, outcome=PlaceOutcome.DECLINED, error=error)
    return PlaceResult(order=order, outcome=PlaceOutcome.PAID)


# --- transitions ---------------------------------------------------------------------


def order_mark_paid(*, order_id: int, actor=None, reason: str = "") -> Order:
    """pending_payment -> paid: the reservation becomes a sale, purchases are recorded, receipt queued.

    Runs inside the payments transaction that marks the payment succeeded.
    """
    with transaction.atomic(savepoint=False):
        return _order_mark_paid_locked(_lock(order_id), actor=actor, reason=reason)


def _order_mark_paid_locked(order: Order, *, actor=None, reason: str = "") -> Order:
    _transition(order, S.PAID, actor=actor, reason=reason or _("Payment received"))
    stock_commit_sale(reference=order.number, actor=actor)
    lines = list(order.lines.all())
    product_purchase_record(
        user=order.user,
        lines=[(line.product_id, line.quantity) for line in lines if line.product_id],
        reference=order.number,
    )
    # Only the transition out of pending_payment (under the order's lock) gets here.
    outbox_email_queue(order=order, kind=OutboxEmail.Kind.ORDER_PAID, first_time=True)
    return order


def order_cancel(*, order_id: int, actor=None, reason: str = "", check_payment: bool = True) -> Order:
    """pending_payment -> cancelled, and its stock released (exactly once).

    Refused (409) while the card payment's outcome is being confirmed, since
    money may have moved; payments' own failure handler skips that check.
    """
    with transaction.atomic():
        order = _lock(order_id)
        if check_payment and order.status == S.PENDING_PAYMENT and _payment_unsettled(order):
            raise PaymentBeingConfirmed()
        _transition(order, S.CANCELLED, actor=actor, reason=reason or _("Cancelled"))
        order.cancel_reason = str(reason)[:255]
        order.save(update_fields=["cancel_reason", "updated_at"])
        if check_payment and order.payment_id:
            # A card payment not yet sent (pending, or held for fraud review) must never be
            # charged for a cancelled order: void it in the same transaction.
            try:
                payment_void(payment_id=order.payment_id, reason=str(reason))
            except PaymentInProgress:
                raise PaymentBeingConfirmed()
        stock_release(reference=order.number, actor=actor, reason=str(reason))
    return order


def order_ship(*, order_id: int, actor=None, reason: str = "") -> Order:
    """paid -> shipped; the shopper gets an e-mail."""
    with transaction.atomic():
        order = _lock(order_id)
        _transition(order, S.SHIPPED, actor=actor, reason=reason or _("Shipped"))
        outbox_email_queue(order=order, kind=OutboxEmail.Kind.ORDER_SHIPPED)
    return order


def order_deliver(*, order_id: int, actor=None, reason: str = "") -> Order:
    """shipped -> delivered."""
    with transaction.atomic():
        order = _lock(order_id)
        _transition(order, S.DELIVERED, actor=actor, reason=reason or _("Delivered"))
    return order


def _refund_check(order: Order, amount: Money) -> None:
    if order.status not in {S.PAID, S.SHIPPED, S.DELIVERED}:
        raise InvalidTransition(
            _("An order that is %(status)s cannot be refunded.") % {"status": order.get_status_display()},
            from_status=order.status,
            to_status=S.REFUNDED,
        )
    if order.payment_id is None:
        raise InvalidTransition(_("This order has no payment to refund."))
    if amount.amount <= 0 or amount > order.total - order.refunded_total:
        raise InvalidTransition(_("Nothing is left to refund on this order."))


def order_refund(*, order_id: int, actor=None, reason: str = "") -> Order:
    """paid|shipped|delivered -> refunded: everything not yet refunded goes back the way it was paid.

    Asks payments for the refund (idempotent per reference, so a double click
    refunds once); the order records it in the refund's own transaction
    (order_payment_refunded). An order refunded before shipping puts its
    goods back in stock. Call outside a transaction: a card refund is an
    HTTP call to the provider.
    """
    with transaction.atomic():
        order = _lock(order_id)
        amount = order.total - order.refunded_total
        _refund_check(order, amount)
        reference = f"{order.number}-refund"
    payment_refund(
        payment_id=order.payment_id, amount=amount, reference=reference,
        reason=str(reason or _("Full refund")), actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    order.refresh_from_db()
    return order


def return_request_create(*, order_id: int, user, lines: dict[int, int], reason: str) -> ReturnRequest:
    """The shopper asks to return some units of some lines (order line id -> quantity)."""
    reason = (reason or "").strip()
    if not reason:
        raise ReturnInvalid(_("Tell us why you are returning these items."), field="reason")
    with transaction.atomic():
        order = _lock(order_id)
        if order.user_id != user.id:
            from shop.orders.exceptions import OrderNotFound

            raise OrderNotFound()
        if not order.is_returnable:
            raise InvalidTransition(_("Only paid, shipped or delivered orders can be returned."))
        order_lines = {line.id: line for line in order.lines.all()}
        pending: dict[int, int] = {}
        for rl in ReturnLine.objects.filter(
            return_request__order=order, return_request__status=ReturnRequest.Status.REQUESTED
        ):
            pending[rl.order_line_id] = pending.get(rl.order_line_id, 0) + rl.quantity
        chosen = {}
        for line_id, quantity in lines.items():
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
                raise ReturnInvalid(_("Enter a whole number of items."), field="lines")
            if quantity == 0:
                continue
            line = order_lines.get(line_id)
            if line is None:
                raise ReturnInvalid(_("This item is not in the order."), field="lines")
            if quantity > line.returnable_quantity - pending.get(line_id, 0):
                raise ReturnInvalid(
                    _("You can return at most %(n)d of “%(name)s”.")
                    % {"n": line.returnable_quantity - pending.get(line_id, 0), "name": line.name},
                    field="lines",
                )
            chosen[line_id] = quantity
        if not chosen:
            raise ReturnInvalid(_("Choose at least one item to return."), field="lines")
        request = ReturnRequest.objects.create(order=order, reason=reason[:500])
        ReturnLine.objects.bulk_create(
            [ReturnLine(return_request=request, order_line_id=k, quantity=q) for k, q in chosen.items()]
        )
        _event(order, from_status=order.status, to_status=order.status, actor=user,
               reason=_("Return requested: %(reason)s") % {"reason": reason[:200]})
    return request


def return_request_approve(*, return_id: int, actor=None, reason: str = "") -> ReturnRequest:
    """Staff approve a return: its lines are refunded (back the way they were paid) and restocked.

    The refund's reference is derived from the return, so approving twice
    refunds once; the return becomes approved in the refund's transaction.
    Call outside a transaction (a card refund is an HTTP call).
    """
    with transaction.atomic():
        request = ReturnRequest.objects.get(pk=return_id)
        order = _lock(request.order_id)
        request = ReturnRequest.objects.select_for_update().get(pk=return_id)
        if request.status != ReturnRequest.Status.REQUESTED:
            raise InvalidTransition(_("This return request was already decided."))
        lines = {line.id: line for line in order.lines.all()}
        amount = sum(
            (lines[rl.order_line_id].unit_price * rl.quantity for rl in request.lines.all()),
            Money(Decimal("0"), order.currency),
        )
        amount = min(amount, order.total - order.refunded_total)
        _refund_check(order, amount)
        reference = f"{order.number}-return-{request.pk}"
    approved = _("Return %(id)s approved") % {"id": request.pk}
    payment_refund(
        payment_id=order.payment_id, amount=amount, reference=reference,
        reason=f"{approved}: {reason}" if reason else approved,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
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
        request.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        request.save()
        order = _lock(request.order_id)
        _event(order, from_status=order.status, to_status=order.status, actor=actor,
               reason=_("Return %(id)s rejected: %(reason)s") % {"id": request.pk, "reason": reason})
    return request


# --- payments handlers (registered in OrdersConfig.ready) --------------------------------


def _order_for_payment(payment) -> Order | None:
    """The payment's order, locked (its row only), with its user loaded."""
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(number=payment.reference)
        .first()
    )


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
        _order_mark_paid_locked(order, reason=_("Payment %(id)s succeeded") % {"id": payment.pk})
        return
    if order.status == S.CANCELLED:
        _event(order, from_status=order.status, to_status=order.status,
               reason=_("Payment %(id)s succeeded after cancellation: refunding") % {"id": payment.pk})
        payment_id, number = payment.pk, order.number
        transaction.on_commit(lambda: _late_payment_refund_kick(payment_id, number))


def _late_payment_refund_kick(payment_id: int, number: str) -> None:
    from shop.orders.tasks import refund_late_payment

    refund_late_payment.delay(payment_id, number)


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
    code = getattr(payment, "last_error_code", "") or "payment_failed"
    order_cancel(order_id=order.id, reason=_("Payment failed: %(code)s") % {"code": code}, check_payment=False)
    outbox_email_queue(order=order, kind=OutboxEmail.Kind.PAYMENT_FAILED, context={"code": code})


def order_payment_refunded(payment, refund) -> None:
    """Payments' on_refunded, inside the refund's transaction: the order records the money given back.

    `<number>-refund` (full refund) restocks an unshipped order's goods;
    `<number>-return-<id>` approves that return and restocks its lines;
    any other refund (late payment, made in payments' admin) is recorded only.
    Reaching the order total moves the order to refunded.
    """
    order = _order_for_payment(payment)
    if order is None:
        return
    reference = getattr(refund, "reference", "") or ""
    actor = getattr(refund, "actor", None)
    amount = refund.amount
    lines = {line.id: line for line in order.lines.all()}
    restock: dict[int, int] = {}
    if reference == f"{order.number}-refund" and order.status == S.PAID:
        restock = {line_id: line.returnable_quantity for line_id, line in lines.items() if line.returnable_quantity}
    elif reference.startswith(f"{order.number}-return-"):
        request = (
            ReturnRequest.objects.select_for_update()
            .filter(pk=reference.rsplit("-", 1)[-1], order=order, status=ReturnRequest.Status.REQUESTED)
            .first()
        )
        if request is not None:
            restock = {rl.order_line_id: rl.quantity for rl in request.lines.all()}
            request.status = ReturnRequest.Status.APPROVED
            request.refund_amount = amount
            request.decided_at = timezone.now()
            request.decided_by = actor
            request.save()
    for line_id, quantity in restock.items():
        line = lines[line_id]
        quantity = min(quantity, line.returnable_quantity)
        if quantity <= 0:
            continue
        OrderLine.objects.filter(pk=line_id).update(refunded_quantity=line.refunded_quantity + quantity)
        if line.product_id:
            stock_restock(
                product_id=line.product_id, quantity=quantity, actor=actor, reason=f"refund {reference}",
                reference=order.number,
            )
    order.refunded_total = order.refunded_total + amount
    order.save(update_fields=["refunded_total_currency", "refunded_total", "updated_at"])
    reason = getattr(refund, "reason", "") or reference
    if order.refunded_total >= order.total and order.status in {S.PAID, S.SHIPPED, S.DELIVERED}:
        _transition(order, S.REFUNDED, actor=actor, reason=reason)
    else:
        _event(
            order, from_status=order.status, to_status=order.status, actor=actor,
            reason=_("Refund of %(amount)s: %(reason)s") % {"amount": amount, "reason": reason},
        )
    outbox_email_queue(
        order=order, kind=OutboxEmail.Kind.ORDER_REFUNDED, key_suffix=f":{reference}",
        context={"amount": str(amount.amount), "currency": amount.currency.code},
    )


# --- jobs -----------------------------------------------------------------------------


def _payment_unsettled(order: Order) -> bool:
    return order_payment_being_confirmed(order)


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
            if order is None or _payment_unsettled(order):
                continue
            order_cancel(order_id=order.id, reason=_("Reservation expired before payment"))
            outbox_email_queue(order=order, kind=OutboxEmail.Kind.PAYMENT_FAILED, context={"code": "expired"})
            cancelled += 1
    return cancelled


def outbox_max_attempts() -> int:
    """Attempts after which an unsent e-mail is given up (left for staff: admin filter "given up")."""
    return settings.OUTBOX_MAX_ATTEMPTS


def outbox_message_id(key: str) -> str:
    """The Message-ID of an outbox e-mail, derived from its key: a resend (the send went out but
    marking it sent was not committed) carries the same id, so mail systems can drop the copy."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}.outbox@{domain}>"


def outbox_email_send(*, outbox_id: int) -> bool:
    """Send one queued e-mail, at most once: the row is claimed (skip_locked) and marked sent
    in the same transaction. Returns whether it was sent now."""
    with transaction.atomic():
        row = (
            OutboxEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbox_id, sent_at__isnull=True)
            .first()
        )
        if row is None:
            return False
        row.attempts += 1
        try:
            _email_deliver(row)
        except Exception as exc:  # the provider failed: keep the row for the next drain
            row.last_error = f"{exc.__class__.__name__}: {exc}"[:255]
            row.save(update_fields=["attempts", "last_error"])
            if row.attempts >= outbox_max_attempts():
                logger.error("e-mail %s given up after %d attempts: %s", row.key, row.attempts, row.last_error)
            else:
                logger.warning("e-mail %s not sent: %s", row.key, row.last_error)
            return False
        row.sent_at = timezone.now()
        row.last_error = ""
        row.save(update_fields=["attempts", "sent_at", "last_error"])
        return True


def outbox_email_retry(*, outbox_id: int) -> bool:
    """Staff give a given-up (or failing) e-mail a fresh set of attempts and send it now."""
    with transaction.atomic():
        OutboxEmail.objects.filter(pk=outbox_id, sent_at__isnull=True).update(attempts=0, last_error="")
    return outbox_email_send(outbox_id=outbox_id)


def outbox_drain(*, limit: int = 100) -> int:
    """Send the unsent e-mails (oldest first) that have attempts left; returns how many were sent."""
    ids = list(
        OutboxEmail.objects.filter(sent_at__isnull=True, attempts__lt=outbox_max_attempts())
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for outbox_id in ids if outbox_email_send(outbox_id=outbox_id))


def _email_deliver(row: OutboxEmail) -> None:
    order = Order.objects.prefetch_related("lines").get(pk=row.order_id)
    context = {"order": order, "lines": list(order.lines.all()), "site_url": settings.SITE_URL, **row.context}
    with translation.override(row.language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"orders/email/{row.kind}_subject.txt", context).strip()
        text = render_to_string(f"orders/email/{row.kind}.txt", context)
        html = render_to_string(f"orders/email/{row.kind}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=text, to=[row.recipient],
        headers={"X-Order": order.number, "Message-ID": outbox_message_id(row.key)},
    )
    message.attach_alternative(html, "text/html")
    message.send()
