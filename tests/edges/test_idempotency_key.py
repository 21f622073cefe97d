"""An Idempotency-Key over 255 characters is refused as too long, not as missing."""

import pytest
from rest_framework.test import APIClient

from payments.models import Payment
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_with_balance


def _deposit(key: str):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    client = APIClient()
    client.force_authenticate(user)
    body = {"amount": {"amount": "5.00", "currency": "USD"}, "card_token": "tok_ok"}
    return client.post(f"/api/v1/wallets/{wallet.pk}/deposits/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_a_key_of_256_characters_is_400_too_long():
    response = _deposit("k" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_too_long"
    assert response.json()["field"] == "Idempotency-Key"
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_blank_key_is_still_400_required():
    assert _deposit("   ").json()["code"] == "idempotency_key_required"


@pytest.mark.django_db(transaction=True)
def test_a_key_of_255_characters_is_taken(psp):
    assert _deposit("k" * 255).status_code == 201
