"""At a desktop and a phone size, axe-core on every page (via `shot`): a promotion's old and new price on
the category and product pages, the delivery estimate, voting a review helpful (and taking it back),
and breadcrumbs on the cart, checkout and account pages."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import Review
from catalog.services.recommendations import product_purchase_record
from catalog.services.reviews import review_create
from shop.pricing.models import Promotion
from shop.shipping import demo as shipping_demo
from tests.e2e.journeys import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def promoted(shop_catalog, verified_user, settings):
    """20 % off Electronics (so its Headphones subcategory too), the demo carriers, a review to vote on."""
    import io

    settings.SHOP_DEFAULT_COUNTRY = "DE"
    sale = Promotion.objects.create(name="Winter sale", kind="percentage", percentage=Decimal("20"),
                                    starts_at=timezone.now() - timedelta(days=1))
    sale.categories.add(shop_catalog.headphones.get_parent())
    shipping_demo.load(stdout=io.StringIO())
    critic = verified_user(email="critic.promo@example.com", full_name="Cora Critic")
    product_purchase_record(user=critic, lines=[(shop_catalog.aurora.pk, 1)], reference="E2E-PROMO")
    review_create(user=critic, product=shop_catalog.aurora, rating=4, title="Comfortable", body="Light and clear.")
    return shop_catalog


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_promotions_delivery_estimate_helpful_votes_and_breadcrumbs(new_page, shot, verified_user, promoted, phone):
    cat = promoted
    shopper = verified_user("vera.promo@example.com", full_name="Vera Voter")
    page = new_page(phone=phone)

    page.goto(cat.headphones.get_absolute_url())
    card = page.locator(".product-card", has_text="Aurora Wireless Headphones")
    expect(card.locator(".price-new")).to_have_text("$63.20")
    expect(card.locator(".price-old")).to_contain_text("$79.00")
    shot(page, "category-promoted")

    log_in(page, shopper.email)
    page.goto(cat.aurora.get_absolute_url())
    expect(page.locator(".price-lg .price-new")).to_have_text("$63.20")
    expect(page.locator("[data-delivery-estimate]")).to_contain_text("Delivered in 1-3 working days to Germany")
    review = Review.objects.get(product=cat.aurora)
    button = page.locator(f"#review-{review.pk} form button")
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    page.wait_for_load_state()
    expect(page.locator(f"#review-{review.pk} form button")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f"#review-{review.pk}")).to_contain_text("1 shopper found this helpful")
    shot(page, "review-voted-helpful")
    review.refresh_from_db()
    assert review.helpful_count == 1
    page.locator(f"#review-{review.pk} form button").click()  # the same button takes it back
    page.wait_for_load_state()
    expect(page.locator(f"#review-{review.pk} form button")).to_have_attribute("aria-pressed", "false")
    review.refresh_from_db()
    assert review.helpful_count == 0

    for url, trail in (
        ("/cart/", ["Home", "Your cart"]),
        ("/orders/", ["Home", "Your account", "Your orders"]),
        ("/account/addresses/", ["Home", "Your account", "Your addresses"]),
        ("/wallet/", ["Home", "Your account", "Wallet"]),
        ("/wishlist/", ["Home", "Your account", "Your wishlist"]),
    ):
        page.goto(url)
        expect(page.locator(".breadcrumbs li")).to_have_text(trail)
        shot(page, "breadcrumbs-" + url.strip("/").replace("/", "-"))
