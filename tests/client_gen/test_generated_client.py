"""A mobile developer's client, generated from the live schema, runs the whole journey as generated.

openapi-python-client (pinned in requirements-dev.txt, a generator no one here
wrote) generates a package from /api/v1/schema/; any generator warning fails
the test, every generated module must import, and the journey (sign up,
verify, log in, browse, search, cart, wallet, deposit, address, checkout by
wallet and by card, the order, a return, a withdrawal) runs through the
generated functions and models only, against a live server whose payment
provider is the HTTP sandbox.
"""

import importlib
import pkgutil
import re
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail

from shop.orders.models import Order
from tests.catalog.factories import make_product
from tests.orders.shipments import ship_all
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.client_gen

HERE = Path(__file__).resolve().parent
GENERATOR_CONFIG = HERE / "openapi-python-client.yaml"
PACKAGE = "shop_api_client"
PASSWORD = "a-long-mobile-pass-123"


def generate_client(schema_file: Path, out_dir: Path) -> str:
    """Run the pinned generator on the schema; returns its output (fails on a warning or an error)."""
    result = subprocess.run(
        [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(schema_file), "--meta", "none", "--config", str(GENERATOR_CONFIG),
        ],
        cwd=out_dir, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert (out_dir / PACKAGE / "__init__.py").exists(), output
    return output


@pytest.fixture
def client_package(schema_file, tmp_path):
    """The generated package, imported module by module (every one must import)."""
    out_dir = tmp_path / "generated"
    out_dir.mkdir()
    generate_client(schema_file, out_dir)
    sys.path.insert(0, str(out_dir))
    try:
        package = importlib.import_module(PACKAGE)
        modules = [importlib.import_module(info.name) for info in pkgutil.walk_packages(package.__path__, PACKAGE + ".")]
        assert len(modules) > 40
        yield package
    finally:
        sys.path.remove(str(out_dir))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


def _call(operation: str, expected: int, **kwargs):
    """Call a generated operation (`tag.operation_id`), expect a status, return the parsed body."""
    tag, operation_id = operation.split(".")
    response = _module(f"api.{tag}.{operation_id}").sync_detailed(**kwargs)
    assert response.status_code == expected, (operation, response.status_code, response.content[:800])
    return response.parsed


def _verification_code() -> str:
    assert mail.outbox, "no verification e-mail was sent"
    match = re.search(r"where you signed up\.\s+(\S+)", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


@pytest.fixture
def catalogue(psp, settings):
    """Two products in stock (USD prices; the sandbox provider on the live server)."""
    from catalog.services.prices import exchange_rates_load

    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False
    exchange_rates_load()
    return [
        make_product(name="Trail Runner Shoe", price="40.00", on_hand=50),
        make_product(name="Wool Hiking Sock", price="8.00", on_hand=50),
    ]


def _sign_up_verify_and_log_in(base_url: str) -> str:
    """The allauth app flow through the generated `auth` operations; returns a session token."""
    models = _module("models")
    anonymous = _module("client").Client(base_url=base_url)
    email = f"mobile-{uuid.uuid4().hex[:8]}@example.com"
    pending = _call("auth.auth_signup", 401, client=anonymous, body=models.Signup(email=email, password=PASSWORD))
    assert isinstance(pending, models.AuthenticationResponse)
    verified = _call(
        "auth.auth_email_verify", 200, client=anonymous, body=models.VerifyEmail(key=_verification_code()),
        x_session_token=pending.meta.session_token,
    )
    assert verified.meta.is_authenticated
    _call("auth.auth_logout", 401, client=anonymous, x_session_token=verified.meta.session_token)
    logged_in = _call("auth.auth_login", 200, client=anonymous, body=models.Login(email=email, password=PASSWORD))
    token = logged_in.meta.session_token
    session = _call("auth.auth_session", 200, client=anonymous, x_session_token=token)
    assert session.data.user.email == email
    return token


def _browse(api, products) -> int:
    """Categories, search, autocomplete and a product page; returns the id of the product to buy."""
    models = _module("models")
    assert _call("categories.category_tree", 200, client=api)
    page = _call("products.product_search", 200, client=api, search="trail runner", page=1, page_size=10)
    assert isinstance(page, models.ProductPage)
    assert [item.slug for item in page.results] == [products[0].slug]
    suggestions = _call("products.product_autocomplete", 200, client=api, q="Wool")
    assert suggestions.results
    product = _call("products.product_get", 200, client=api, slug=products[0].slug, currency=models.CurrencyEnum.USD)
    assert isinstance(product, models.ProductDetail)
    assert product.price.amount == "40.00" and product.in_stock
    return product.id


def _money(amount: str):
    models = _module("models")
    return models.MoneyAmount(amount=amount, currency=models.CurrencyEnum.USD)


def _place_order(api, *, product_id: int, address_id: int, **payment):
    models = _module("models")
    cart = _call("cart.cart_line_add", 201, client=api, body=models.CartLineAddInput(product=product_id, quantity=1))
    assert cart.item_count == 1
    methods = _call("shipping_methods.shipping_method_list", 200, client=api, country="DE")
    assert methods and methods[0].delivery_days.to_dict()["min"] >= 0
    priced = _call("cart.cart_get", 200, client=api, shipping_method=methods[0].id)
    assert priced.shipping.method == methods[0].id
    body = models.OrderCreateInput(
        shipping_address=address_id, currency=models.CurrencyEnum.USD, shipping_method=methods[0].id,
        expected_total=models.MoneyAmount(amount=priced.total.amount, currency=models.CurrencyEnum.USD), **payment,
    )
    order = _call("orders.order_place", 201, client=api, body=body, idempotency_key=str(uuid.uuid4()))
    assert isinstance(order, models.OrderDetail)
    assert order.status == "paid"
    return order


@pytest.mark.django_db(transaction=True)
def test_generated_python_client_runs_the_mobile_journey(client_package, catalogue, live_server):
    models = _module("models")
    token = _sign_up_verify_and_log_in(live_server.url)
    api = _module("client").AuthenticatedClient(
        base_url=live_server.url, token=token, prefix="", auth_header_name="X-Session-Token"
    )
    me = _call("me.me_get", 200, client=api)
    assert me.email_verified

    product_id = _browse(api, catalogue)
    shipping_method_everywhere()  # the shop ships to the journey's address

    wallet = _call("wallets.wallet_open", 201, client=api, body=models.WalletOpenInput(currency="USD"))
    deposit = _call(
        "wallets.wallet_deposit", 201, client=api, wallet_id=wallet.id,
        body=models.MoneyMovementInput(amount=_money("100.00"), card_token="tok_ok"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(deposit, models.Payment) and deposit.status == "succeeded"
    assert _call("payments.payment_get", 200, client=api, payment_id=deposit.id).amount.amount == "100.00"

    address = _call(
        "addresses.address_create", 201, client=api,
        body=models.AddressInput(
            full_name="Mo Bile", line1="1 App Street", city="Berlin", postal_code="10115", country=models.CountryEnum.DE,
            is_default_shipping=True,
        ),
    )

    by_wallet = _place_order(
        api, product_id=product_id, address_id=address.id, payment_method=models.PaymentMethodEnum.WALLET
    )
    by_card = _place_order(
        api, product_id=product_id, address_id=address.id,
        payment_method=models.PaymentMethodEnum.CARD, card_token="tok_ok",
    )
    assert by_card.payment_method == "card"

    order = _call("orders.order_get", 200, client=api, number=by_wallet.number)
    assert order.events and order.lines[0].product == product_id
    # The paid order's invoice: listed with its download URL, served as a PDF file.
    assert [document.kind for document in order.documents] == ["invoice"]
    invoice = _call("orders.order_invoice_pdf", 200, client=api, number=by_wallet.number)
    assert invoice.payload.read(5) == b"%PDF-"
    document = _call(
        "orders.order_document_pdf", 200, client=api, number=by_wallet.number, document=order.documents[0].number
    )
    assert document.payload.read(5) == b"%PDF-"
    assert order.shipping.method == "Test delivery" and order.total.amount == order.subtotal.amount
    orders = _call("orders.order_list", 200, client=api)
    assert {item.number for item in orders.results} == {by_wallet.number, by_card.number}
    ship_all(Order.objects.get(number=by_wallet.number))  # staff ship it: only shipped units can be returned
    shipped = _call("orders.order_get", 200, client=api, number=by_wallet.number)
    assert shipped.status == "shipped" and shipped.shipments[0].tracking_url.startswith("https://")
    assert shipped.shipments[0].lines[0].quantity == order.lines[0].quantity
    returned = _call(
        "orders.order_return_request", 201, client=api, number=by_wallet.number,
        body=models.ReturnCreateInput(reason="Too small", lines=[models.ReturnLineInput(line=order.lines[0].id, quantity=1)]),
    )
    assert returned.status == "requested"

    withdrawal = _call(
        "wallets.wallet_withdraw", 201, client=api, wallet_id=wallet.id,
        body=models.MoneyMovementInput(amount=_money("10.00"), card_token="tok_ok"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(withdrawal, models.Withdrawal) and withdrawal.status == "succeeded"
    balance = _call("wallets.wallet_get", 200, client=api, wallet_id=wallet.id).balance
    assert Decimal(balance.amount) == Decimal("100.00") - Decimal(by_wallet.total.amount) - Decimal("10.00")
    statement = _call("wallets.wallet_statement", 200, client=api, wallet_id=wallet.id)
    assert statement.count == 3  # deposit, purchase, withdrawal


@pytest.mark.django_db(transaction=True)
def test_generated_python_client_checks_out_as_a_guest_with_no_session(client_package, catalogue, live_server):
    """An app with no account and no cookie sends the lines: the order, then its signed link."""
    models = _module("models")
    guest = _module("client").Client(base_url=live_server.url)
    method = shipping_method_everywhere()
    address = models.OrderCreateInputShippingAddressType1.from_dict(
        {"full_name": "Gue St", "line1": "1 App Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}
    )
    body = models.OrderCreateInput(
        email="guest@example.com", payment_method=models.PaymentMethodEnum.CARD, card_token="tok_ok",
        currency=models.CurrencyEnum.USD, shipping_method=method, shipping_address=address,
        lines=[models.CartLineAddInput(product=catalogue[1].id, quantity=2)],
    )
    key = str(uuid.uuid4())
    order = _call("orders.order_place", 201, client=guest, body=body, idempotency_key=key)
    assert isinstance(order, models.OrderDetail)
    assert order.status == "paid" and order.lines[0].quantity == 2
    token = order.additional_properties["access_token"]
    again = _call("orders.order_place", 201, client=guest, body=body, idempotency_key=key)
    assert again.number == order.number
    opened = _call("guest_orders.guest_order_get", 200, client=guest, token=token)
    assert opened.number == order.number and opened.order_url.startswith("/orders/guest/")


def test_generator_fails_the_check_on_a_schema_it_cannot_generate_cleanly(tmp_path):
    """The warning check bites: an operation whose body schema the generator cannot read warns."""
    schema = tmp_path / "broken.json"
    schema.write_text(
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/x/": {"post": {'
        '"operationId": "x", "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/nowhere"}}}},'
        '"responses": {"200": {"description": "ok"}}}}}}'
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(AssertionError):
        generate_client(schema, out_dir)
