"""One strict reading of money amounts, the same in the API, the pages and the schema."""

import re
import uuid

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from payments.forms import MoneyMovementForm
from payments.models import IdempotencyKey, Payment
from shop.core.money import AmountInvalid, amount_parse, amount_pattern
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_with_balance

REFUSED = ["１２", "1_000", "1E+3", "1e3", " 1.00", "1.00 ", "1.00\n", "+1", "-1", "0", "0.00", "1.001", "007",
           "1.", ".5", "١٢", "NaN", "Infinity", "", "1,50", "1" * 13]
TAKEN = {"12": "12.00", "12.5": "12.50", "0.01": "0.01", "0.10": "0.10", "999999999999.99": "999999999999.99"}


@pytest.mark.parametrize("raw", REFUSED)
def test_amount_parse_refuses_anything_but_plain_ascii_decimals(raw):
    with pytest.raises(AmountInvalid):
        amount_parse(raw, "USD")


@pytest.mark.parametrize(("raw", "expected"), TAKEN.items())
def test_amount_parse_reads_plain_decimals_to_the_minor_unit(raw, expected):
    assert str(amount_parse(raw, "USD")) == expected


@given(st.one_of(st.text(alphabet="0123456789.-+eE_ ١２", max_size=16), st.from_regex(amount_pattern(2), fullmatch=True)))
def test_the_schema_pattern_is_exactly_what_the_parser_takes(raw):
    try:
        amount_parse(raw, "USD")
        taken = True
    except AmountInvalid:
        taken = False
    assert taken == (re.fullmatch(amount_pattern(2), raw) is not None)


def test_amounts_in_currencies_without_minor_units_take_no_fraction():
    assert re.fullmatch(amount_pattern(0), "12") and not re.fullmatch(amount_pattern(0), "12.0")
    with pytest.raises(AmountInvalid):
        amount_parse("12.0", "JPY")


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["１２", "1_000", "1E+3", " 1.00", "0", "-5.00"])
def test_the_api_refuses_what_the_parser_refuses_and_charges_nothing(raw):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        f"/api/v1/wallets/{wallet.pk}/deposits/",
        {"amount": {"amount": raw, "currency": "USD"}, "card_token": "tok_ok"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and response.json()["field"] == "amount"
    assert not Payment.objects.exists() and not IdempotencyKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"amount": "12.00"}, {"amount": 12, "currency": "USD"}, {"amount": "1", "currency": "USD", "x": 1}])
def test_the_api_wants_exactly_a_string_amount_and_a_currency(body):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        f"/api/v1/wallets/{wallet.pk}/deposits/", {"amount": body, "card_token": "tok_ok"}, format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 400 and response.json()["field"] == "amount"


@pytest.mark.parametrize("raw", REFUSED)
def test_the_wallet_page_form_refuses_the_same_amounts(raw):
    form = MoneyMovementForm(data={"amount": raw, "card_token": "tok_ok", "idempotency_key": "k"}, currency="USD")
    assert not form.is_valid()
    assert "amount" in form.errors


def test_the_wallet_page_form_reads_amounts_like_the_api():
    form = MoneyMovementForm(data={"amount": "12.5", "card_token": "tok_ok", "idempotency_key": "k"}, currency="USD")
    assert form.is_valid(), form.errors
    assert str(form.cleaned_data["amount"]) == "12.50"


@pytest.mark.django_db
def test_a_full_width_amount_on_the_deposit_page_is_refused_in_place():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    client = Client()
    client.force_login(user)
    response = client.post(f"/wallet/{wallet.pk}/deposit/", {"amount": "１２", "card_token": "tok_ok", "idempotency_key": "k"})
    assert response.status_code == 200
    assert not Payment.objects.exists()
