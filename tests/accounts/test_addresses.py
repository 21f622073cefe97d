"""Address services, selectors, pages: one default, ownership, validation."""

import threading

import pytest
from django.db import connection

from accounts import selectors, services
from accounts.exceptions import AddressInvalid, AddressNotFound
from accounts.models import Address
from tests.accounts.factories import AddressFactory, UserFactory

VALID = {"full_name": "Ann Example", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def _defaults(user):
    return list(Address.objects.filter(user=user, is_default_shipping=True))


@pytest.mark.django_db
def test_first_address_becomes_the_default(user):
    first = services.address_create(user=user, **VALID)
    second = services.address_create(user=user, **{**VALID, "line1": "Other St 2"})
    assert first.is_default_shipping
    assert not second.is_default_shipping
    assert _defaults(user) == [first]


@pytest.mark.django_db
def test_switching_the_default_keeps_exactly_one(user):
    a = services.address_create(user=user, **VALID)
    b = services.address_create(user=user, **VALID)
    c = services.address_create(user=user, **VALID, is_default_shipping=True)
    assert _defaults(user) == [c]
    services.address_set_default(address=a)
    assert _defaults(user) == [a]
    services.address_update(address=b, is_default_shipping=True)
    assert _defaults(user) == [b]
    services.address_set_default(address=b)  # again: still one
    assert _defaults(user) == [b]
    assert selectors.address_default_for_user(user) == b
    assert list(selectors.addresses_for_user(user))[0] == b


@pytest.mark.django_db
def test_defaults_of_different_users_do_not_interfere(user, other_address):
    mine = services.address_create(user=user, **VALID)
    assert mine.is_default_shipping
    other_address.refresh_from_db()
    assert other_address.is_default_shipping


@pytest.mark.django_db
def test_country_is_upper_cased_and_validated(user):
    address = services.address_create(user=user, **{**VALID, "country": " fr "})
    assert address.country == "FR"
    with pytest.raises(AddressInvalid) as error:
        services.address_create(user=user, **{**VALID, "country": "XX"})
    assert error.value.field == "country"
    with pytest.raises(AddressInvalid) as error:
        services.address_update(address=address, city="  ")
    assert error.value.field == "city"
    address.refresh_from_db()
    assert address.city == "Berlin"


@pytest.mark.django_db
def test_selector_refuses_someone_elses_address(user, other_address):
    with pytest.raises(AddressNotFound) as error:
        selectors.address_get_for_user(user, other_address.pk)
    assert error.value.status_code == 404
    with pytest.raises(AddressNotFound):
        selectors.address_get_for_user(user, "not-a-number")
    assert selectors.address_get_for_user(other_address.user, other_address.pk) == other_address
    assert list(selectors.addresses_for_user(user)) == []


@pytest.mark.django_db
def test_snapshot_is_plain_data(user):
    address = services.address_create(user=user, **VALID, phone="+49 30 1234")
    snapshot = address.as_snapshot()
    assert snapshot == {**VALID, "line2": "", "region": "", "phone": "+49 30 1234"}


@pytest.mark.django_db
def test_delete_removes_only_that_address(user):
    a = services.address_create(user=user, **VALID)
    b = services.address_create(user=user, **VALID)
    services.address_delete(address=a)
    assert list(Address.objects.filter(user=user)) == [b]


@pytest.mark.django_db
def test_deleting_the_default_address_makes_the_newest_remaining_one_the_default(user):
    oldest = services.address_create(user=user, **VALID)
    newest = services.address_create(user=user, **{**VALID, "line1": "New St 3"})
    default = services.address_create(user=user, **VALID, is_default_shipping=True)
    services.address_delete(address=default)
    assert _defaults(user) == [newest]
    services.address_delete(address=oldest)  # not the default: the default stays
    assert _defaults(user) == [newest]
    services.address_delete(address=newest)
    assert _defaults(user) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_default_switches_leave_exactly_one_default():
    user = UserFactory()
    addresses = [AddressFactory(user=user, is_default_shipping=(i == 0)) for i in range(6)]
    barrier = threading.Barrier(len(addresses))
    errors = []

    def switch(address):
        try:
            barrier.wait(timeout=10)
            services.address_set_default(address=address)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=switch, args=(a,)) for a in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_defaults(user)) == 1


# --- pages -------------------------------------------------------------------


@pytest.mark.django_db
def test_address_pages_create_edit_default_delete(user_client, user):
    assert user_client.get("/account/addresses/").status_code == 200
    assert user_client.get("/account/addresses/new/").status_code == 200
    response = user_client.post("/account/addresses/new/", {**VALID, "country": "de"})
    assert response.status_code == 302
    first = Address.objects.get(user=user)
    assert first.country == "DE" and first.is_default_shipping

    response = user_client.post("/account/addresses/new/", {**VALID, "line1": "Second 2", "country": "AT"})
    second = Address.objects.get(user=user, line1="Second 2")
    assert not second.is_default_shipping

    response = user_client.post(f"/account/addresses/{second.pk}/default/")
    assert response.status_code == 302
    assert _defaults(user) == [second]

    response = user_client.post(f"/account/addresses/{first.pk}/edit/", {**VALID, "city": "Hamburg"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.city == "Hamburg"
    assert _defaults(user) == [second]

    assert user_client.get(f"/account/addresses/{first.pk}/delete/").status_code == 200
    response = user_client.post(f"/account/addresses/{first.pk}/delete/")
    assert response.status_code == 302
    assert list(Address.objects.filter(user=user)) == [second]
    page = user_client.get("/account/addresses/").content.decode()
    assert "Second 2" in page and "Hamburg" not in page


@pytest.mark.django_db
def test_address_form_shows_errors_for_missing_fields_and_bad_country(user_client, user):
    response = user_client.post("/account/addresses/new/", {**VALID, "country": "ZZ", "city": ""})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "country" in errors and "city" in errors
    assert not Address.objects.filter(user=user).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,suffix",
    [("get", "edit/"), ("post", "edit/"), ("get", "delete/"), ("post", "delete/"), ("post", "default/")],
)
def test_pages_answer_404_for_someone_elses_address(user_client, other_address, method, suffix):
    response = getattr(user_client, method)(f"/account/addresses/{other_address.pk}/{suffix}", {**VALID})
    assert response.status_code == 404
    other_address.refresh_from_db()
    assert other_address.city != "Berlin" or other_address.line1 != "Main St 1"
    assert other_address.is_default_shipping


@pytest.mark.django_db
def test_account_pages_need_login(client):
    for url in ["/account/", "/account/addresses/", "/account/addresses/new/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_profile_page_shows_and_saves_name_and_language(user_client, user):
    page = user_client.get("/account/").content.decode()
    for link in ["/account/addresses/", "/accounts/password/change/", "/wallet/", "/orders/"]:
        assert f'href="{link}"' in page
    assert user.email in page
    response = user_client.post("/account/", {"full_name": "Ann Other", "preferred_language": "de"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.full_name, user.preferred_language) == ("Ann Other", "de")
    response = user_client.post("/account/", {"full_name": "Ann", "preferred_language": "xx"})
    assert response.status_code == 200
    assert "preferred_language" in response.context["form"].errors
