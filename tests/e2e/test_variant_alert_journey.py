"""A German shopper sees the catalogue in German (names, option labels) and asks to be told when a
sold-out size comes back; the restock e-mails once. On a phone, axe-checked by `shot`."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from catalog.engagement.models import StockAlert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_german_shopper_asks_for_a_sold_out_size(new_page, shot, django_capture_on_commit_callbacks):
    from catalog.models import OptionValue, ProductOption
    from catalog.services.products import product_update
    from catalog.services.stock import stock_restock
    from tests.catalog.factories import make_apparel

    product, variants = make_apparel(name="Linen Shirt", sizes=("M", "L"), colours=("Red",), stock={("M", "Red"): 2})
    product_update(product=product, name_de="Leinenhemd")
    ProductOption.objects.filter(code="colour").update(name_de="Farbe")
    OptionValue.objects.filter(value="Red").update(label_de="Rot")
    page = new_page(locale="de-DE", phone=True)
    page.goto(f"/p/{product.slug}/")
    expect(page.locator("h1")).to_have_text("Leinenhemd")
    expect(page.locator("form[data-variant-picker] legend").filter(has_text="Farbe")).to_have_count(1)
    alert = page.locator("form.stock-alert")
    expect(alert.locator("select[name=variant] option")).to_have_text(["L / Rot"])
    alert.get_by_label("Ihre E-Mail-Adresse").fill("lena@example.com")
    shot(page, "variant-alert-de-phone")
    alert.locator("button[type=submit]").click()
    expect(page.locator(".message").first).to_be_visible()
    assert StockAlert.objects.get().variant_id == variants[("L", "Red")].pk
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        stock_restock(variant_id=variants[("L", "Red")].pk, quantity=1, reason="delivery")
        stock_restock(variant_id=variants[("L", "Red")].pk, quantity=1, reason="delivery")
    assert [m.to for m in mail.outbox] == [["lena@example.com"]]
    assert "Leinenhemd (L / Rot)" in mail.outbox[0].subject  # in the language the shopper asked in
