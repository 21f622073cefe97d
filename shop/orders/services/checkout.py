"""Placing an order: the checkout of a cart, priced, shipped by a chosen method, paid by wallet or by card.

The order is priced by the pipeline (shop.cart.pricing -> shop.pricing) inside
its transaction, with the chosen shipping method quoted again there; it keeps
every component, and its payment is exactly its total, which must be the total
the shopper confirmed (else PriceChanged, 409, and nothing is made).

The cart's gift cards pay first (shop.orders.services.gift_cards, guarded
ledger postings: a card spent meanwhile by another order is a 402
gift_card_insufficient and nothing is made); the rest is the payment, by
wallet or card, and when the cards pay it all there is no payment at all.

Lock order: the cart's lines, then the voucher row (a voucher's use), then the
gift card rows, then the wallet (wallet payments), then the stock rows
((variant, warehouse) order), then, for an order paid in the same transaction,
the invoice sequence last (as every paying path takes it), so the rows buyers
of a hot product, and every paid order, queue on stay locked only for a
transaction's final statements and commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.exceptions import AddressNotFound
from accounts.selectors import address_get_for_user
from accounts.services import address_remember
from catalog.exceptions import OutOfStock
from catalog.services.stock import stock_reserve, stock_sell
from payments.breaker import breaker_refuse_if_open
from payments.exceptions import CardDeclined, InsufficientFunds, PaymentErrorCode, WalletNotFound
from payments.models import Payment
from payments.selectors import card_token_check
from payments.services.charges import payment_charge_card, payment_create, payment_pay_with_wallet
from shop.cart.gift_cards import cart_gift_cards, cart_gift_cards_clear, cart_gift_cards_put_back
from shop.cart.pricing import CartItem, CartPrice, cart_price, rate_text
from shop.cart.selectors import cart_checkout_read
from shop.cart.services import (
    cart_lines_put_back,
    cart_lines_take,
    cart_voucher_put_back,
    cart_voucher_remove,
)
from shop.core.exceptions import ShopError
from shop.core.money import money_to_dict
from shop.orders.exceptions import CheckoutInvalid, PriceChanged
from shop.orders.models import Order, OrderLine, OrderLineAllocation, OutboxEmail, order_number_new
from shop.orders.services.checkout_lines import (
    CheckoutLine,
    checkout_lines,
    out_of_stock_explained,
    stock_lines,
)
from shop.orders.services.gift_cards import order_gift_cards_redeem
from shop.orders.services.guest_checkout import (
    GuestBuyer,
    address_snapshot_checked,
    guest_address_snapshot,
    guest_cart_put_back,
    guest_cart_read,
    guest_cart_take,
    guest_checkout_check,
)
from shop.orders.services.outbox import outbox_email_queue, outbox_sends_batched
from shop.orders.services.payment_handlers import payment_failure_code
from shop.orders.services.transitions import (
    S,
    order_event_record,
    order_lock,
    order_mark_paid_locked,
    order_paid_documents,
    order_paid_record,
)
from shop.pricing.services.vouchers import voucher_redeem
from shop.shipping.selectors import shipping_quote_snapshot


class PlaceOutcome(models.TextChoices):
    PAID = "paid"
    PENDING = "pending"  # payment outcome not known yet (202)
    DECLINED = "declined"  # card declined: order cancelled, stock released (402)


@dataclass
class PlaceResult:
    order: Order
    outcome: PlaceOutcome
    error: ShopError | None = None
    # Made and paid by this very request (a wallet order): it carries what its transaction wrote
    # (shop.orders.selectors.order_placed_details answers from that without reading it again).
    made_now: bool = False


def order_place(
    *,
    user,
    payment_method: str,
    shipping_address,
    currency: str,
    card_token: str = "",
    checkout_token: str = "",
    expected_total: Money | None = None,
    shipping_method: int | None = None,
    guest: GuestBuyer | None = None,
) -> PlaceResult:
    """Check out the user's cart (a `guest`'s session cart, with `user` None): order with line snapshots,
    stock reserved, payment made.

    Wallet: order, reservation, debit and "paid" commit together in one
    transaction (insufficient funds rolls all of it back). Card: the order
    and reservation commit first, then the provider is called outside any
    transaction; a decline cancels the order and releases the stock, an
    unknown outcome leaves it pending_payment with the reservation kept.
    A repeated `checkout_token` returns the order it made the first time.
    While the provider's breaker is open a card checkout is refused
    (ProviderUnavailable, 503) before anything is made or reserved.
    `shipping_method` must serve the address's country and the cart's weight:
    ShippingUnavailable (no method does), ShippingMethodRequired (none chosen),
    ShippingMethodUnavailable (the chosen one does not, re-quoted in the
    order's transaction). The cart's voucher is redeemed in that transaction.
    `expected_total` (what the shopper was shown) must equal the priced total
    in `currency`, else PriceChanged (409, with the new totals) and nothing is made.
    A guest pays by card (WalletRequiresAccount) to an address typed in; an address a signed-in
    shopper types in joins their address book once the order is made.
    """
    card_token = _checkout_validate(payment_method=payment_method, card_token=card_token, currency=currency)
    if guest is not None:
        user, guest = None, guest_checkout_check(guest, payment_method=payment_method)
    existing = _order_for_token(user, checkout_token)
    if existing is not None:
        return _replay(existing)
    if payment_method == Order.PaymentMethod.CARD:
        breaker_refuse_if_open()  # before anything is reserved: 503 provider_unavailable
    has_gift_cards = False  # a guest's cart takes none
    if guest is not None:
        address = guest_address_snapshot(shipping_address)
        raw, voucher_code = guest_cart_read(guest)
        lines = checkout_lines(user=user, currency=currency, raw=raw)
    else:
        # One query: the lines, the cart's voucher and whether gift cards are on it.
        raw, voucher_code, has_gift_cards = cart_checkout_read(user=user)
        # A visibly sold-out line is refused here, before the products and the address are read.
        lines = checkout_lines(user=user, currency=currency, raw=raw)
        address = _address_snapshot(user=user, shipping_address=shipping_address)
    pricing = _Pricing(currency=currency, address=address, voucher_code=voucher_code,
                       shipping_method=shipping_method, expected_total=expected_total, has_gift_cards=has_gift_cards)
    if shipping_method is None:
        pricing.price(lines)  # refuses before anything is made: no method serves, or none chosen
    by_wallet = payment_method == Order.PaymentMethod.WALLET
    try:
        placed = _order_place_atomic(
            user=user, currency=currency, method=payment_method, address=address, lines=lines,
            checkout_token=checkout_token, card_token=card_token, by_wallet=by_wallet, pricing=pricing,
            guest=guest,
        )
    except OutOfStock as exc:
        raise out_of_stock_explained(exc, [(line.variant_id, line.quantity, line.available) for line in lines]) from None
    if isinstance(placed, PlaceResult):
        return placed
    order, payment = placed
    _after_placed(order, user=user, guest=guest, shipping_address=shipping_address, lines=lines)
    if by_wallet:  # paid in its transaction, by this very order object: current as it is
        return PlaceResult(order=order, outcome=PlaceOutcome.PAID, made_now=True)
    if payment is None:
        order.refresh_from_db()
        return PlaceResult(order=order, outcome=PlaceOutcome.PAID)
    return _card_pay(order, payment, lines, user=user, guest=guest)


def _after_placed(order: Order, *, user, guest: GuestBuyer | None, shipping_address, lines: list[CheckoutLine]) -> None:
    """Once the order is committed: a guest's session cart gives up what it bought; a signed-in
    shopper's typed-in address is kept in the address book (not twice)."""
    if guest is not None:
        guest_cart_take(guest, product_ids=[line.product.id for line in lines], voucher_code=order.voucher_code)
    elif isinstance(shipping_address, dict):
        address_remember(user=user, **order.shipping_address)


@dataclass
class _Pricing:
    """What prices the order: the destination, the cart's voucher, the chosen method, the confirmed total."""

    currency: str
    address: dict
    voucher_code: str
    shipping_method: int | None
    expected_total: Money | None
    has_gift_cards: bool = True  # False: the cart had none when its lines were read (they are not looked for)
    gift_cards: list = dc_field(default_factory=list)  # payments.GiftCard rows from the cart, read in the transaction

    def price(self, lines: list[CheckoutLine]) -> CartPrice:
        """The order priced now (strict: a bad voucher or method raises); PriceChanged if not what was confirmed."""
        price = self._cart_price(lines, strict=True)
        if self.expected_total is not None and self.expected_total != price.priced.total:
            raise PriceChanged(
                _("Your order total is now %(total)s, not %(expected)s. Please review your order again.")
                % {"total": price.priced.total, "expected": self.expected_total},
                field="total", totals=price_totals(price.priced),
            )
        return price

    def price_unshipped(self, lines: list[CheckoutLine]) -> CartPrice:
        """The lines priced for the destination without a shipping method (only for building test orders)."""
        return self._cart_price(lines, strict=False)

    def _cart_price(self, lines: list[CheckoutLine], *, strict: bool) -> CartPrice:
        return cart_price(
            currency=self.currency,
            items=[CartItem(key=str(line.variant_id), product=line.product, unit_price=line.unit_price,
                            quantity=line.quantity, weight_grams=line.weight_grams) for line in lines],
            country=self.address.get("country", ""), region=self.address.get("region", ""),
            voucher_code=self.voucher_code, shipping_method=self.shipping_method,
            prices_include_tax=settings.PRICES_INCLUDE_TAX, strict=strict, gift_cards=self.gift_cards,
        )


def price_totals(priced) -> dict:
    """A priced order's totals as JSON (the body of a 409 price_changed)."""
    return {
        "subtotal": money_to_dict(priced.subtotal),
        "discount_total": money_to_dict(priced.discount_total),
        "shipping": money_to_dict(priced.shipping_gross),
        "tax_total": money_to_dict(priced.tax_total),
        "gift_card_total": money_to_dict(priced.gift_card_total),
        "total": money_to_dict(priced.total),
    }


def _order_place_atomic(
    *, user, currency, method, address, lines, checkout_token, card_token, by_wallet, pricing: _Pricing,
    guest: GuestBuyer | None = None,
) -> tuple[Order, Payment] | PlaceResult:
    """The order and its payment: priced, its cart lines taken, its voucher redeemed, its payment opened and
    (wallet) paid or (card) its stock reserved."""
    try:
        with transaction.atomic(), outbox_sends_batched():  # its e-mails (placed, paid) go by one task
            if pricing.has_gift_cards:
                pricing.gift_cards = cart_gift_cards(user=user, currency=currency)  # their balances now
            price = pricing.price(lines)  # the chosen method quoted again, in this transaction
            order = _order_create(
                user=user, currency=currency, method=method, address=address, lines=lines,
                checkout_token=checkout_token, reserve=False, price=price, email=guest.email if guest else "",
            )
            if guest is None:  # a guest's session cart gives its lines up after commit (_after_placed)
                _cart_take(user, lines)
            if price.voucher_code:
                voucher_redeem(code=price.voucher_code, reference=order.number, user=user, email=order.email)
                if guest is None:
                    cart_voucher_remove(user=user)  # the order took it, like the lines
            if _gift_cards_pay(order, price, user=user):
                _order_reserve(order, lines, actor=user)
                order_mark_paid_locked(order_lock(order.pk), actor=user, reason=_("Paid by gift card"))
                return order, None
            payment = _payment_open(order, user=user, card_token=card_token)
            if by_wallet:
                _wallet_pay(order, payment, lines, user=user)
            else:
                _order_reserve(order, lines, actor=user)  # last: see the module docstring
    except IntegrityError:
        # Two requests with the same checkout token raced: the other one made the order.
        existing = _order_for_token(user, checkout_token)
        if existing is not None:
            return _replay(existing)
        raise
    return order, payment


def _gift_cards_pay(order: Order, price: CartPrice, *, user) -> bool:
    """The cart's gift cards pay their shares (guarded: GiftCardInsufficient, 402, if one was spent meanwhile)
    and leave the cart with the order; True when they paid it all (no other payment)."""
    uses = price.gift_card_uses()
    if not uses:
        return False
    order_gift_cards_redeem(order, uses)
    cart_gift_cards_clear(user=user)
    return order.total.amount == 0


def _checkout_validate(*, payment_method: str, card_token: str, currency: str) -> str:
    """Refuse a bad payment method, card token or currency before anything is read; the card token checked."""
    if payment_method not in Order.PaymentMethod.values:
        raise CheckoutInvalid(_("Choose how to pay: wallet or card."), field="payment_method")
    if payment_method == Order.PaymentMethod.CARD:
        # Only a provider token (tok_...): a card number is refused before anything is made.
        card_token = card_token_check(card_token)
    if currency not in settings.CURRENCIES:
        raise CheckoutInvalid(_("Unsupported currency."), field="currency")
    return card_token


def _order_for_token(user, checkout_token: str) -> Order | None:
    """The order an earlier checkout with this token made, if any."""
    if not checkout_token:
        return None
    return Order.objects.filter(user=user, checkout_token=checkout_token).first()


def _cart_take(user, lines: list[CheckoutLine]) -> None:
    """The cart's lines go with the order: a second checkout of the same cart waits
    here and is refused (CartChanged) before it touches a wallet or a payment."""
    cart_lines_take(user=user, lines=[(line.variant_id, line.quantity) for line in lines])


def _payment_open(order: Order, *, user, card_token: str) -> Payment:
    """The order's payment, created and linked to it (in the caller's transaction)."""
    if order.payment_method == Order.PaymentMethod.WALLET:
        method, extra = Payment.Method.WALLET, {}
    else:
        method, extra = Payment.Method.CARD, {"card_token": card_token}
    payment = payment_create(
        user=user, purpose=Payment.Purpose.ORDER, reference=order.number, amount=order.total, method=method, **extra
    )
    Order.objects.filter(pk=order.pk).update(payment_id=payment.id)
    order.payment_id = payment.id  # the object in hand stays current (a wallet order is answered from it)
    return payment


def _wallet_pay(order: Order, payment: Payment, lines: list[CheckoutLine], *, user) -> None:
    """Debit the wallet, mark the order paid, sell the stock, then issue the invoice: in that order.

    The order and its payment are this transaction's own, so the order is marked paid here with what
    the checkout holds (its lines, its row) instead of by the payments handler, which would read
    them back. The stock rows are taken after the wallet and the order's own writes, and the invoice
    sequence (every paid order's) after the stock rows, as every other paying path takes them: the
    rows buyers queue on stay locked only for the transaction's last statements.
    """
    try:
        # Made in this transaction: not read again; its order is marked paid below, not by the handler.
        payment_pay_with_wallet(payment_id=payment.id, created=payment, notify=False)
    except WalletNotFound:
        raise InsufficientFunds(
            _("You have no %(currency)s wallet to pay from. Open one and add money, or pay by card.")
            % {"currency": order.currency},
            reason="no_wallet",
        )
    order.created_events.append(order_paid_record(order, reason=_("Payment received")))
    # Paid in this transaction: reserved and sold in one guarded step.
    allocations = stock_sell(lines=stock_lines(lines), reference=order.number, country=_country(order), actor=user)
    _allocations_record(order, allocations)
    order_paid_documents(order)


def _card_pay(order: Order, payment: Payment, lines: list[CheckoutLine], *, user, guest: GuestBuyer | None = None) -> PlaceResult:
    """Charge the card outside any transaction (the provider call may take seconds) and record the outcome.

    A declined card puts the cart back as it was: the shopper is invited to pay another way.
    """
    payment = payment_charge_card(payment_id=payment.id)
    order.refresh_from_db()
    result = _result_for(order, payment=payment)
    if result.outcome == PlaceOutcome.DECLINED and guest is not None:
        guest_cart_put_back(guest, lines=[(line.product.id, line.variant_id, line.quantity, line.price_seen)
                                          for line in lines], voucher_code=order.voucher_code)
    elif result.outcome == PlaceOutcome.DECLINED:
        if order.voucher_code:
            cart_voucher_put_back(user=user, code=order.voucher_code)  # its use was released with the order
        # Their money went back to them with the order's cancellation; they are on the cart for the next try.
        cards = list(order.gift_card_uses.values_list("gift_card_id", flat=True))
        cart_gift_cards_put_back(user=user, gift_card_ids=cards)
        cart_lines_put_back(
            user=user,
            lines=[
                (line.product.id, line.variant_id, line.quantity, line.price_seen)
                for line in lines
                if line.price_seen is not None
            ],
        )
    return result


def _replay(order: Order) -> PlaceResult:
    """The answer for a checkout token already used: its order, as it is now.

    The cart is left alone: the order took its lines when it was made, so
    whatever is in the cart now was put there after it (buying the same
    product again is the shopper's call, not the retry's).
    """
    return _result_for(order)


def _result_for(order: Order, payment: Payment | None = None) -> PlaceResult:
    if order.status == S.PENDING_PAYMENT:
        return PlaceResult(order=order, outcome=PlaceOutcome.PENDING)
    if order.status == S.CANCELLED:
        if payment is None and order.payment_id:
            payment = Payment.objects.filter(pk=order.payment_id).first()
        code = payment_failure_code(payment, PaymentErrorCode.CARD_DECLINED)
        error = CardDeclined(
            _("Your payment was declined (%(code)s). Nothing was charged; please try another payment method.")
            % {"code": code},
            reason=code,
            order=order.number,
        )
        return PlaceResult(order=order, outcome=PlaceOutcome.DECLINED, error=error)
    return PlaceResult(order=order, outcome=PlaceOutcome.PAID)


def _address_snapshot(*, user, shipping_address) -> dict:
    """The shipping address as stored on the order: a saved address's id, or the fields of a new one."""
    if isinstance(shipping_address, bool):
        raise CheckoutInvalid(_("Choose a shipping address."), field="shipping_address")
    if isinstance(shipping_address, int):
        try:
            return address_get_for_user(user, shipping_address).as_snapshot()
        except AddressNotFound:
            raise CheckoutInvalid(_("Unknown shipping address."), field="shipping_address")
    if isinstance(shipping_address, dict):
        return _address_new_snapshot(user=user, fields=shipping_address)
    raise CheckoutInvalid(_("Choose a shipping address."), field="shipping_address")


def _address_new_snapshot(*, user, fields: dict) -> dict:
    """An address typed in, checked as the address book checks it (kept in the book once the order is made)."""
    return address_snapshot_checked(fields)


def _order_create(
    *, user, currency, method, address: dict, lines: list[CheckoutLine], checkout_token: str, reserve: bool = True,
    price: CartPrice | None = None, email: str = "",
) -> Order:
    """The pending order with its priced line snapshots; with `reserve`, its stock reserved too.

    Without `price` the lines are priced for the address with no voucher and no shipping.
    """
    if price is None:
        price = _Pricing(currency=currency, address=address, voucher_code="", shipping_method=None,
                         expected_total=None).price_unshipped(lines)
    priced = price.priced
    order = _order_row_create(
        user=user, currency=currency, method=method, address=address, price=price, checkout_token=checkout_token,
        email=email or user.email,
    )
    order.created_lines = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product=line.product,
                variant_id=line.variant_id,
                options=line.options,
                sku=line.sku or line.product.sku,
                name=line.product.name,
                unit_price=priced_line.unit_price,
                quantity=line.quantity,
                discount=priced_line.discount,
                net=priced_line.net,
                tax_rate=priced_line.tax_rate,
                tax=priced_line.tax,
                gross=priced_line.gross,
            )
            for line, priced_line in zip(lines, priced.lines, strict=True)
        ]
    )
    order.created_events = [
        order_event_record(order, from_status="", to_status=S.PENDING_PAYMENT, actor=user, reason=_("Order placed"))
    ]
    outbox_email_queue(order=order, kind=OutboxEmail.Kind.ORDER_PLACED, first_time=True)
    if reserve:
        _order_reserve(order, lines, actor=user)
    return order


def _price_fields(price: CartPrice) -> dict:
    """The order's stored price components (docs/pricing.md): what it costs forever after."""
    priced = price.priced
    return {
        "total": priced.total,
        "subtotal": priced.subtotal,
        "discount_total": priced.discount_total,
        "voucher_discount": priced.voucher_discount,
        # As entered (gross or net by the shop setting), before a free-shipping voucher (counted in the discounts).
        "shipping_price": priced.shipping if priced.shipping is not None else Money(0, priced.currency),
        "shipping_tax": priced.shipping_tax,
        "tax_total": priced.tax_total,
        "gift_card_total": priced.gift_card_total,
        "voucher_code": price.voucher_code,
        "prices_include_tax": priced.prices_include_tax,
        "tax_summary": [
            {"rate": rate_text(row.rate), "net": str(row.net.amount), "tax": str(row.tax.amount),
             "gross": str(row.gross.amount)}
            for row in priced.tax_summary
        ],
        "shipping": shipping_quote_snapshot(price.quote) if price.quote is not None else {},
    }


def _order_row_create(
    *, user, currency, method, address: dict, price: CartPrice, checkout_token: str, email: str
) -> Order:
    """The order row under a fresh random number (drawn again, up to 5 times, if taken)."""
    for attempt in range(5):
        try:
            with transaction.atomic():
                return Order.objects.create(
                    number=order_number_new(),
                    user=user,
                    currency=currency,
                    refunded_total=Money(Decimal("0"), currency),
                    payment_method=method,
                    shipping_address=address,
                    email=email,
                    reservation_expires_at=timezone.now() + timedelta(minutes=settings.RESERVATION_MINUTES),
                    checkout_token=checkout_token,
                    **_price_fields(price),
                )
        except IntegrityError:
            # A random number already taken (rare, but a busy day makes it likely
            # once): draw again. A taken checkout token is the caller's business.
            if attempt == 4 or (
                checkout_token and Order.objects.filter(user=user, checkout_token=checkout_token).exists()
            ):
                raise
    raise AssertionError("unreachable: the last attempt re-raises")


def _order_reserve(order: Order, lines: list[CheckoutLine], *, actor) -> None:
    allocations = stock_reserve(
        lines=stock_lines(lines), reference=order.number, expires_at=order.reservation_expires_at,
        country=_country(order), actor=actor,
    )
    _allocations_record(order, allocations)


def _allocations_record(order: Order, allocations) -> None:
    """The order keeps where each line's units come from (one line per variant in an order); each created
    line keeps its own (`created_allocations`) for the answer."""
    by_variant = {line.variant_id: line for line in order.created_lines}
    made = OrderLineAllocation.objects.bulk_create(
        [OrderLineAllocation(line=by_variant[a.variant_id], warehouse_id=a.warehouse_id, quantity=a.quantity)
         for a in allocations]
    )
    for line in order.created_lines:
        line.created_allocations = [a for a in made if a.line_id == line.pk]


def _country(order: Order) -> str:
    """Where the order ships: the warehouses that ship there serve it."""
    return (order.shipping_address or {}).get("country", "")
