"""Guest checkout: a shopper without an account buys the session cart by card, with an e-mail and an
address checked per country; a wallet is refused; the answer and the e-mail carry the signed link."""

import re
import uuid

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from catalog.models import Stock
from payments.models import FraudRule, Payment
from shop.orders.models import Order
from shop.pricing.models import VoucherRedemption
from tests.orders.guest import ADDRESS_DE, guest_checkout, guest_with_cart
from tests.orders.helpers import assert_ledger_balanced, place_order_form
from tests.pricing.factories import make_voucher
from tests.shipping.factories import shipping_method_everywhere
from tests.staff.test_fraud import past_payment

FORM = "multipart"  # the pages' forms (the API client sends JSON unless told)


def nothing_made(product):
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert Stock.objects.get(product_id=product.id).reserved == 0


@pytest.mark.django_db
def test_a_guest_paying_from_a_wallet_is_refused_with_a_clear_error(product):
    client = guest_with_cart((product, 1))
    response = guest_checkout(client, payment_method="wallet", card_token="")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("wallet_requires_account", "payment_method")
    assert "account" in body["detail"]
    nothing_made(product)
    assert client.session["cart"]  # the cart is still there


@pytest.mark.django_db
@pytest.mark.parametrize(
    "country, postal_code",
    [
        ("DE", "1011"),
        ("DE", "10115a"),
        ("FR", "750011"),
        ("GB", "12345"),
        ("GB", "SW1A"),
        ("US", "1234"),
        ("US", "12345-67"),
    ],
)
def test_a_postal_code_that_does_not_fit_the_country_is_400_naming_the_field(product, country, postal_code):
    client = guest_with_cart((product, 1))
    response = guest_checkout(
        client, shipping_address={**ADDRESS_DE, "country": country, "postal_code": postal_code}
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert response.json()["field"] == "shipping_address.postal_code"
    nothing_made(product)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes, field",
    [
        ({"email": ""}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"shipping_address": 3}, "shipping_address"),
        ({"shipping_address": {**ADDRESS_DE, "country": "XX"}}, "shipping_address.country"),
    ],
)
def test_a_guest_needs_an_email_and_an_address_typed_in(product, changes, field):
    client = guest_with_cart((product, 1))
    response = guest_checkout(client, **changes)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    nothing_made(product)


@pytest.mark.django_db
def test_a_guest_without_a_cart_gets_a_400_and_cannot_list_orders():
    client = APIClient()
    assert client.get("/api/v1/orders/").status_code in (401, 403)
    response = guest_checkout(client)
    assert response.status_code == 400
    assert response.json()["code"] == "cart_empty"


@pytest.mark.django_db(transaction=True)
def test_a_guest_buys_by_card_through_the_api_with_a_voucher(psp, product):
    make_voucher("WELCOME10", percentage="10")
    client = guest_with_cart((product, 2))
    assert client.post("/cart/voucher/", {"code": "welcome10"}, format=FORM).status_code == 302
    key = str(uuid.uuid4())
    response = guest_checkout(client, key=key)
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(number=body["number"])
    assert (order.user, order.email, order.status) == (None, "ann@example.com", Order.Status.PAID)
    assert order.voucher_code == "WELCOME10" and order.voucher_discount.amount > 0
    assert VoucherRedemption.objects.get(reference=order.number).email == "ann@example.com"
    payment = Payment.objects.get(pk=order.payment_id)
    assert (payment.user, payment.status, payment.amount) == (None, Payment.Status.SUCCEEDED, order.total)
    assert order.number in Client().get(body["order_url"]).content.decode()
    assert body["shipping_address"]["postal_code"] == "10115"
    assert not client.session.get("cart") and not client.session.get("cart_voucher")  # the order took them
    # A replay with the same key answers the same order and charges nothing again.
    guest_with_cart_again = client.post(
        "/cart/add/", {"product": product.id, "quantity": 1}, format="multipart"
    )
    assert guest_with_cart_again.status_code == 302
    replay = guest_checkout(client, key=key)
    assert replay.json()["number"] == order.number
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    # The e-mails go to the guest and carry the signed link; the paid one has the invoice attached.
    to_guest = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    assert len(to_guest) == 2
    for message in to_guest:  # each carries a link (signed when sent) that opens this order
        link = re.search(r"/orders/guest/[^/\s]+/", message.body).group(0)
        assert order.number in Client().get(link).content.decode()
    assert any(a[0].endswith(".pdf") for m in to_guest for a in m.attachments)
    assert_ledger_balanced()


@pytest.mark.django_db(transaction=True)
def test_a_guest_buys_through_the_pages_and_opens_the_invoice(psp, product):
    client = guest_with_cart((product, 1))
    assert client.get("/orders/checkout/").status_code == 200
    bad = client.post(
        "/orders/checkout/", {"email": "ann@example.com", **ADDRESS_DE, "postal_code": "123"}, format=FORM
    )
    assert bad.status_code == 200
    assert "German postal code" in bad.content.decode()
    response = client.post("/orders/checkout/", {"email": "ann@example.com", **ADDRESS_DE}, format=FORM)
    assert response["Location"] == "/orders/checkout/payment/"
    payment_page = client.get("/orders/checkout/payment/")
    assert 'value="wallet"' not in payment_page.content.decode()
    wallet = client.post(
        "/orders/checkout/payment/",
        {"shipping_method": shipping_method_everywhere(), "payment_method": "wallet"},
        format=FORM,
    )
    assert wallet.status_code == 200  # not offered to a guest: the form refuses it
    response = client.post(
        "/orders/checkout/payment/",
        {"shipping_method": shipping_method_everywhere(), "payment_method": "card", "card_token": "tok_ok"},
        format=FORM,
    )
    assert response["Location"] == "/orders/checkout/review/"
    form = place_order_form(client.get("/orders/checkout/review/").content.decode())
    response = client.post("/orders/checkout/place/", form, format=FORM)
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"].startswith("/orders/guest/")
    assert order.status == Order.Status.PAID and order.user is None
    page = client.get(response["Location"]).content.decode()
    invoice = order.invoices.get()
    link = f"{response['Location']}invoice/{invoice.number}.pdf"
    assert link in page
    pdf = Client().get(link)  # the link alone opens it, from any browser
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert Client().get(f"/orders/{order.number}/invoice/{invoice.number}.pdf").status_code == 302  # sign in


@pytest.mark.django_db
def test_card_token_fraud_rules_apply_to_guests(product):
    FraudRule.objects.create(name="token burst", scope="token", window_minutes=10, max_attempts=2)
    past_payment(None, status=Payment.Status.SUCCEEDED, token="tok_ok")
    past_payment(None, status=Payment.Status.SUCCEEDED, token="tok_ok")
    response = guest_checkout(guest_with_cart((product, 1)))
    assert response.status_code == 402
    order = Order.objects.get()
    assert Payment.objects.get(pk=order.payment_id).last_error_code == "payment_refused"


@pytest.mark.django_db(transaction=True)
def test_other_guests_declines_do_not_count_as_one_users(psp, product):
    """A per-user rule counts an account's payments; guests have none, so it does not lump them together."""
    FraudRule.objects.create(name="3 declines an hour", scope="user", window_minutes=60, max_declines=2)
    past_payment(None)
    past_payment(None)
    response = guest_checkout(guest_with_cart((product, 1)))
    assert response.status_code == 201, response.content


@pytest.mark.django_db(transaction=True)
def test_a_declined_card_gives_the_guest_back_the_cart_and_voucher(psp, product):
    make_voucher("WELCOME10", percentage="10")
    client = guest_with_cart((product, 2))
    client.post("/cart/voucher/", {"code": "WELCOME10"}, format=FORM)
    response = guest_checkout(client, card_token="tok_declined")
    assert response.status_code == 402
    assert response.json()["code"] == "card_declined"
    assert Order.objects.get().status == Order.Status.CANCELLED
    assert Stock.objects.get(product_id=product.id).reserved == 0
    lines = client.session["cart"]
    assert [line["quantity"] for line in lines.values()] == [2]
    assert client.session["cart_voucher"] == "WELCOME10"
    retry = guest_checkout(client)  # the same cart, another card
    assert retry.status_code == 201, retry.content
    assert Order.objects.get(number=retry.json()["number"]).voucher_code == "WELCOME10"
