"""Data for one benchmark run, made through the shop's own services (run inside the bench environment).

    python -m bench.prepare status                      -> {"products": n}
    python -m bench.prepare setup --run RUN --out FILE  -> users, sessions, wallets, carts, hot product
    python -m bench.prepare verify --hot-product ID --initial-stock N -> oversell check from the database

Every run makes its own users and its own hot product (suffix RUN), so runs
never see each other's carts, orders or stock.
"""

import argparse
import json
import os
import random
import sys
import uuid
from collections import Counter
from decimal import Decimal


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def status() -> dict:
    from catalog.models import Product

    return {"products": Product.objects.filter(is_active=True).count()}


def _session_token(user) -> str:
    """An app session exactly like allauth headless makes at login: its key is the X-Session-Token."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def _users(prefix: str, count: int):
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    password = make_password("bench-" + prefix)  # one hash for all: hashing is not what is measured
    users = User.objects.bulk_create(
        [User(email=f"{prefix}-{i}@bench.example", password=password) for i in range(count)]
    )
    users = list(User.objects.filter(email__startswith=f"{prefix}-", email__endswith="@bench.example").order_by("id"))
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=user, email=user.email, verified=True, primary=True) for user in users]
    )
    return users


BUYER_ADDRESS = {
    "full_name": "Bench Buyer", "line1": "1 Main Street", "city": "Springfield", "postal_code": "12345",
    "country": "US",
}


def _address_ids(users) -> list[int]:
    from accounts.models import Address

    by_user = dict(Address.objects.filter(user__in=users).values_list("user_id", "id"))
    return [by_user[user.pk] for user in users]


def _buyers(*, run: str, count: int, hot_product_id: int, wallet_funds: Decimal) -> list:
    """Buyers of the flash sale: each with a funded USD wallet and the hot product in the cart."""
    from djmoney.money import Money

    from accounts.models import Address
    from payments.services.wallets import wallet_demo_credit, wallet_open
    from shop.cart.services import CartOwner, cart_line_add

    buyers = _users(f"buyer-{run}", count)
    # An app user's saved address, as the app sends it (its id): a first order's typed-in address
    # joining the address book is not what a flash sale measures.
    Address.objects.bulk_create([Address(user=user, is_default_shipping=True, **BUYER_ADDRESS) for user in buyers])
    for user in buyers:
        wallet = wallet_open(user=user, currency="USD")
        wallet_demo_credit(
            wallet_id=wallet.pk, amount=Money(wallet_funds, "USD"), reference=f"bench:{run}:{user.pk}"
        )
        cart_line_add(owner=CartOwner(user=user), product_id=hot_product_id, quantity=1)
    return buyers


def _search_terms(ids: list) -> list[str]:
    """The 40 commonest words of 4+ letters in these products' names."""
    from catalog.models import Product

    words: dict[str, int] = {}
    for name in Product.objects.filter(id__in=ids).values_list("name", flat=True):
        for word in name.lower().split():
            if len(word) >= 4 and word.isalpha():
                words[word] = words.get(word, 0) + 1
    return [w for w, _n in sorted(words.items(), key=lambda kv: -kv[1])[:40]] or ["product"]


def _shipping_method() -> int:
    """A free flat-rate method to the buyers' country (US), in every shop currency; made once."""
    from django.conf import settings

    from shop.shipping.models import Carrier, ShippingMethod, ShippingMethodPrice, ShippingZone

    carrier, _created = Carrier.objects.get_or_create(
        code="benchpost",
        defaults={"name": "Bench Post", "tracking_url_template": "https://track.example.com/?n={tracking_number}"},
    )
    method = ShippingMethod.objects.filter(carrier=carrier).first()
    if method is None:
        zone = ShippingZone.objects.create(name="Bench buyers", countries=["US"])
        method = ShippingMethod.objects.create(
            name="Bench standard", carrier=carrier, kind=ShippingMethod.Kind.FLAT,
            min_delivery_days=1, max_delivery_days=3,
        )
        method.zones.set([zone])
        for currency in settings.CURRENCIES:
            ShippingMethodPrice.objects.create(method=method, currency=currency, price=Decimal("0.00"))
    return method.pk


def setup(*, run: str, checkout_users: int, cart_users: int, hot_stock: int, wallet_funds: Decimal) -> dict:
    from django.db import connection
    from djmoney.money import Money

    from catalog.models import Category, Product, Warehouse
    from catalog.services.prices import exchange_rates_load
    from catalog.services.products import product_create
    from catalog.services.stock import stock_restock

    rng = random.Random(run)
    exchange_rates_load()
    active = Product.objects.filter(is_active=True)
    in_stock = active.filter(stocks__on_hand__gt=100).distinct()
    total = active.count()

    # Hot product of this run: a flash sale of `hot_stock` units of its one variant, split over two
    # warehouses (60 % in the default one, the rest in a farther one that allocation tries second).
    hot = product_create(
        sku=f"BENCH-HOT-{run}",
        name=f"Flash sale {run}",
        category=Category.objects.order_by("path").first(),
        price=Money(Decimal("9.99"), "USD"),
        on_hand=hot_stock - hot_stock * 2 // 5,
    )
    far, _created = Warehouse.objects.get_or_create(
        code="bench-far", defaults={"name": "Bench far warehouse", "country": "US", "priority": 50}
    )
    if hot_stock * 2 // 5:
        stock_restock(product_id=hot.pk, warehouse_id=far.pk, quantity=hot_stock * 2 // 5, reason="bench")

    buyers = _buyers(run=run, count=checkout_users, hot_product_id=hot.pk, wallet_funds=wallet_funds)
    shoppers = _users(f"shopper-{run}", cart_users)

    # Random samples over the whole catalogue, so the figures are not one cached row.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM catalog_product WHERE is_active ORDER BY random() LIMIT 20000"
        )
        every = [row[0] for row in cursor.fetchall()]
    # A popular set (product pages seen again and again, so served from the cache) and a
    # long tail of products each seen once in the run (their first view renders them).
    ids, tail_ids = every[:2000], every[2000:]
    detail_slugs = list(Product.objects.filter(id__in=ids).values_list("slug", flat=True))
    cold_slugs = list(Product.objects.filter(id__in=tail_ids).values_list("slug", flat=True))
    cart_product_ids = list(in_stock.filter(id__in=ids).values_list("id", flat=True)) or ids
    search_terms = _search_terms(ids[:500])
    category = Category.objects.order_by("-numchild", "path").first()
    rng.shuffle(detail_slugs)
    rng.shuffle(cold_slugs)

    return {
        "run": run,
        "products": total,
        "hot_product_id": hot.pk,
        "hot_stock": hot_stock,
        "shipping_method_id": _shipping_method(),
        "buyer_tokens": [_session_token(user) for user in buyers],
        "buyer_addresses": _address_ids(buyers),
        "shopper_tokens": [_session_token(user) for user in shoppers],
        "detail_slugs": detail_slugs,
        "cold_slugs": cold_slugs,
        "cart_product_ids": cart_product_ids,
        "search_terms": search_terms,
        "category_slug": category.slug if category else "",
    }


def statements(*, run: str, shipping_method_id: int) -> dict:
    """SQL statements of one wallet checkout of one line through the API, as production runs it (committed,
    no test transaction): a fresh buyer checks out twice (the first warms imports and caches), the second
    is counted with CaptureQueriesContext, by kind (SELECT, INSERT, UPDATE, DELETE, SAVEPOINT/RELEASE)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from djmoney.money import Money

    from catalog.models import Category
    from catalog.services.products import product_create
    from shop.cart.services import CartOwner, cart_line_add

    product = product_create(
        sku=f"BENCH-STMT-{run}", name=f"Statement count {run}", category=Category.objects.order_by("path").first(),
        price=Money(Decimal("4.99"), "USD"), on_hand=10,
    )
    (buyer,) = _buyers(run=f"stmt-{run}", count=1, hot_product_id=product.pk, wallet_funds=Decimal("100.00"))
    token = _session_token(buyer)
    client = Client(SERVER_NAME="127.0.0.1")
    (address_id,) = _address_ids([buyer])
    body = {"payment_method": "wallet", "shipping_address": address_id, "shipping_method": shipping_method_id}

    def checkout():
        response = client.post(
            "/api/v1/orders/", body, content_type="application/json",
            headers={"X-Session-Token": token, "Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code != 201:
            raise SystemExit(f"statement count: checkout answered {response.status_code}: {response.content[:300]!r}")

    checkout()
    cart_line_add(owner=CartOwner(user=buyer), product_id=product.pk, quantity=1)
    with CaptureQueriesContext(connection) as captured:
        checkout()
    kinds = Counter(query["sql"].split(None, 1)[0].upper() for query in captured.captured_queries)
    return {"statements": len(captured.captured_queries), "by_kind": dict(sorted(kinds.items()))}


def verify(*, hot_product_id: int, initial_stock: int) -> dict:
    from django.db.models import Sum

    from catalog.models import Stock
    from shop.orders.models import Order, OrderLine

    sold = OrderLine.objects.filter(
        product_id=hot_product_id,
        order__status__in=[Order.Status.PAID, Order.Status.SHIPPED, Order.Status.DELIVERED],
    )
    paid_units = sold.aggregate(n=Sum("quantity"))["n"] or 0
    stock = Stock.objects.filter(product_id=hot_product_id).aggregate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    return {
        "paid_orders": sold.values("order_id").distinct().count(),
        "paid_units": paid_units,
        "pending_orders": OrderLine.objects.filter(
            product_id=hot_product_id, order__status=Order.Status.PENDING_PAYMENT
        ).count(),
        "initial_stock": initial_stock,
        "oversell": max(0, paid_units - initial_stock),
        "on_hand": stock["on_hand"],
        "reserved": stock["reserved"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    p_setup = sub.add_parser("setup")
    p_setup.add_argument("--run", required=True)
    p_setup.add_argument("--out", required=True)
    p_setup.add_argument("--checkout-users", type=int, default=200)
    p_setup.add_argument("--cart-users", type=int, default=400)
    p_setup.add_argument("--hot-stock", type=int, default=30)
    p_setup.add_argument("--wallet-funds", type=Decimal, default=Decimal("1000.00"))
    p_statements = sub.add_parser("statements")
    p_statements.add_argument("--run", required=True)
    p_statements.add_argument("--shipping-method", type=int, required=True)
    p_verify = sub.add_parser("verify")
    p_verify.add_argument("--hot-product", type=int, required=True)
    p_verify.add_argument("--initial-stock", type=int, required=True)
    args = parser.parse_args(argv)

    _django()
    if args.command == "status":
        result = status()
    elif args.command == "setup":
        result = setup(
            run=args.run,
            checkout_users=args.checkout_users,
            cart_users=args.cart_users,
            hot_stock=args.hot_stock,
            wallet_funds=args.wallet_funds,
        )
        with open(args.out, "w") as fh:
            json.dump(result, fh)
        result = {k: (len(v) if isinstance(v, list) else v) for k, v in result.items()}
    elif args.command == "statements":
        result = statements(run=args.run, shipping_method_id=args.shipping_method)
    else:
        result = verify(hot_product_id=args.hot_product, initial_stock=args.initial_stock)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
