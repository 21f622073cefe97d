"""The wallet page explains its balance: every movement in words, with the balance after it,
and no internal references."""

import re

import pytest
from djmoney.money import Money

from payments.selectors import wallet_activity
from payments.services.adjustments import wallet_adjust
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_with_balance
from tests.payments.test_pages import logged_in

pytestmark = pytest.mark.django_db


def test_activity_has_words_and_a_running_balance():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "40.00")
    wallet_with_balance(user, "10.00")
    wallet_adjust(wallet_id=wallet.pk, amount=Money("-5.00", "USD"), reason="double credit", actor=None)
    wallet.refresh_from_db()
    rows = wallet_activity(wallet=wallet)
    assert [r["balance"] for r in rows] == [Money(v, "USD") for v in ("45.00", "50.00", "40.00")]
    assert [r["amount"] for r in rows] == [Money(v, "USD") for v in ("-5.00", "10.00", "40.00")]
    assert [r["description"] for r in rows] == ["Correction by customer service", "Welcome credit", "Welcome credit"]
    html = logged_in(user).get("/wallet/").content.decode()
    assert "Welcome credit" in html and "Correction by customer service" in html
    assert not re.search(r"test-funding|wallet-\d|adjustment:|payment:", html)  # no internal references
