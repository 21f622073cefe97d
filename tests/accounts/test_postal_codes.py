"""Postal codes per country (DE, FR five digits; GB postcode; US ZIP or ZIP+4; others lenient), in the
address book's services, its API and its pages; countries named by django-countries."""

import pytest
from django.utils import translation

from accounts import services
from accounts.countries import COUNTRY_CODES, country_choices, country_name
from accounts.exceptions import AddressInvalid
from accounts.postal_codes import PostalCodeInvalid, postal_code_normalize

VALID = {"full_name": "Ann Example", "line1": "Main St 1", "city": "Town"}


@pytest.mark.parametrize(
    "country, typed, stored",
    [
        ("DE", "10115", "10115"),
        ("DE", " 01067 ", "01067"),
        ("FR", "75001", "75001"),
        ("GB", "SW1A 1AA", "SW1A 1AA"),
        ("GB", "sw1a1aa", "SW1A 1AA"),
        ("GB", "M1 1AE", "M1 1AE"),
        ("GB", "B33 8TH", "B33 8TH"),
        ("GB", "CR2 6XH", "CR2 6XH"),
        ("GB", "DN55 1PT", "DN55 1PT"),
        ("GB", "W1A 0AX", "W1A 0AX"),
        ("US", "12345", "12345"),
        ("US", "12345-6789", "12345-6789"),
        ("JP", "100-0001", "100-0001"),
        ("NL", "1012 ab", "1012 AB"),
        ("CA", "K1A 0B1", "K1A 0B1"),
    ],
)
def test_a_postal_code_that_fits_its_country_is_stored_normalised(country, typed, stored):
    assert postal_code_normalize(country, typed) == stored


@pytest.mark.parametrize(
    "country, typed",
    [
        ("DE", "1011"),
        ("DE", "101155"),
        ("DE", "1O115"),
        ("DE", ""),
        ("FR", "7500"),
        ("FR", "75 001"),
        ("FR", "2A004"),
        ("GB", "12345"),
        ("GB", "SW1A"),
        ("GB", "SW1A 1A"),
        ("GB", "1SW 1AA"),
        ("US", "1234"),
        ("US", "123456"),
        ("US", "12345-678"),
        ("US", "ABCDE"),
        ("JP", "!!!"),
        ("NL", "x" * 21),
    ],
)
def test_a_postal_code_that_does_not_fit_its_country_is_refused(country, typed):
    with pytest.raises(PostalCodeInvalid):
        postal_code_normalize(country, typed)


@pytest.mark.django_db
def test_the_address_book_refuses_a_bad_postal_code_naming_the_field(user):
    with pytest.raises(AddressInvalid) as refused:
        services.address_create(user=user, **VALID, postal_code="1234", country="US")
    assert refused.value.field == "postal_code"
    assert "ZIP" in str(refused.value.message)
    address = services.address_create(user=user, **VALID, postal_code="ec1a1bb", country="gb")
    assert (address.country, address.postal_code) == ("GB", "EC1A 1BB")


@pytest.mark.django_db
def test_the_address_api_answers_400_with_the_field(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        "/api/v1/addresses/", {**VALID, "postal_code": "7500", "country": "FR"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "postal_code"


def test_the_country_names_come_from_django_countries_in_the_active_language():
    assert len(country_choices()) == len(COUNTRY_CODES)
    assert {code for code, _name in country_choices()} == COUNTRY_CODES
    assert country_name("DE") == "Germany"
    with translation.override("de"):
        assert country_name("DE") == "Deutschland"
        assert dict(country_choices())["GB"] == "Vereinigtes Königreich"
    assert country_name("XX") == "XX"
