"""The cart in place: with JavaScript, adding from the product page and changing the cart update the page
(and the header's cart count) without loading a new page; without JavaScript the same forms post and redirect."""

import re

import pytest
from playwright.sync_api import expect

from shop.cart.models import CartLine
from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.journeys import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MARKER = "window.__samePage"


def mark(page) -> None:
    """Leave a value on the window: a full page load wipes it, an in-place update keeps it."""
    page.evaluate(f"{MARKER} = 'still here'")


def assert_same_page(page) -> None:
    assert page.evaluate(f"{MARKER}") == "still here", "the page was loaded again"


def header_count(page):
    return page.locator("header a.cart-link[href='/cart/'] [data-cart-count]")


def test_product_page_and_cart_update_in_place_with_javascript(page, shot, shop_catalog, verified_user):
    cat = shop_catalog
    user = verified_user("erin.e2e@example.com")
    log_in(page, user.email)

    page.goto(f"/p/{cat.aurora.slug}/")
    expect(header_count(page)).to_have_text("0")
    expect(page.locator("[data-cart-add-status]")).to_be_hidden()
    mark(page)
    form = page.locator("form[action='/cart/add/']")
    form.locator("input[name=quantity]").fill("2")
    form.locator("button[type=submit]").click()
    status = page.locator("[data-cart-add-status]")
    expect(status).to_be_visible()
    expect(status).to_contain_text("Added to your cart.")
    expect(status.locator("a[href='/cart/']")).to_be_visible()
    expect(header_count(page)).to_have_text("2")
    expect(page).to_have_url(re.compile(rf"/p/{cat.aurora.slug}/$"))
    assert_same_page(page)
    assert list(CartLine.objects.filter(cart__user=user).values_list("quantity", flat=True)) == [2]
    expect(form.locator("button[type=submit]")).to_be_enabled()  # ready to add more
    shot(page, "added-in-place")

    # Asking for more than the stock is refused in place, and the count stays.
    form.locator("input[name=quantity]").fill("9")
    form.locator("button[type=submit]").click()
    expect(status).to_contain_text("Only 10")
    expect(header_count(page)).to_have_text("2")
    assert_same_page(page)

    page.goto("/cart/")
    mark(page)
    row = page.locator(f"tr[data-line='{cat.aurora.pk}']")
    row.locator("input[name=quantity]").fill("3")
    row.locator("button[type=submit]", has_text="Update").click()
    expect(page.locator("[data-cart-subtotal]")).to_contain_text("237.00")
    expect(header_count(page)).to_have_text("3")
    assert_same_page(page)
    shot(page, "cart-updated-in-place")

    page.locator(f"tr[data-line='{cat.aurora.pk}'] form[action$='/remove/'] button").click()
    expect(page.locator("#cart")).to_contain_text("Your cart is empty.")
    expect(header_count(page)).to_have_text("0")
    assert_same_page(page)
    assert not CartLine.objects.filter(cart__user=user).exists()
    assert not page.js_errors, page.js_errors


@pytest.fixture
def no_js_page(browser, live_server, exchange_rates):
    context = browser.new_context(base_url=live_server.url, locale="en-US", java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.javascript_off = True  # shot() cannot run axe-core here; the JavaScript tests check these pages
    yield page
    context.close()


def test_the_same_flows_work_without_javascript(no_js_page, shot, shop_catalog):
    cat = shop_catalog
    page = no_js_page
    page.goto(f"/p/{cat.aurora.slug}/")
    expect(header_count(page)).to_have_text("0")
    expect(page.locator("[data-cart-add-status]")).to_be_hidden()  # nothing would ever fill it
    form = page.locator("form[action='/cart/add/']")
    form.locator("input[name=quantity]").fill("2")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/cart/$"))
    expect(page.locator(".messages")).to_contain_text("Added to your cart.")
    expect(header_count(page)).to_have_text("2")
    expect(page.locator("[data-cart-add-status]")).to_have_count(0)
    shot(page, "added-by-post")

    row = page.locator(f"tr[data-line='{cat.aurora.pk}']")
    row.locator("input[name=quantity]").fill("3")
    with page.expect_navigation():
        row.locator("button[type=submit]", has_text="Update").click()
    expect(page).to_have_url(re.compile(r"/cart/$"))
    expect(page.locator("[data-cart-subtotal]")).to_contain_text("237.00")
    expect(header_count(page)).to_have_text("3")
    shot(page, "cart-updated-by-post")

    with page.expect_navigation():
        page.locator(f"tr[data-line='{cat.aurora.pk}'] form[action$='/remove/'] button").click()
    expect(page.locator("#cart")).to_contain_text("Your cart is empty.")
    expect(header_count(page)).to_have_text("0")
