"""`make bench`: the shop under gunicorn over PostgreSQL + Redis, measured against a bare Django view.

Steps (each bounded in time):
 1. DATABASE_URL (PostgreSQL) and REDIS_URL, defaults postgres://postgres@127.0.0.1:5432/shop_bench
    and redis://127.0.0.1:6379/9; the database is created if missing, migrated, and seeded with
    BENCH_PRODUCTS (100,000) products by `manage.py seed_catalog` unless already there.
 2. Per run: fresh users with app sessions (X-Session-Token), funded wallets and the hot product
    of a flash sale in their carts (bench/prepare.py, through the shop's services).
 3. gunicorn (sync workers, 2 x cores, DEBUG=0) on a free port of 127.0.0.1, with
    bench.settings: the shop's settings and URLs plus `bench/bare/` (one query, same middleware).
 4. wrk (installed with apt-get if missing; else a Python load generator) runs each read and
    add-to-cart scenario for BENCH_DURATION seconds with 2 threads x 16 connections; the flash
    sale checkout (every buyer posts one wallet checkout of the hot product at once) is a burst
    sent by the Python load generator and compared with the bare view measured by that same
    generator. Oversell is counted from the database afterwards.
 5. One markdown table on stdout and in bench/RESULTS.md, with the machine and peak RSS
    (VmHWM) of each gunicorn worker.
"""

import json
import os
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.config import (
    BENCH,
    BUYERS,
    CONNECTIONS,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    DURATION,
    HOT_STOCK,
    OUT,
    PRODUCTS,
    PY,
    SHOPPERS,
    WARMUP,
    log,
    run,
)
from bench.infra import Gunicorn, bench_env, ensure_database, ensure_wrk, free_port, machine, redis_reset
from bench.load import Result, http_request, python_load, write_lines, wrk_load
from bench.report import render


def _load_average() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def _database_ready(env: dict) -> None:
    """Migrate, and seed the catalogue up to PRODUCTS active products."""
    manage = [PY, "manage.py"]
    run([*manage, "migrate", "--noinput", "-v", "0"], env=env, timeout=900)

    have = json.loads(run([PY, "-m", "bench.prepare", "status"], env=env, timeout=120, capture=True))["products"]
    if have < PRODUCTS:
        log(f"seeding the catalogue: {have} active products, want {PRODUCTS}")
        run([*manage, "seed_catalog", "--products", str(PRODUCTS - have)], env=env, timeout=3600)
    else:
        log(f"catalogue already seeded: {have} active products")


def _fixtures(env: dict) -> dict:
    """This run's users, sessions, wallets, carts and hot product (bench/prepare.py)."""
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    fixtures_path = OUT / f"fixtures-{run_id}.json"
    run(
        [
            PY, "-m", "bench.prepare", "setup", "--run", run_id, "--out", str(fixtures_path),
            "--checkout-users", str(BUYERS), "--cart-users", str(SHOPPERS), "--hot-stock", str(HOT_STOCK),
        ],
        env=env,
        timeout=900,
    )
    return json.loads(fixtures_path.read_text())


def _read_scenarios(fx: dict) -> list[tuple]:
    """(name, wrk path, rotating paths or None, how) for every read scenario."""
    slugs = fx["detail_slugs"]
    terms = fx["search_terms"]
    pages = range(1, 21)
    category = fx["category_slug"]
    list_page = f"/c/{category}/" if category else "/"
    cold = fx["cold_slugs"]
    half = len(cold) // 2
    # Uncached search: every request a question never asked before (a common word and a price
    # floor of its own), so neither the answer nor its facets can come from the cache.
    uncached = [(terms[i % len(terms)], f"{i // len(terms) / 100:.2f}") for i in range(20000)]
    return [
        ("bare view (1 query)", "/bench/bare/", None, {}),
        ("product list (API)", "/api/v1/products/", [f"/api/v1/products/?page={p}" for p in pages], {}),
        ("product list (page)", list_page, [f"{list_page}?page={p}" for p in pages], {}),
        ("search (page)", "/search/", [f"/search/?q={urllib.parse.quote(t)}" for t in terms], {}),
        ("search (API)", "/api/v1/products/", [f"/api/v1/products/?search={urllib.parse.quote(t)}" for t in terms], {}),
        ("search (API), uncached", "/api/v1/products/",
         [f"/api/v1/products/?search={urllib.parse.quote(t)}&min_price={p}" for t, p in uncached], {"cold": True}),
        ("product detail (page)", "/p/", [f"/p/{s}/" for s in slugs], {"warm": True}),
        ("product detail (API)", "/api/v1/products/", [f"/api/v1/products/{s}/" for s in slugs], {"warm": True}),
        ("product detail (page), first view", "/p/", [f"/p/{s}/" for s in cold[:half]], {"cold": True}),
        ("product detail (API), first view", "/api/v1/products/",
         [f"/api/v1/products/{s}/" for s in cold[half:]], {"cold": True}),
    ]


def _read_scenario(wrk: str, port: int, index: int, scenario: tuple) -> Result:
    """Probe one read scenario, warm it up as it asks, and measure it."""
    name, path, paths, how = scenario
    extra = {"BENCH_PATHS": write_lines(f"paths-{index}.txt", paths)} if paths else {}
    first = (paths or [path])[-1]  # the last path: a first view stays a first view
    status, body = http_request(port, "GET", first)
    if status != 200:
        raise SystemExit(f"bench: {name}: GET {first} answered {status}: {body[:300]!r}")
    if how.get("warm"):
        # The popular set, each page seen once already (as a long-running shop has).
        python_load(
            name + " warm-up", port, [("GET", p, {}, None) for p in paths],
            concurrency=CONNECTIONS, duration=None,
        )
    if wrk:
        if WARMUP and not how.get("cold"):
            wrk_load(wrk, name + " warmup", port, path, "get.lua", extra, WARMUP)
        result = wrk_load(wrk, name, port, path, "get.lua", extra, DURATION)
    else:
        cycle = paths or [path]
        result = python_load(
            name, port, lambda i, c=cycle: ("GET", c[i % len(c)], {}, None),
            concurrency=CONNECTIONS, duration=DURATION,
        )
    log(f"{name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms")
    return result


def _cart_add(wrk: str, port: int, fx: dict) -> Result:
    """Add to cart: signed-in app users, one unit of a random in-stock product each time."""
    cart_env = {
        "BENCH_TOKENS": write_lines("shopper-tokens.txt", fx["shopper_tokens"]),
        "BENCH_PRODUCTS": write_lines("cart-products.txt", fx["cart_product_ids"]),
    }
    probe = json.dumps({"product": fx["cart_product_ids"][0], "quantity": 1}).encode()
    status, body = http_request(
        port, "POST", "/api/v1/cart/lines/",
        {"Content-Type": "application/json", "X-Session-Token": fx["shopper_tokens"][0]}, probe,
    )
    if status != 201:
        raise SystemExit(f"bench: add to cart answered {status}: {body[:300]!r}")
    if wrk:
        result = wrk_load(wrk, "add to cart (API)", port, "/api/v1/cart/lines/", "cart_add.lua", cart_env, DURATION)
    else:
        tokens, products = fx["shopper_tokens"], fx["cart_product_ids"]
        result = python_load(
            "add to cart (API)", port,
            lambda i: (
                "POST", "/api/v1/cart/lines/",
                {"Content-Type": "application/json", "X-Session-Token": tokens[i % len(tokens)]},
                json.dumps({"product": products[i % len(products)], "quantity": 1}).encode(),
            ),
            concurrency=CONNECTIONS, duration=DURATION,
        )
    log(f"add to cart: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, errors {result.errors}")
    return result


def _python_bare(port: int) -> Result:
    """The same generator as the checkout burst measures its own baseline."""
    py_bare = python_load(
        "bare view (1 query), python generator", port, lambda i: ("GET", "/bench/bare/", {}, None),
        concurrency=CONNECTIONS, duration=min(DURATION, 5),
    )
    log(f"bare (python): {py_bare.rps:.0f} req/s, p50 {py_bare.p50_ms:.1f} ms")
    return py_bare


def _checkout_burst(port: int, fx: dict) -> tuple[Result, int]:
    """Every buyer posts one wallet checkout of the hot product at once; (result, requests sent)."""
    # Each buyer pays to its saved address (its id, as the app sends it).
    burst = [
        (
            "POST", "/api/v1/orders/",
            {"Content-Type": "application/json", "X-Session-Token": token, "Idempotency-Key": uuid.uuid4().hex},
            json.dumps(
                {"payment_method": "wallet", "shipping_address": address_id, "shipping_method": fx["shipping_method_id"]}
            ).encode(),
        )
        for token, address_id in zip(fx["buyer_tokens"], fx["buyer_addresses"], strict=True)
    ]
    checkout = python_load("checkout, wallet, flash sale (API)", port, burst, concurrency=CONNECTIONS, duration=None)
    log(f"checkout: {checkout.rps:.0f} req/s, statuses {checkout.statuses}")
    return checkout, len(burst)


def _measure(env: dict, wrk: str, fx: dict) -> tuple[list[Result], Result, Result, int, dict]:
    """Every scenario against one gunicorn; (results, python bare, checkout, burst size, peak RSS)."""
    server = Gunicorn(env, free_port())
    results: list[Result] = []
    try:
        server.wait_ready()
        port = server.port
        for scenario in _read_scenarios(fx):
            results.append(_read_scenario(wrk, port, len(results), scenario))
        results.append(_cart_add(wrk, port, fx))
        py_bare = _python_bare(port)
        checkout, sent = _checkout_burst(port, fx)
        memory = server.peak_rss_mib()
    finally:
        server.stop()
    return results, py_bare, checkout, sent, memory


def _verify(env: dict, fx: dict) -> dict:
    """Oversell and stock of the hot product, counted from the database; and the SQL statements of one
    wallet checkout (counted in-process after the load, against the same database)."""
    verdict = json.loads(
        run(
            [PY, "-m", "bench.prepare", "verify", "--hot-product", str(fx["hot_product_id"]),
             "--initial-stock", str(fx["hot_stock"])],
            env=env, timeout=120, capture=True,
        )
    )
    counted = json.loads(
        run(
            [PY, "-m", "bench.prepare", "statements", "--run", fx["run"],
             "--shipping-method", str(fx["shipping_method_id"])],
            env=env, timeout=120, capture=True,
        )
    )
    return {**verdict, **counted}


def _checkout_verdict(checkout: Result, sent: int, verdict: dict, fx: dict) -> None:
    """Count the burst's answers into `checkout`: errors, paid orders/s and its note."""
    created = checkout.statuses.get(201, 0)
    conflicts = checkout.statuses.get(409, 0)
    checkout.errors = sum(n for s, n in checkout.statuses.items() if s not in (201, 409)) + (
        sent - checkout.requests
    )
    checkout.orders_per_s = created / checkout.seconds if checkout.seconds else 0.0
    checkout.note = (
        f"{sent} buyers, {fx['hot_stock']} units: {created} x 201, {conflicts} x 409 out_of_stock "
        f"in {checkout.seconds:.1f} s ({checkout.orders_per_s:.0f} paid orders/s); "
        f"paid units {verdict['paid_units']}, oversell {verdict['oversell']}"
    )


def main() -> int:
    load_at_start = _load_average() if Path("/proc/loadavg").exists() else "?"
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    ensure_database(database_url)
    redis_version = redis_reset(redis_url)
    env = bench_env(database_url, redis_url)
    _database_ready(env)
    fx = _fixtures(env)

    wrk = ensure_wrk()
    info = machine(database_url, redis_version, wrk, load_at_start)
    results, py_bare, checkout, sent, memory = _measure(env, wrk, fx)

    verdict = _verify(env, fx)
    _checkout_verdict(checkout, sent, verdict, fx)
    info["load average at end (1/5/15 min)"] = _load_average()
    report = render(results, py_bare, checkout, verdict, memory, info, fx, elapsed=time.monotonic() - started)
    print(report)
    (BENCH / "RESULTS.md").write_text(report)
    log("wrote bench/RESULTS.md")
    if verdict["oversell"] != 0 or verdict["on_hand"] < 0 or verdict["reserved"] < 0:
        log(f"OVERSOLD: {verdict}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
