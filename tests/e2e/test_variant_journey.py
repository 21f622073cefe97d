"""Pick size and colour on the product page (sold-out choices marked, price and stock following the
choice without a reload), add, check out, see the order: on a desktop and on a phone."""

import re

import pytest
from playwright.sync_api import expect

from shop.cart.models import CartLine
from shop.orders.models import Order, OrderLineAllocation
from tests.e2e.journeys import ADDRESS, checkout, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _assert_accessible(page, selector: str) -> None:
    """No serious or critical axe-core violation inside `selector` (axe's script is bundled, not fetched)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context=selector)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, [(v["id"], [n["target"] for n in v["nodes"]]) for v in bad]


def _exactly(text: str):
    return re.compile(rf"^\s*{text}\s*$")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_pick_size_and_colour_then_check_out(page, shot, psp, exchange_rates, verified_user, viewport):
    from tests.catalog.factories import make_apparel

    page.set_viewport_size(viewport)
    product, variants = make_apparel(stock={("M", "Red"): 3, ("L", "Blue"): 1})
    chosen = variants[("L", "Blue")]
    user = verified_user("vera.e2e@example.com")
    log_in(page, user.email)

    page.goto(f"/p/{product.slug}/")
    page.evaluate("window.__samePage = 'yes'")
    form = page.locator("form[data-variant-picker]")
    # The first variant in stock is preselected; Small is out of stock in every colour.
    expect(form.locator("input[name=option-size][value=M]")).to_be_checked()
    expect(form.locator("label.sold-out").filter(has_text=_exactly("S"))).to_have_count(1)
    form.get_by_label("L", exact=True).check()
    expect(form.locator("label.sold-out").filter(has_text=_exactly("Red"))).to_have_count(1)  # L in red: none
    form.get_by_label("Blue", exact=True).check()
    expect(form.locator("[data-variant-stock]")).to_have_text(re.compile("1"))
    expect(form.locator("[data-variant-price]")).to_contain_text("20.00")
    assert page.evaluate("window.__samePage") == "yes"  # no reload
    expect(form.locator("[data-variant-input]")).to_have_value(str(chosen.pk))
    shot(page, f"variant-picked-{viewport['width']}")
    _assert_accessible(page, "form[data-variant-picker]")
    form.locator("button[type=submit]").click()
    expect(page.locator("[data-cart-add-status].success")).to_be_visible()
    line = CartLine.objects.get(cart__user=user)
    assert (line.variant_id, line.quantity) == (chosen.pk, 1)

    page.goto("/cart/")
    expect(page.locator(f"tr[data-variant='{chosen.pk}'] [data-option=size]")).to_have_text("L")
    checkout(page, shot, payment_method="card", card_token="tok_ok", new_address=ADDRESS)
    expect(page).to_have_url(re.compile(r"/orders/[^/]+/$"))
    order = Order.objects.get(user=user)
    assert order.status == Order.Status.PAID
    expect(page.locator("h1")).to_contain_text(order.number)
    expect(page.locator("main")).to_contain_text(chosen.sku)
    assert OrderLineAllocation.objects.get(line__order=order).quantity == 1
    shot(page, f"variant-order-{viewport['width']}")
    _assert_accessible(page, "main table")  # the lines; the messages list has a known listitem issue
    assert not page.js_errors, page.js_errors
