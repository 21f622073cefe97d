"""The storefront at a desktop and a phone size, axe-core on every page (via `shot`):
browse, search with a typo, pick from the gallery, add, wishlist, ask for a restock
alert, check out, the order page, the wallet, review, report a review; screenshots in
tests/e2e/screenshots/<test>/."""

import re

import pytest
from playwright.sync_api import expect

from catalog.demo_images import product_shots
from catalog.engagement.models import ReviewReport, StockAlert, WishlistItem
from catalog.services.products import product_create, product_image_add
from catalog.services.recommendations import product_purchase_record
from catalog.services.reviews import review_create
from shop.orders.models import Order
from tests.e2e.journeys import (
    ADDRESS,
    add_to_cart_from_product_page,
    address_fill,
    open_wallet,
    sign_up,
    wallet_deposit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _no_sideways_scroll(page):
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll on {page.url}: {width}"


def _first_card_in_first_screen(page, height: int):
    top = page.locator(".product-card").first.bounding_box()["y"]
    assert top < height - 100, f"first product at {top}px on {page.url}"


@pytest.fixture
def storefront(shop_catalog, verified_user):
    """The small catalogue with gallery shots, an out-of-stock kettle and a review to report."""
    from decimal import Decimal

    for view, data in enumerate(product_shots("Headphones", (52, 120, 246), 0.5)):
        product_image_add(product=shop_catalog.aurora, data=data, filename=f"aurora-{view}.jpg",
                          alt=f"Aurora Wireless Headphones, view {view + 1}")
    shop_catalog.kettle = product_create(
        sku="KT-NIMBUS", name="Nimbus Kettle", brand="Boil", category=shop_catalog.books,
        price=Decimal("39.00"), on_hand=0, description="A quiet kettle.",
    )
    critic = verified_user(email="critic.e2e@example.com", full_name="Cora Critic")
    product_purchase_record(user=critic, lines=[(shop_catalog.aurora.pk, 1)], reference="E2E-CRITIC")
    review_create(user=critic, product=shop_catalog.aurora, rating=2, title="Rattles", body="The left cup rattles.")
    return shop_catalog


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_storefront_journey(new_page, shot, mailbox, psp, storefront, phone):
    cat = storefront
    page = new_page(phone=phone)
    height = 844 if phone else 900
    page.goto("/")
    _first_card_in_first_screen(page, height)
    _no_sideways_scroll(page)
    shot(page, "home")
    if phone:  # one header row; the menu button opens the category navigation
        header = page.locator("header .header-row").bounding_box()
        assert header["height"] < 70, header
        page.locator("[data-menu-toggle]").click()
        expect(page.locator(".category-nav")).to_be_visible()
        shot(page, "menu-open")
        page.locator("[data-menu-close]").click()

    # A typo still finds the headphones.
    page.locator("header input[name=q]").fill("hedphone")
    page.locator("header input[name=q]").press("Enter")
    page.wait_for_load_state()
    expect(page.locator(".product-card")).to_have_count(2)
    _first_card_in_first_screen(page, height)
    _no_sideways_scroll(page)
    shot(page, "search-typo")
    if phone:  # filters open in a drawer
        expect(page.locator("#filters")).to_be_hidden()
        page.locator("[data-drawer-toggle]").click()
        expect(page.locator("#filters")).to_be_visible()
        shot(page, "filters-drawer")
        page.locator("[data-drawer-close]").click()

    # The category page, with its breadcrumbs.
    page.goto(cat.headphones.get_absolute_url())
    expect(page.locator(".breadcrumbs li")).to_have_count(3)  # Home / Electronics / Headphones
    _first_card_in_first_screen(page, height)
    shot(page, "category")

    # Product page: the gallery swaps pictures and zooms; stock in words.
    page.goto(cat.aurora.get_absolute_url())
    expect(page.locator(".stock")).to_have_text("In stock")
    main = page.locator("[data-gallery-main] img")
    first_src = main.get_attribute("src")
    page.locator("[data-gallery-thumb]").nth(1).click()
    expect(main).not_to_have_attribute("src", first_src)
    page.locator("[data-gallery-main]").click()
    expect(page.locator("[data-zoom]")).to_be_visible()
    shot(page, "product-zoom")
    page.locator("[data-zoom] button").click()
    expect(page.locator("[data-zoom]")).to_be_hidden()
    expect(page.locator(".distribution li")).to_have_count(5)
    _no_sideways_scroll(page)
    shot(page, "product")

    # Out of stock: ask to be told when it is back.
    page.goto(cat.kettle.get_absolute_url())
    expect(page.locator(".stock")).to_have_text("Out of stock")
    page.locator("form.stock-alert input[name=email]").fill("guest.e2e@example.com")
    page.locator("form.stock-alert button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".message.success")).to_be_visible()
    shot(page, "stock-alert-asked")
    assert StockAlert.objects.filter(product=cat.kettle, email="guest.e2e@example.com").count() == 1

    # Sign up, save to the wishlist, add to the cart.
    email = f"store-{'phone' if phone else 'desk'}@example.com"
    sign_up(page, shot, mailbox, email)
    page.goto(cat.aurora.get_absolute_url())
    page.locator("form.wishlist-form button").click()
    page.wait_for_load_state()
    page.goto("/wishlist/")
    expect(page.locator(".wishlist-item")).to_have_count(1)
    shot(page, "wishlist")
    assert WishlistItem.objects.filter(user__email=email).count() == 1
    add_to_cart_from_product_page(page, cat.aurora.slug)

    # Wallet top-up, then checkout with the wallet: the address stays in view, the balance shows.
    open_wallet(page, "USD")
    wallet_deposit(page, "USD", "200.00", token="tok_ok")
    page.goto("/cart/")
    page.locator("a[href='/orders/checkout/']").click()
    page.wait_for_load_state()
    address_fill(page, ADDRESS)  # the country is chosen from its list
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".ship-to")).to_contain_text(ADDRESS["city"])
    expect(page.locator(".wallet-balance")).to_contain_text("$200.00")
    page.locator("input[name=payment_method][value=wallet]").check()
    expect(page.locator("[data-card-field]")).to_be_hidden()
    page.locator("input[name=payment_method][value=card]").check()
    expect(page.locator("[data-card-field]")).to_be_visible()
    page.locator("input[name=payment_method][value=wallet]").check()
    shot(page, "checkout-payment")
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()
    page.locator("form[action='/orders/checkout/place/'] button[type=submit]").click()
    page.wait_for_load_state()
    order = Order.objects.get(user__email=email)
    assert order.status == Order.Status.PAID
    body = page.locator("main").inner_text()
    assert not re.search(r"Payment \d", body), body  # no internal ids
    shot(page, "order")

    # The wallet explains its balance: what each movement was, and the balance after it.
    page.goto("/wallet/")
    activity = page.locator("table.wallet-activity")
    expect(activity).to_contain_text("Top-up by card")
    expect(activity).to_contain_text(f"Payment for order {order.number}")
    assert "wallet-" not in activity.inner_text() and "payment:" not in activity.inner_text()
    shot(page, "wallet")

    # Review what was bought, then report another shopper's review.
    page.goto(cat.aurora.get_absolute_url())
    form = page.locator(f"form[action='{cat.aurora.get_absolute_url()}']")
    form.locator("select[name=rating]").select_option("5")
    form.locator("input[name=title]").fill("Lovely sound")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("article.review", has_text="Lovely sound")).to_be_visible()
    page.locator("article.review", has_text="Rattles").locator("a", has_text="Report this review").click()
    page.wait_for_load_state()
    shot(page, "report-review")
    page.locator("textarea[name=reason]").fill("It is about a different model.")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".message.success")).to_be_visible()
    shot(page, "review-reported")
    assert ReviewReport.objects.filter(reporter__email=email).count() == 1
    assert not page.js_errors, page.js_errors
