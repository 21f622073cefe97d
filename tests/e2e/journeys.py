"""Steps shared by the browser journeys: sign up, verify, log in, switch locale."""

import re

from playwright.sync_api import Page, expect

PASSWORD = "Corr3ct-Horse-Battery"
CODE_LINE = re.compile(r"^\s*([A-Z0-9][A-Z0-9-]{3,15})\s*$", re.MULTILINE)


def verification_code(mailbox, email: str) -> str:
    """The code of the last verification e-mail sent to `email`."""
    messages = [m for m in mailbox if email in m.to]
    assert messages, f"no e-mail was sent to {email}; outbox: {[m.subject for m in mailbox]}"
    match = CODE_LINE.search(messages[-1].body)
    assert match, f"no verification code in the e-mail body:\n{messages[-1].body}"
    return match.group(1)


def sign_up(page: Page, shot, mailbox, email: str, password: str = PASSWORD) -> None:
    """Sign up with e-mail and password, enter the e-mailed code: ends logged in."""
    page.goto("/accounts/signup/")
    shot(page, "signup")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password1]").fill(password)
    page.locator("input[name=password2]").fill(password)
    page.locator("form.card button[type=submit]").first.click()
    page.wait_for_load_state()
    expect(page.locator("input[name=code]")).to_be_visible()
    shot(page, "verification-code-asked")
    page.locator("input[name=code]").fill(verification_code(mailbox, email))
    page.locator("form.card button[type=submit]").first.click()
    page.wait_for_load_state()
    # Logged in: the header offers "Log out" (a form button), not "Log in" (on a phone it sits in the menu).
    expect(page.locator("form[action='/accounts/logout/'] button")).to_have_count(1)
    expect(page.locator("a[href='/accounts/login/']")).to_have_count(0)
    shot(page, "verified-and-logged-in")


def log_in(page: Page, email: str, password: str = PASSWORD, next_url: str = "") -> None:
    page.goto("/accounts/login/" + (f"?next={next_url}" if next_url else ""))
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form.card button[type=submit]").first.click()
    page.wait_for_load_state()
    # Signed in: the header's menu holds the log-out button (on a phone the menu is closed).
    expect(page.locator("form[action='/accounts/logout/'] button")).to_be_attached()


def log_out(page: Page) -> None:
    button = page.locator("form[action='/accounts/logout/'] button")
    if not button.is_visible():  # a phone: the button is in the closed menu
        page.locator("[data-menu-toggle]").click()
    button.click()
    page.wait_for_load_state()
    expect(page.locator("a[href='/accounts/login/']")).to_be_visible()


def switch_language(page: Page, code: str) -> None:
    """Pick a language in the header switcher (submits on change, like a shopper would)."""
    with page.expect_navigation():
        page.locator("select[name=language]").select_option(code)
    expect(page.locator("html")).to_have_attribute("lang", code)


def switch_currency(page: Page, code: str) -> None:
    with page.expect_navigation():
        page.locator("select[name=currency]").select_option(code)
    expect(page.locator("select[name=currency]")).to_have_value(code)


def open_wallet(page: Page, currency: str) -> None:
    page.goto("/wallet/")
    form = page.locator("form[action='/wallet/open/']")
    form.locator("select[name=currency]").select_option(currency)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("section.card h2", has_text=currency).first).to_be_visible()


def wallet_deposit(page: Page, currency: str, amount: str, token: str = "tok_ok") -> None:
    """Deposit by (sandbox) card from the wallet overview; ends on the payment's outcome page."""
    page.goto("/wallet/")
    card = page.locator("section.card", has=page.locator("h2", has_text=currency)).first
    card.locator("a[href$='/deposit/']").click()
    page.wait_for_load_state()
    page.locator("input[name=amount]").fill(amount)
    page.locator("select[name=card_token]").select_option(token)
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()


def add_to_cart_from_product_page(page: Page, slug: str, quantity: int = 1) -> None:
    page.goto(f"/p/{slug}/")
    form = page.locator("form[action='/cart/add/']")
    form.locator("input[name=quantity]").fill(str(quantity))
    form.locator("button[type=submit]").click()
    # With JavaScript the product page adds in place and says so; the journeys go on from the cart.
    expect(page.locator("[data-cart-add-status].success")).to_be_visible()
    page.goto("/cart/")


def cart_row(page: Page, product) -> "Page":
    return page.locator(f"tr[data-line='{product.pk}']")


def address_fill(page: Page, address: dict) -> None:
    """Type an address into the checkout's form; the country is chosen from its list (django-countries)."""
    for name, value in address.items():
        if name == "country":
            page.locator("main form select[name=country]").select_option(value)
        else:
            page.locator(f"main form input[name={name}]").fill(value)


def checkout(page: Page, shot, *, payment_method: str, card_token: str = "", new_address: dict | None = None) -> None:
    """From the cart through address, payment and review to "place order"; ends on the page that answers."""
    page.goto("/cart/")
    page.locator("a[href='/orders/checkout/']").click()
    page.wait_for_load_state()
    if new_address:
        new = page.locator("input[name=address][value='']")
        if new.count():
            new.check()
        address_fill(page, new_address)
    shot(page, "checkout-address")
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()
    page.locator(f"input[name=payment_method][value={payment_method}]").check()
    if card_token:
        page.locator("select[name=card_token]").select_option(card_token)
    shot(page, f"checkout-payment-{payment_method}{'-' + card_token if card_token else ''}")
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()
    place = page.locator("form[action='/orders/checkout/place/'] button[type=submit]")
    expect(place).to_be_visible()
    shot(page, "checkout-review")
    place.click()
    page.wait_for_load_state()


ADDRESS = {
    "full_name": "Ann Example",
    "line1": "Hauptstrasse 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
