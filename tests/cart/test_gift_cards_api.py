"""Gift cards on the cart: applied by code (API and page), every error code, rate limiting of wrong codes."""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from djmoney.money import Money
from rest_framework.test import APIClient

from payments.models import GiftCard
from payments.services.gift_cards import gift_card_issue, gift_card_redeem
from shop.cart.models import CartGiftCard
from tests.orders.factories import cart_fill, shopper_new

pytestmark = pytest.mark.django_db
USD = lambda amount: {"amount": amount, "currency": "USD"}  # noqa: E731


def issue(amount="15.00", currency="USD", **kwargs):
    return gift_card_issue(
        amount=Money(Decimal(amount), currency),
        source=GiftCard.Source.STAFF,
        issue_reference=f"test:{uuid.uuid4()}",
        **kwargs,
    )


@pytest.fixture
def wrong_codes_three_per_hour(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "gift_card": "3/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def test_a_gift_card_is_applied_shown_with_its_last_four_and_removed(api, shopper, product):
    cart_fill(shopper, (product, 2))  # 20.00
    issued = issue("15.00")
    typed = issued.code.lower().replace("-", " ")  # as people type it
    applied = api.post("/api/v1/cart/gift-cards/", {"code": typed}, format="json")
    assert applied.status_code == 200, applied.content
    body = applied.json()
    assert body["gift_cards"] == [{"last4": issued.card.last4, "amount": USD("15.00")}]
    assert body["total"] == USD("5.00")
    assert api.get("/api/v1/cart/").json()["gift_cards"] == body["gift_cards"]
    removed = api.delete(f"/api/v1/cart/gift-cards/{issued.card.last4}/")
    assert removed.status_code == 200 and removed.json()["gift_cards"] == []
    assert removed.json()["total"] == USD("20.00")


def test_two_gift_cards_pay_in_the_order_applied_and_never_below_zero(api, shopper, product):
    cart_fill(shopper, (product, 2))
    first, second = issue("5.00"), issue("30.00")
    api.post("/api/v1/cart/gift-cards/", {"code": first.code}, format="json")
    body = api.post("/api/v1/cart/gift-cards/", {"code": second.code}, format="json").json()
    assert body["gift_cards"] == [
        {"last4": first.card.last4, "amount": USD("5.00")},
        {"last4": second.card.last4, "amount": USD("15.00")},
    ]
    assert body["total"] == USD("0.00")
    again = api.post("/api/v1/cart/gift-cards/", {"code": second.code}, format="json")
    assert again.status_code == 200 and len(again.json()["gift_cards"]) == 2  # applied once


def _invalid_codes():
    """Each kind of unusable code: unknown, expired, switched off, another currency, nothing left."""
    expired = issue(expires_at=timezone.now() - timedelta(days=1))
    switched_off = issue()
    GiftCard.objects.filter(pk=switched_off.card.pk).update(is_active=False)
    euro = issue(currency="EUR")
    empty = issue("10.00")
    gift_card_redeem(gift_card_id=empty.card.pk, amount=Money("10.00", "USD"), reference="elsewhere")
    return {
        "unknown": "AAAA-BBBB-CCCC-DDDD-EEEE",
        "expired": expired.code,
        "switched off": switched_off.code,
        "other currency": euro.code,
        "zero balance": empty.code,
    }


def test_every_unusable_code_is_the_same_400_gift_card_invalid_and_changes_nothing(
    settings, shopper, product
):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "gift_card": "100/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = APIClient()
    client.force_authenticate(shopper)
    cart_fill(shopper, (product, 1))
    answers = set()
    for kind, code in _invalid_codes().items():
        response = client.post("/api/v1/cart/gift-cards/", {"code": code}, format="json")
        assert response.status_code == 400, (kind, response.content)
        body = response.json()
        assert (body["code"], body["field"]) == ("gift_card_invalid", "code"), kind
        answers.add(body["detail"])
    assert len(answers) == 1  # one answer: a guesser learns nothing
    assert not CartGiftCard.objects.exists()
    empty = client.post("/api/v1/cart/gift-cards/", {"code": ""}, format="json")
    assert empty.status_code == 400 and empty.json()["code"] == "invalid"


def test_wrong_codes_are_rate_limited_per_account_and_address_with_429(
    wrong_codes_three_per_hour, api, shopper, product
):
    cart_fill(shopper, (product, 1))
    good = issue("5.00")
    assert (
        api.post("/api/v1/cart/gift-cards/", {"code": good.code}, format="json").status_code == 200
    )  # not counted
    for attempt in range(3):
        wrong = api.post("/api/v1/cart/gift-cards/", {"code": f"WRONG-CODE-{attempt}"}, format="json")
        assert wrong.status_code == 400, attempt
    another = issue("5.00")
    throttled = api.post("/api/v1/cart/gift-cards/", {"code": another.code}, format="json")
    assert throttled.status_code == 429, throttled.content
    assert throttled.json()["code"] == "throttled" and int(throttled["Retry-After"]) > 0
    assert CartGiftCard.objects.count() == 1  # the right code after the limit was not even looked up
    # Another account from the same address is stopped too; one from elsewhere is not.
    neighbour = APIClient()
    neighbour.force_authenticate(shopper_new())
    assert (
        neighbour.post("/api/v1/cart/gift-cards/", {"code": another.code}, format="json").status_code == 429
    )
    elsewhere = APIClient(REMOTE_ADDR="203.0.113.9")
    elsewhere.force_authenticate(shopper_new())
    assert (
        elsewhere.post("/api/v1/cart/gift-cards/", {"code": another.code}, format="json").status_code == 200
    )
    # The same account from another address is still stopped (counted per account as well).
    moved = APIClient(REMOTE_ADDR="198.51.100.7")
    moved.force_authenticate(shopper)
    assert moved.post("/api/v1/cart/gift-cards/", {"code": another.code}, format="json").status_code == 429


def test_codes_are_never_logged(api, shopper, product, caplog):
    cart_fill(shopper, (product, 1))
    good = issue("5.00")
    with caplog.at_level(logging.DEBUG):
        api.post("/api/v1/cart/gift-cards/", {"code": good.code}, format="json")
        api.post("/api/v1/cart/gift-cards/", {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ"}, format="json")
    text = caplog.text
    assert good.code not in text and good.code.replace("-", "") not in text and "ZZZZ-ZZZZ" not in text


def test_the_cart_api_reads_its_gift_cards_in_constant_queries(
    api, shopper, product, django_assert_max_num_queries
):
    cart_fill(shopper, (product, 3))
    api.post("/api/v1/cart/gift-cards/", {"code": issue("1.00").code}, format="json")
    for _card in range(3):
        api.post("/api/v1/cart/gift-cards/", {"code": issue("1.00").code}, format="json")
    with django_assert_max_num_queries(8):  # as many as with one card: the cards come in one query
        body = api.get("/api/v1/cart/").json()
    assert len(body["gift_cards"]) == 4 and body["total"] == USD("26.00")


def test_the_cart_page_applies_a_code_and_shows_a_bad_one_as_a_form_error(shopper, product):
    browser = Client()
    browser.force_login(shopper)
    cart_fill(shopper, (product, 2))
    bad = browser.post("/cart/gift-cards/", {"code": "NOPE-NOPE-NOPE-NOPE-NOPE"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert 'id="gift-card-code_error"' in html and "This gift card code is not valid." in html
    issued = issue("15.00")
    applied = browser.post("/cart/gift-cards/", {"code": issued.code})
    assert applied.status_code == 302
    page = browser.get("/cart/").content.decode()
    assert f"Gift card ···{issued.card.last4}" in page and issued.code not in page
    browser.post(f"/cart/gift-cards/{issued.card.last4}/remove/")
    assert not CartGiftCard.objects.exists()
    guest = Client().post("/cart/gift-cards/", {"code": issued.code})
    assert guest.status_code == 302 and not CartGiftCard.objects.exists()
