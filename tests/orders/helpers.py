import re

from catalog.models import Stock
from payments.selectors import ledger_unbalanced_transactions, wallets_with_wrong_cached_balance
from tests.shipping.factories import shipping_method_everywhere


def stock_of(product) -> tuple[int, int]:
    """(on_hand, reserved) read from the database."""
    row = Stock.objects.get(product_id=product.id)
    return row.on_hand, row.reserved


def assert_ledger_balanced() -> None:
    assert not ledger_unbalanced_transactions().exists()
    assert wallets_with_wrong_cached_balance() == []


class BrokenEmailBackend:
    """An e-mail backend whose server is down."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionError("SMTP down")


def place_order_form(html: str) -> dict:
    """The hidden fields of the review page's "place order" form, as a browser would send them."""
    form = re.search(r'<form method="post" action="/orders/checkout/place/".*?</form>', html, re.S)
    assert form, "no place-order form on the page"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))


def go_to_review(browser, shopper, method="wallet", card_token=""):
    """Walk a signed-in test client through address and payment to the review page; its place-order form."""
    assert browser.get("/orders/checkout/").status_code == 200
    response = browser.post("/orders/checkout/", {"address": shopper.addresses.first().pk})
    assert response["Location"] == "/orders/checkout/payment/"
    assert browser.get("/orders/checkout/payment/").status_code == 200
    response = browser.post(
        "/orders/checkout/payment/",
        {"shipping_method": shipping_method_everywhere(), "payment_method": method, "card_token": card_token},
    )
    assert response["Location"] == "/orders/checkout/review/"
    review = browser.get("/orders/checkout/review/")
    assert review.status_code == 200
    return place_order_form(review.content.decode())
