"""Admin for users and addresses; demo accounts."""

import io

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts import demo
from accounts.models import Address, User
from accounts.selectors import user_has_verified_email
from tests.accounts.factories import AddressFactory, UserFactory


@pytest.fixture
def admin_client(db):
    admin = User.objects.create_superuser("root@example.com", "root-pass-123")
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_user_admin_lists_searches_and_filters(admin_client):
    UserFactory(email="findme@example.com", full_name="Zelda Quest")
    UserFactory(email="other@example.com", full_name="Nobody")
    response = admin_client.get("/admin/accounts/user/?q=zelda")
    assert response.status_code == 200
    assert "findme@example.com" in response.content.decode()
    assert "other@example.com" not in response.content.decode()
    response = admin_client.get("/admin/accounts/user/?is_staff__exact=1")
    assert "root@example.com" in response.content.decode()
    assert "findme@example.com" not in response.content.decode()


@pytest.mark.django_db
def test_user_admin_change_page_has_the_address_inline(admin_client):
    address = AddressFactory(city="Inlinetown")
    response = admin_client.get(f"/admin/accounts/user/{address.user.pk}/change/")
    assert response.status_code == 200
    assert "Inlinetown" in response.content.decode()


@pytest.mark.django_db
def test_user_admin_refuses_a_duplicate_email_in_another_case(admin_client):
    UserFactory(email="dup@example.com")
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {"email": "DUP@Example.com", "password1": "x-Strong-pass-1", "password2": "x-Strong-pass-1"},
    )
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert User.objects.filter(email__iexact="dup@example.com").count() == 1

    response = admin_client.post(
        "/admin/accounts/user/add/",
        {"email": "New@Example.com", "password1": "x-Strong-pass-1", "password2": "x-Strong-pass-1"},
    )
    assert response.status_code == 302
    assert User.objects.get(email="new@example.com").password.startswith("argon2")


@pytest.mark.django_db
def test_address_admin_lists_and_searches(admin_client):
    AddressFactory(city="Searchville", user=UserFactory(email="owner@example.com"))
    response = admin_client.get("/admin/accounts/address/?q=owner@example.com")
    assert response.status_code == 200
    assert "owner@example.com" in response.content.decode()
    assert admin_client.get("/admin/accounts/address/?country__exact=DE").status_code == 200


@pytest.mark.django_db
def test_demo_accounts_are_verified_idempotent_and_can_log_in():
    out = io.StringIO()
    demo.load(stdout=out)
    demo.load(stdout=out)
    assert "shopper@example.com / shopper-pass-123" in out.getvalue()
    assert "admin@example.com / admin-pass-123" in out.getvalue()
    assert User.objects.count() == 5
    assert EmailAddress.objects.filter(verified=True, primary=True).count() == 5
    for role in ("support", "fulfilment", "finance"):
        member = User.objects.get(email=f"{role}@example.com")
        assert member.is_staff and not member.is_superuser
        assert list(member.groups.values_list("name", flat=True)) == [role]
        assert member.has_perm("payments.refund_payment") == (role == "finance")
        assert member.has_perm("orders.change_order") == (role == "fulfilment")
    shopper = User.objects.get(email="shopper@example.com")
    admin = User.objects.get(email="admin@example.com")
    assert user_has_verified_email(shopper) and user_has_verified_email(admin)
    assert admin.is_staff and admin.is_superuser and not shopper.is_staff
    assert Address.objects.filter(user=shopper).count() == 1
    assert Address.objects.get(user=shopper).is_default_shipping

    client = Client()
    response = client.post("/accounts/login/", {"login": "shopper@example.com", "password": "shopper-pass-123"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(shopper.pk)
    client = Client()
    client.post("/accounts/login/", {"login": "admin@example.com", "password": "admin-pass-123"})
    assert client.get("/admin/").status_code == 200


def _address_post(user, **changes):
    return {
        "user": user.pk, "full_name": "Ann Admin", "line1": "Main St 1", "line2": "", "city": "Berlin",
        "postal_code": "10115", "region": "", "country": "de", "phone": "", **changes,
    }


@pytest.mark.django_db
def test_address_admin_validates_like_the_services_and_switches_the_default(admin_client):
    first = AddressFactory(is_default_shipping=True)
    user = first.user

    refused = admin_client.post("/admin/accounts/address/add/", _address_post(user, country="XX"))
    assert refused.status_code == 200 and "country code" in refused.content.decode()
    assert Address.objects.filter(user=user).count() == 1

    added = admin_client.post("/admin/accounts/address/add/", _address_post(user, is_default_shipping="on"))
    assert added.status_code == 302
    second = Address.objects.filter(user=user).exclude(pk=first.pk).get()
    assert second.country == "DE" and second.is_default_shipping
    first.refresh_from_db()
    assert not first.is_default_shipping

    admin_client.post(f"/admin/accounts/address/{second.pk}/delete/", {"post": "yes"})
    first.refresh_from_db()
    assert first.is_default_shipping
