"""Wallet pages: overview, open, statement (HTML, CSV, printable), deposit and withdraw forms."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client

from payments.models import Payment, Wallet
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
    assert rows[1][4] == "40.00"
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
