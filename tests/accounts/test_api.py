"""/api/v1/me/ and /api/v1/addresses/: wiring, status codes, ownership, error bodies."""

import pytest

from accounts.models import Address
from tests.accounts.factories import AddressFactory

VALID = {"full_name": "Ann Example", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}


@pytest.mark.django_db
def test_me_shows_and_updates_the_profile(api_client, user):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "ann@example.com"
    assert body["email_verified"] is True
    response = api_client.patch("/api/v1/me/", {"preferred_language": "de"}, format="json")
    assert response.status_code == 200
    assert response.json()["preferred_language"] == "de"
    user.refresh_from_db()
    assert user.preferred_language == "de"
    assert user.full_name  # untouched by a partial update


@pytest.mark.django_db
def test_me_refuses_an_unknown_language_with_the_field(api_client):
    response = api_client.patch("/api/v1/me/", {"preferred_language": "xx"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["field"] == "preferred_language"


@pytest.mark.django_db
def test_me_cannot_change_the_email(api_client, user):
    api_client.patch("/api/v1/me/", {"email": "evil@example.com"}, format="json")
    user.refresh_from_db()
    assert user.email == "ann@example.com"


@pytest.mark.django_db
def test_address_crud(api_client, user):
    response = api_client.post("/api/v1/addresses/", {**VALID, "country": "DE"}, format="json")
    assert response.status_code == 201
    first = response.json()
    assert first["country"] == "DE"
    assert first["is_default_shipping"] is True

    response = api_client.post("/api/v1/addresses/", {**VALID, "line1": "Two 2"}, format="json")
    second = response.json()
    assert second["is_default_shipping"] is False

    listing = api_client.get("/api/v1/addresses/").json()
    assert listing["count"] == 2
    assert [a["id"] for a in listing["results"]] == [first["id"], second["id"]]

    assert api_client.get(f"/api/v1/addresses/{second['id']}/").json()["line1"] == "Two 2"

    response = api_client.patch(f"/api/v1/addresses/{second['id']}/", {"city": "Munich"}, format="json")
    assert response.status_code == 200
    assert response.json()["city"] == "Munich"
    assert response.json()["line1"] == "Two 2"

    response = api_client.put(f"/api/v1/addresses/{second['id']}/", {**VALID, "city": "Köln"}, format="json")
    assert response.status_code == 200
    assert response.json()["line1"] == "Main St 1"

    response = api_client.post(f"/api/v1/addresses/{second['id']}/default/")
    assert response.status_code == 200
    assert response.json()["is_default_shipping"] is True
    assert list(Address.objects.filter(user=user, is_default_shipping=True).values_list("id", flat=True)) == [
        second["id"]
    ]

    response = api_client.delete(f"/api/v1/addresses/{first['id']}/")
    assert response.status_code == 204
    assert list(Address.objects.filter(user=user).values_list("id", flat=True)) == [second["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change,field",
    [
        ({"country": "XX"}, "country"),
        ({"country": "DEU"}, "country"),
        ({"city": ""}, "city"),
        ({"postal_code": None}, "postal_code"),
    ],
)
def test_address_validation_is_a_400_naming_the_field(api_client, user, change, field):
    response = api_client.post("/api/v1/addresses/", {**VALID, **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["field"] == field
    assert body["detail"]
    assert not Address.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_address_missing_required_field_is_a_400(api_client):
    response = api_client.post("/api/v1/addresses/", {"full_name": "Only a name"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) >= {"line1", "city", "postal_code", "country"}


@pytest.mark.django_db
def test_another_users_address_is_a_404_everywhere(api_client, other_address):
    url = f"/api/v1/addresses/{other_address.pk}/"
    for response in [
        api_client.get(url),
        api_client.patch(url, {"city": "Stolen"}, format="json"),
        api_client.put(url, VALID, format="json"),
        api_client.delete(url),
        api_client.post(url + "default/"),
    ]:
        assert response.status_code == 404
        assert response.json()["code"] == "address_not_found"
    other_address.refresh_from_db()
    assert other_address.city != "Stolen"
    assert api_client.get("/api/v1/addresses/").json()["count"] == 0


@pytest.mark.django_db
def test_unknown_address_is_a_404(api_client):
    assert api_client.get("/api/v1/addresses/999999/").status_code == 404


@pytest.mark.django_db
def test_address_list_is_paginated(api_client, user):
    AddressFactory.create_batch(3, user=user)
    body = api_client.get("/api/v1/addresses/?page_size=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


@pytest.mark.django_db
def test_schema_documents_the_accounts_endpoints(api_client):
    response = api_client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/me/" in paths
    assert "/api/v1/addresses/{id}/default/" in paths
