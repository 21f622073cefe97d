"""A new shopper signs up, verifies the e-mail code, manages the profile and addresses, and
switches the site to German and euros."""

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from accounts.models import Address, User
from tests.e2e.journeys import sign_up, switch_currency, switch_language

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_shopper_signs_up_verifies_adds_address_and_switches_to_german_and_eur(page, shot, mailbox):
    email = "ann.e2e@example.com"
    sign_up(page, shot, mailbox, email)

    user = User.objects.get(email=email)
    assert EmailAddress.objects.get(user=user, email=email).verified

    page.goto("/account/")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text(email).first).to_be_visible()
    expect(page.locator(".badge.ok")).to_be_visible()  # "verified"
    shot(page, "profile")

    page.locator("input[name=full_name]").fill("Ann Example")
    page.locator("form[action='/account/'] button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_be_visible()
    user.refresh_from_db()
    assert user.full_name == "Ann Example"

    page.goto("/account/addresses/")
    page.get_by_role("link", name="Add an address").click()
    page.wait_for_load_state()
    shot(page, "address-form")
    page.locator("input[name=full_name]").fill("Ann Example")
    page.locator("input[name=line1]").fill("Hauptstrasse 1")
    page.locator("input[name=postal_code]").fill("10115")
    page.locator("input[name=city]").fill("Berlin")
    page.locator("select[name=country]").select_option("DE")
    page.locator("input[name=is_default_shipping]").check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    expect(page).to_have_url(f"{page.url.split('/account/')[0]}/account/addresses/")
    expect(page.get_by_text("Hauptstrasse 1")).to_be_visible()
    shot(page, "address-added")
    address = Address.objects.get(user=user)
    assert (address.city, address.country) == ("Berlin", "DE")

    page.goto("/account/")
    expect(page.get_by_text("Hauptstrasse 1")).to_be_visible()  # shown as the default shipping address

    switch_language(page, "de")
    # Django's own catalogue names the languages in German in the profile form.
    expect(page.locator("select[name=preferred_language] option[value=de]")).to_have_text("Deutsch")
    switch_currency(page, "EUR")
    shot(page, "profile-german-eur")

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("select[name=currency]")).to_have_value("EUR")
    shot(page, "home-german-eur")
    assert not page.js_errors, page.js_errors
