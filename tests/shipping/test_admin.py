"""Staff configure shipping in admin; invalid input comes back as form errors and saves nothing."""

from decimal import Decimal

import pytest

from shop.shipping.models import Carrier, ShippingMethod, ShippingZone, WeightBand
from tests.shipping.factories import CarrierFactory, ZoneFactory

pytestmark = pytest.mark.django_db

CARRIER_ADD = "/admin/shipping/carrier/add/"

METHOD_ADD = "/admin/shipping/shippingmethod/add/"


def errors_of(response) -> str:
    """Every error message of the admin form and its inlines, joined."""
    context = response.context
    messages = [str(e) for errors in context["adminform"].form.errors.values() for e in errors]
    for formset in context["inline_admin_formsets"]:
        messages += [str(e) for e in formset.formset.non_form_errors()]
        messages += [
            str(e) for form_errors in formset.formset.errors for errs in form_errors.values() for e in errs
        ]
    return " | ".join(messages)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("https://track.example.com/?n=", "{tracking_number}"),
        ("https://track.example.com/?n={tracking_number}&x={other}", "Only {tracking_number}"),
        ("https://track.example.com/?n={{tracking_number}}", "Only {tracking_number}"),
        ("https://track.example.com/{tracking_number}?x=}", "Only {tracking_number}"),
        ("http://track.example.com/?n={tracking_number}", "https://"),
    ],
)
def test_a_tracking_template_must_carry_the_placeholder_and_only_it(admin_client, template, message):
    response = admin_client.post(
        CARRIER_ADD, {"code": "dhl", "name": "DHL", "tracking_url_template": template, "is_active": "on"}
    )
    assert response.status_code == 200
    assert message in errors_of(response)
    assert not Carrier.objects.exists()


def test_a_valid_carrier_is_saved(admin_client):
    response = admin_client.post(
        CARRIER_ADD,
        {
            "code": "ups",
            "name": "UPS",
            "tracking_url_template": "https://www.ups.com/track?tracknum={tracking_number}",
        },
    )
    assert response.status_code == 302
    assert Carrier.objects.get().code == "ups"


def test_a_zone_takes_only_countries_the_shop_ships_to(admin_client):
    response = admin_client.post(
        "/admin/shipping/shippingzone/add/", {"name": "Nowhere", "countries": ["XX"]}
    )
    assert response.status_code == 200 and "XX" in errors_of(response)
    response = admin_client.post("/admin/shipping/shippingzone/add/", {"name": "Empty"})
    assert response.status_code == 200 and errors_of(response)
    assert not ShippingZone.objects.exists()
    response = admin_client.post(
        "/admin/shipping/shippingzone/add/", {"name": "DACH", "countries": ["DE", "CH", "AT"]}
    )
    assert response.status_code == 302
    assert ShippingZone.objects.get().countries == ["AT", "CH", "DE"]


def test_a_zone_with_an_unknown_code_is_refused_by_the_model_too():
    from django.core.exceptions import ValidationError

    zone = ShippingZone(name="Bad", countries=["de", "ZZ"])
    with pytest.raises(ValidationError) as refused:
        zone.full_clean()
    assert "ZZ" in str(refused.value)


def method_form(carrier, zone, *, kind="flat", low=1, high=3, prices=(), bands=()):
    data = {
        "name": "Standard",
        "carrier": carrier.pk,
        "zones": [zone.pk],
        "kind": kind,
        "min_delivery_days": low,
        "max_delivery_days": high,
        "is_active": "on",
    }
    for prefix, rows in (("prices", prices), ("weight_bands", bands)):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": len(rows),
                f"{prefix}-INITIAL_FORMS": 0,
                f"{prefix}-MIN_NUM_FORMS": 0,
                f"{prefix}-MAX_NUM_FORMS": 1000,
            }
        )
        for i, row in enumerate(rows):
            data.update({f"{prefix}-{i}-{key}": value for key, value in row.items()})
    return data


@pytest.fixture
def carrier_zone():
    return CarrierFactory(), ZoneFactory()


def test_a_valid_by_weight_method_is_saved_with_its_bands(admin_client, carrier_zone):
    data = method_form(
        *carrier_zone,
        kind="by_weight",
        prices=[{"currency": "EUR", "price": "", "free_above": "50.00"}],
        bands=[
            {"currency": "EUR", "max_weight_grams": 2000, "price": "4.99"},
            {"currency": "EUR", "max_weight_grams": 5000, "price": "6.99"},
        ],
    )
    response = admin_client.post(METHOD_ADD, data)
    assert response.status_code == 302, errors_of(response)
    method = ShippingMethod.objects.get()
    assert list(method.weight_bands.values_list("max_weight_grams", "price")) == [
        (2000, Decimal("4.99")),
        (5000, Decimal("6.99")),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"low": 5, "high": 2}, "first delivery day"),
        ({"prices": [{"currency": "EUR", "price": "", "free_above": ""}]}, "needs its flat price"),
        ({"prices": [{"currency": "EUR", "price": "-1.00", "free_above": ""}]}, "cannot be negative"),
        ({"prices": [{"currency": "EUR", "price": "4.99", "free_above": "0"}]}, "above zero"),
        (
            {
                "prices": [
                    {"currency": "EUR", "price": "4.99", "free_above": ""},
                    {"currency": "EUR", "price": "5.99", "free_above": ""},
                ]
            },
            "duplicate",
        ),
        (
            {
                "prices": [{"currency": "EUR", "price": "4.99", "free_above": ""}],
                "bands": [{"currency": "EUR", "max_weight_grams": 1000, "price": "1.00"}],
            },
            "by-weight methods only",
        ),
        (
            {"kind": "by_weight", "prices": [{"currency": "EUR", "price": "4.99", "free_above": "50"}]},
            "leave this empty",
        ),
        (
            {
                "kind": "by_weight",
                "bands": [
                    {"currency": "EUR", "max_weight_grams": 2000, "price": "4.99"},
                    {"currency": "EUR", "max_weight_grams": 2000, "price": "5.99"},
                ],
            },
            "duplicate",
        ),
        (
            {"kind": "by_weight", "bands": [{"currency": "EUR", "max_weight_grams": 0, "price": "4.99"}]},
            "above zero",
        ),
        (
            {"kind": "by_weight", "bands": [{"currency": "EUR", "max_weight_grams": 100, "price": "-4.99"}]},
            "cannot be negative",
        ),
    ],
)
def test_invalid_methods_come_back_as_form_errors_and_save_nothing(
    admin_client, carrier_zone, changes, message
):
    response = admin_client.post(METHOD_ADD, method_form(*carrier_zone, **changes))
    assert response.status_code == 200
    assert message in errors_of(response)
    assert not ShippingMethod.objects.exists() and not WeightBand.objects.exists()


def test_a_by_weight_method_with_bands_cannot_become_flat(admin_client, carrier_zone):
    data = method_form(
        *carrier_zone,
        kind="by_weight",
        bands=[{"currency": "EUR", "max_weight_grams": 1000, "price": "1.00"}],
    )
    assert admin_client.post(METHOD_ADD, data).status_code == 302
    method = ShippingMethod.objects.get()
    band = method.weight_bands.get()
    change = method_form(
        *carrier_zone, kind="flat", prices=[{"currency": "EUR", "price": "3.00", "free_above": ""}]
    )
    change.update(
        {
            "weight_bands-TOTAL_FORMS": 1,
            "weight_bands-INITIAL_FORMS": 1,
            "weight_bands-0-id": band.pk,
            "weight_bands-0-method": method.pk,
            "weight_bands-0-currency": "EUR",
            "weight_bands-0-max_weight_grams": 1000,
            "weight_bands-0-price": "1.00",
        }
    )
    response = admin_client.post(f"/admin/shipping/shippingmethod/{method.pk}/change/", change)
    assert response.status_code == 200 and "by-weight methods only" in errors_of(response)
    method.refresh_from_db()
    assert method.kind == ShippingMethod.Kind.BY_WEIGHT


def test_carrier_events_are_read_only_in_admin(admin_client):
    assert admin_client.get("/admin/shipping/carrierevent/").status_code == 200
    assert admin_client.get("/admin/shipping/carrierevent/add/").status_code == 403
