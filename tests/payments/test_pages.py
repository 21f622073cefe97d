"""Wallet pages: overview, open, statement (HTML, CSV, printable), deposit and withdraw forms."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client

from payments.models import IdempotencyKey, Payment, Wallet, Withdrawal
from payments.psp_sandbox.models import SandboxCharge
from tests.payments.factories import UserFactory, VerifiedUserFactory
from tests.payments.fixtures import wallet_funded_by_card, wallet_with_balance


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_overview_needs_login():
    response = Client().get("/wallet/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_overview_lists_wallets_and_opens_one():
    user = VerifiedUserFactory()
    wallet_with_balance(user, "12.50")
    client = logged_in(user)
    page = client.get("/wallet/")
    assert page.status_code == 200
    assert "12.50" in page.content.decode()
    response = client.post("/wallet/open/", {"currency": "EUR"})
    assert response.status_code == 302
    assert Wallet.objects.filter(user=user, currency="EUR").exists()


@pytest.mark.django_db
def test_unverified_user_is_told_to_verify_first():
    user = UserFactory()
    client = logged_in(user)
    assert "verify your e-mail" in client.get("/wallet/").content.decode()
    client.post("/wallet/open/", {"currency": "USD"})
    assert not Wallet.objects.exists()


@pytest.mark.django_db
def test_statement_html_csv_and_printable():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "40.00")
    client = logged_in(user)
    url = f"/wallet/{wallet.pk}/statement/"
    html = client.get(url, {"start": "2000-01-01", "end": "2999-12-31"})
    assert html.status_code == 200
    assert "40.00" in html.content.decode()
    empty = client.get(url, {"end": "2000-01-01"})
    assert "No transactions in this period." in empty.content.decode()
    download = client.get(url, {"format": "csv"})
    assert download["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows[0][0] == "Date"
    assert len(rows) == 2
    assert rows[0] == ["Date", "Kind", "Description", "Amount", "Currency"]  # no internal reference
    assert rows[1][3] == "40.00"
    printable = client.get(url, {"format": "print"})
    assert printable.status_code == 200
    assert "site-header" not in printable.content.decode()
    assert user.email in printable.content.decode()


@pytest.mark.django_db
def test_someone_elses_statement_is_404():
    wallet = wallet_with_balance(VerifiedUserFactory(), "1.00")
    client = logged_in(VerifiedUserFactory())
    assert client.get(f"/wallet/{wallet.pk}/statement/").status_code == 404
    assert client.get(f"/wallet/{wallet.pk}/deposit/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_deposit_form_shows_the_honest_outcome_and_ignores_a_double_submit(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = logged_in(user)
    form = client.get(f"/wallet/{wallet.pk}/deposit/")
    key = form.context["form"].initial["idempotency_key"]
    data = {"amount": "15.00", "card_token": "tok_timeout", "idempotency_key": key}
    first = client.post(f"/wallet/{wallet.pk}/deposit/", data)
    assert first.status_code == 302
    second = client.post(f"/wallet/{wallet.pk}/deposit/", data)
    assert second["Location"] == first["Location"]
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1
    page = client.get(first["Location"])
    assert "Outcome not known yet" in page.content.decode()
    assert "Outcome not known yet" in client.get("/wallet/").content.decode()
    ok = client.post(
        f"/wallet/{wallet.pk}/deposit/", {"amount": "5.00", "card_token": "tok_ok", "idempotency_key": "other"}
    )
    assert "The money is in your wallet." in client.get(ok["Location"]).content.decode()
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("5.00")


@pytest.mark.django_db
def test_deposit_form_rejects_bad_amounts():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = logged_in(user)
    for amount in ("-1", "0", "1.001", "abc"):
        response = client.post(
            f"/wallet/{wallet.pk}/deposit/", {"amount": amount, "card_token": "tok_ok", "idempotency_key": amount}
        )
        assert response.status_code == 200
        assert response.context["form"].errors
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_withdraw_form_refuses_more_than_the_balance(psp):
    user = VerifiedUserFactory()
    wallet = wallet_funded_by_card(user, "10.00", card_token="tok_ok")
    client = logged_in(user)
    response = client.post(
        f"/wallet/{wallet.pk}/withdraw/", {"amount": "10.01", "card_token": "tok_ok", "idempotency_key": "w"}
    )
    assert response.status_code == 200
    assert "too low" in response.content.decode()
    done = client.post(f"/wallet/{wallet.pk}/withdraw/", {"amount": "10.00", "card_token": "tok_ok", "idempotency_key": "w"})
    assert done.status_code == 302
    assert "Paid out" in client.get(done["Location"]).content.decode()
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("0.00")


@pytest.mark.django_db
def test_deposit_page_offers_every_sandbox_card_including_tok_slow_and_states_the_limit():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    page = logged_in(user).get(f"/wallet/{wallet.pk}/deposit/")
    offered = [value for value, _label in page.context["form"].fields["card_token"].choices]
    assert {"tok_ok", "tok_slow", "tok_timeout", "tok_declined", "tok_error", "tok_flaky"} <= set(offered)
    assert "10,000.00" in page.content.decode()


@pytest.mark.django_db
def test_deposit_form_shows_field_errors_for_a_card_number_and_an_amount_over_the_limit(settings):
    settings.PSP_SANDBOX_ENABLED = False  # a token field instead of the test cards
    settings.WALLET_MAX_DEPOSIT = Decimal("100.00")
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = logged_in(user)
    url = f"/wallet/{wallet.pk}/deposit/"
    number = client.post(url, {"amount": "5.00", "card_token": "4242424242424242", "idempotency_key": "a"})
    assert number.status_code == 200
    assert "card_token" in number.context["form"].errors
    assert "4242424242424242" not in number.content.decode()
    too_much = client.post(url, {"amount": "100.01", "card_token": "tok_ok", "idempotency_key": "b"})
    assert too_much.status_code == 200
    [message] = too_much.context["form"].errors["amount"]
    assert message.startswith("A single deposit can be at most") and "100.00" in message
    assert not Payment.objects.exists()
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_withdraw_page_offers_only_cards_that_funded_the_wallet(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "20.00")  # credited without a card
    client = logged_in(user)
    url = f"/wallet/{wallet.pk}/withdraw/"
    page = client.get(url)
    assert "no card has yet" in page.content.decode()
    refused = client.post(url, {"amount": "5.00", "card_token": "tok_ok", "idempotency_key": "x"})
    assert refused.status_code == 200
    assert "card_token" in refused.context["form"].errors
    wallet_funded_by_card(user, "5.00", card_token="tok_slow")
    offered = client.get(url).context["form"].fields["card_token"].choices
    assert [value for value, _label in offered] == ["tok_slow"]
    assert not Withdrawal.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_pages_say_honestly_when_a_deposit_or_withdrawal_is_not_settled(psp, settings):
    from payments.models import FraudRule

    user = VerifiedUserFactory()
    wallet = wallet_funded_by_card(user, "30.00", card_token="tok_ok")
    client = logged_in(user)
    settings.PAYMENT_GATEWAY_URL = "http://127.0.0.1:9/psp-sandbox/"  # nobody answers
    deposit = client.post(
        f"/wallet/{wallet.pk}/deposit/", {"amount": "5.00", "card_token": "tok_ok", "idempotency_key": "p"}
    )
    page = client.get(deposit["Location"]).content.decode()
    assert "Processing" in page and "not final yet" in page
    withdrawal = client.post(
        f"/wallet/{wallet.pk}/withdraw/", {"amount": "10.00", "card_token": "tok_ok", "idempotency_key": "w"}
    )
    page = client.get(withdrawal["Location"]).content.decode()
    assert "Processing" in page and "being confirmed" in page
    FraudRule.objects.create(name="review all", max_attempts=0, action=FraudRule.Verdict.HOLD)
    held = client.post(
        f"/wallet/{wallet.pk}/deposit/", {"amount": "5.00", "card_token": "tok_ok", "idempotency_key": "h"}
    )
    page = client.get(held["Location"]).content.decode()
    assert "Held for review" in page and "has not been charged" in page
