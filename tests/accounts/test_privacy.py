"""GDPR: a person downloads what the shop holds about them, and erases their account; the books stay."""

import json

import pytest
from allauth.account.models import EmailAddress
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Address, ErasureRequest, User
from catalog.models import Review
from catalog.services.reviews import review_create
from payments.models import AuditLog, LedgerEntry, Payment, Wallet
from shop.cart.models import Cart
from shop.orders.models import Order
from shop.orders.services.checkout import order_place
from tests.accounts.factories import PASSWORD
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.fixtures import rates  # noqa: F401
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db

APP = "/_allauth/app/v1"


@pytest.fixture
def buyer(rates):  # noqa: F811
    """A shopper who spent the whole wallet (20.00) on one order, reviewed the product, and has a cart line."""
    user = shopper_new(funds="20.00")
    user.full_name = "Ann Example"
    user.save(update_fields=["full_name"])
    product, other = make_product(price="10.00", on_hand=10), make_product(price="5.00", on_hand=10)
    cart_fill(user, (product, 2))
    order = order_place(
        shipping_method=shipping_method_everywhere(),
        user=user, payment_method="wallet", shipping_address=user.addresses.first().pk, currency="USD"
    ).order
    assert order.status == "paid"
    review_create(user=user, product=product, rating=4, title="Solid", body="Does the job")
    cart_fill(user, (other, 1))
    return user


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def erase(client, password=PASSWORD):
    return client.delete("/api/v1/me/", {"password": password}, format="json")


def test_export_holds_every_section_of_the_person(buyer):
    response = api_for(buyer).get("/api/v1/me/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="shop-personal-data-{buyer.pk}.json"'
    data = json.loads(response.content)
    assert data["profile"]["email"] == buyer.email and data["profile"]["full_name"] == "Ann Example"
    assert data["profile"]["email_addresses"] == [{"email": buyer.email, "verified": True, "primary": True}]
    assert [a["line1"] for a in data["addresses"]] == [buyer.addresses.get().line1]
    assert data["consents"] == []
    order = Order.objects.get(user=buyer)
    assert [o["number"] for o in data["orders"]] == [order.number]
    assert data["orders"][0]["lines"][0]["quantity"] == 2
    assert data["orders"][0]["shipping_address"]["line1"] == buyer.addresses.get().line1
    assert [(p["purpose"], p["status"]) for p in data["payments"]] == [("order", "succeeded")]
    statement = data["wallet_statements"][0]
    assert statement["currency"] == "USD" and statement["balance"] == "0.00"
    assert [e["amount"] for e in statement["entries"]] == ["20.00", "-20.00"]
    assert [(r["rating"], r["title"]) for r in data["reviews"]] == [(4, "Solid")]
    assert [line["quantity"] for line in data["cart"]] == [1]
    assert AuditLog.objects.filter(action="privacy_export", actor=buyer).count() == 1


def test_export_shows_nobody_else(buyer, rates):  # noqa: F811
    stranger = shopper_new(funds=None, address=False)
    data = json.loads(api_for(stranger).get("/api/v1/me/export/").content)
    assert (data["orders"], data["payments"], data["reviews"], data["addresses"]) == ([], [], [], [])


def test_anonymous_may_neither_export_nor_erase():
    client = APIClient()
    assert client.get("/api/v1/me/export/").status_code in (401, 403)
    assert client.delete("/api/v1/me/", {"password": PASSWORD}, format="json").status_code in (401, 403)


def test_a_wrong_password_is_400_and_changes_nothing_but_is_recorded(buyer):
    response = erase(api_for(buyer), password="not-my-password")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    buyer.refresh_from_db()
    assert buyer.is_active and buyer.full_name == "Ann Example" and Address.objects.filter(user=buyer).exists()
    request = ErasureRequest.objects.get(user=buyer)
    assert (request.status, request.refusal_code) == ("refused", "invalid_password")
    assert AuditLog.objects.filter(action="privacy_erasure_refused", object_id=str(request.pk)).exists()


def test_a_wallet_with_money_must_be_paid_out_first(rates):  # noqa: F811
    user = shopper_new(funds="15.00")

    response = erase(api_for(user))

    assert response.status_code == 409
    assert response.json()["code"] == "wallet_not_empty"
    user.refresh_from_db()
    assert user.is_active and Wallet.objects.get(user=user).status == "open"
    assert Address.objects.filter(user=user).exists()
    assert ErasureRequest.objects.get(user=user).refusal_code == "wallet_not_empty"


def _app_token(email: str) -> str:
    response = Client().post(APP + "/auth/login", {"email": email, "password": PASSWORD},
                             content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["meta"]["session_token"]


def test_erasure_anonymises_the_person_and_keeps_the_books(buyer):
    email, order = buyer.email, Order.objects.get(user=buyer)
    country = order.shipping_address["country"]
    payments, entries = Payment.objects.count(), LedgerEntry.objects.count()
    browser = Client()
    browser.force_login(buyer)
    token = _app_token(email)
    assert Client().get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token).status_code == 200

    response = erase(api_for(buyer))

    assert response.status_code == 204
    buyer.refresh_from_db()
    assert buyer.email == f"erased-{buyer.pk}@erased.invalid"
    assert (buyer.full_name, buyer.is_active, buyer.has_usable_password()) == ("", False, False)
    assert not Address.objects.filter(user=buyer).exists()
    assert not EmailAddress.objects.filter(user=buyer).exists()
    assert not Cart.objects.filter(user=buyer).exists()
    order.refresh_from_db()
    assert order.status == "paid" and order.email == ""
    assert order.shipping_address["country"] == country
    assert not any(value for key, value in order.shipping_address.items() if key != "country")
    assert (Payment.objects.count(), LedgerEntry.objects.count()) == (payments, entries)
    assert Wallet.objects.get(user=buyer).status == "closed"
    review = Review.objects.get(user=buyer)
    assert review.body == "Does the job"
    product_reviews = Client().get(f"/api/v1/products/{review.product.slug}/reviews/").json()["results"]
    assert [r["author"] for r in product_reviews] == ["A customer"]
    # Signed out everywhere: the browser session and the app's token are gone.
    assert browser.get("/account/").status_code == 302
    assert Client().get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token).status_code == 401
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(buyer.pk)]
    assert Client().post(APP + "/auth/login", {"email": email, "password": PASSWORD},
                         content_type="application/json").status_code == 400
    request = ErasureRequest.objects.get(user=buyer)
    assert request.status == "done" and request.channel == "api"
    assert request.summary["orders"]["orders"] == 1 and request.summary["accounts"]["sessions"] == 2
    assert AuditLog.objects.filter(action="privacy_erasure", object_id=str(request.pk), actor=buyer).exists()
    exported = json.dumps(api_for(buyer).get("/api/v1/me/export/").json())
    assert email not in exported and "Ann Example" not in exported


def test_account_page_offers_the_download_and_the_erasure(buyer):
    browser = Client()
    browser.force_login(buyer)
    page = browser.get("/account/").content.decode()
    assert 'href="/account/export/"' in page and 'href="/account/delete/"' in page

    download = browser.get("/account/export/")
    assert download.status_code == 200 and json.loads(download.content)["profile"]["email"] == buyer.email

    wrong = browser.post("/account/delete/", {"password": "nope", "confirm": "on"})
    assert wrong.status_code == 200 and "The password is not correct." in wrong.content.decode()
    done = browser.post("/account/delete/", {"password": PASSWORD, "confirm": "on"})
    assert done.status_code == 302
    assert browser.get("/account/").status_code == 302
    assert ErasureRequest.objects.filter(user=buyer, status="done", channel="page").exists()


def test_staff_see_erasure_requests_in_admin(buyer, admin_client):
    erase(api_for(buyer))
    response = admin_client.get("/admin/accounts/erasurerequest/")
    assert response.status_code == 200
    buyer.refresh_from_db()
    assert f"erased-{buyer.pk}@erased.invalid" in response.content.decode()
    request = ErasureRequest.objects.get(user=buyer)
    assert admin_client.get(f"/admin/accounts/erasurerequest/{request.pk}/change/").status_code == 200


def test_a_second_erasure_of_the_same_user_is_impossible(buyer):
    erase(api_for(buyer))
    buyer.refresh_from_db()
    response = erase(api_for(buyer))
    assert response.status_code == 400
    assert User.objects.filter(email__iexact=f"erased-{buyer.pk}@erased.invalid").count() == 1
