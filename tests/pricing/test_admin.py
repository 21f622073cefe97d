"""Staff manage rates and vouchers in admin; a voucher's use count is not theirs to edit."""

from decimal import Decimal

import pytest
from django.urls import reverse

from shop.pricing.models import TaxRate, Voucher

pytestmark = pytest.mark.django_db


def test_staff_add_a_tax_rate_and_a_fixed_voucher_with_its_amounts(admin_client):
    response = admin_client.post(
        reverse("admin:pricing_taxrate_add"),
        {"country": "AT", "region": "", "tax_class": "standard", "rate": "20", "note": ""},
    )
    assert response.status_code == 302, response.content
    assert TaxRate.objects.get(country="AT").rate == Decimal("20")
    response = admin_client.post(
        reverse("admin:pricing_voucher_add"),
        {
            "code": "WELCOME5",
            "kind": "fixed",
            "percentage": "",
            "starts_at_0": "2026-01-01",
            "starts_at_1": "00:00:00",
            "ends_at_0": "",
            "ends_at_1": "",
            "usage_limit": "100",
            "per_customer_limit": "1",
            "is_active": "on",
            "uses": "99",
            "amounts-TOTAL_FORMS": "1",
            "amounts-INITIAL_FORMS": "0",
            "amounts-0-currency": "EUR",
            "amounts-0-amount": "5.00",
            "amounts-0-minimum_spend": "25.00",
        },
    )
    assert response.status_code == 302, response.content
    voucher = Voucher.objects.get(code="WELCOME5")
    assert voucher.uses == 0
    assert [(a.currency, a.amount, a.minimum_spend) for a in voucher.amounts.all()] == [
        ("EUR", Decimal("5.00"), Decimal("25.00"))
    ]


def test_a_second_voucher_with_the_same_code_in_another_case_is_refused(admin_client):
    Voucher.objects.create(code="SUMMER", kind="percentage", percentage=10, starts_at="2026-01-01T00:00Z")
    response = admin_client.post(
        reverse("admin:pricing_voucher_add"),
        {
            "code": "summer",
            "kind": "percentage",
            "percentage": "5",
            "starts_at_0": "2026-01-01",
            "starts_at_1": "00:00:00",
            "amounts-TOTAL_FORMS": "0",
            "amounts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert Voucher.objects.count() == 1
