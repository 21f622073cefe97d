"""Gift cards on a signed-in shopper's cart: applied by their code, priced by the pipeline, spent at checkout.

The cart keeps which cards were applied (CartGiftCard: the card's id, never
its code: whoever typed the code proved they hold it). Applying a code is
rate-limited on failures, per account and per client address
(`FailureLimit("gift_card")`, DEFAULT_THROTTLE_RATES["gift_card"]): a guesser
gets 429 before any further code is looked up, and every unusable code
(unknown, switched off, expired, other currency, nothing left on it) is the
same 400 `gift_card_invalid`. Codes are looked up by their SHA-256 and
compared in constant time (payments.selectors.gift_card_get_by_code) and are
never logged.

A card on the cart is priced with its balance at that moment; checkout
spends it with a guarded ledger posting (shop.orders.services.gift_cards).
"""

from __future__ import annotations

import math

from django.db import transaction
from rest_framework.throttling import BaseThrottle

from payments.exceptions import GiftCardInvalid
from payments.models import GiftCard
from payments.selectors import gift_card_get_by_code
from shop.cart.exceptions import GiftCardAttemptsThrottled
from shop.cart.models import Cart, CartGiftCard
from shop.core.throttling import FailureLimit
from shop.pricing.pipeline import GiftCardBalance

GIFT_CARD_ATTEMPTS = FailureLimit("gift_card")


def gift_card_attempt_keys(request) -> list[str]:
    """Whom a failed code counts against: the client address, and the account when signed in."""
    keys = [f"ip:{BaseThrottle().get_ident(request)}"]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        keys.append(f"user:{user.pk}")
    return keys


def cart_gift_card_apply(*, user, code: str, currency: str, attempt_keys: list[str]) -> GiftCard:
    """Put the gift card with `code` on the user's cart (priced in `currency`); returns the card.

    GiftCardAttemptsThrottled (429) when the keys had too many wrong codes, before
    any lookup; GiftCardInvalid (400, field code) for an unusable code or a card
    with nothing left, counted as a failure. A card already on the cart stays once.
    """
    wait = GIFT_CARD_ATTEMPTS.wait(attempt_keys)
    if wait:
        raise GiftCardAttemptsThrottled(retry_after=math.ceil(wait))
    try:
        card = gift_card_get_by_code(code=code, currency=currency)
        if card.balance <= 0:
            raise GiftCardInvalid(field="code")
    except GiftCardInvalid:
        GIFT_CARD_ATTEMPTS.record(attempt_keys)
        raise
    with transaction.atomic():
        cart, _created = Cart.objects.get_or_create(user=user)
        CartGiftCard.objects.get_or_create(cart=cart, gift_card=card)
    return card


def cart_gift_card_remove(*, user, last4: str) -> int:
    """Take the card(s) ending in `last4` off the user's cart; returns how many (none is fine)."""
    deleted, _per_model = CartGiftCard.objects.filter(
        cart__user=user, gift_card__last4=(last4 or "").upper()[:4]
    ).delete()
    return deleted


def cart_gift_cards_clear(*, user) -> None:
    """Take every gift card off the user's cart (the order took them, like the lines)."""
    CartGiftCard.objects.filter(cart__user=user).delete()


def cart_gift_cards_put_back(*, user, gift_card_ids: list[int]) -> None:
    """Put back the cards an order took from the cart (its card payment was declined: the shopper tries again)."""
    if not gift_card_ids:
        return
    cart, _created = Cart.objects.get_or_create(user=user)
    for gift_card_id in gift_card_ids:
        CartGiftCard.objects.get_or_create(cart=cart, gift_card_id=gift_card_id)


def cart_gift_cards(*, user, currency: str) -> list[GiftCard]:
    """The usable cards on the user's cart in `currency` with something left, in the order applied (one query)."""
    if user is None or not user.is_authenticated:  # a guest's cart takes no gift cards
        return []
    rows = (
        CartGiftCard.objects.filter(cart__user=user, gift_card__currency=currency, gift_card__balance__gt=0)
        .select_related("gift_card")
        .order_by("created_at", "id")
    )
    return [row.gift_card for row in rows if row.gift_card.is_usable()]


def gift_card_balances(cards: list[GiftCard]) -> list[GiftCardBalance]:
    """The pipeline's input for `cards`: keyed by the card's id, with its balance now."""
    return [GiftCardBalance(key=str(card.pk), balance=card.balance_money) for card in cards]
