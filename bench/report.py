"""The markdown report of one run: machine, set-up, results, targets, memory."""

import statistics

from bench.config import CONNECTIONS, CORES, DURATION, THREADS, WARMUP, WORKERS
from bench.load import Result


def targets(results: list, checkout: Result, verdict: dict) -> list[str]:
    """The issue's targets for a 2-core machine, each with the figure of this run."""
    by_name = {r.name: r for r in results}
    bare = results[0]
    rows = []

    def check(label: str, measured: str, met: bool) -> None:
        rows.append(f"| {label} | {measured} | {'yes' if met else '**no**'} |")

    for name in ("product list (API)", "product list (page)", "product detail (page)"):
        if name in by_name:
            ratio = by_name[name].rps / bare.rps if bare.rps else 0
            check(f"{name} >= 0.3x the bare view", f"{ratio:.2f}x", ratio >= 0.3)
    for name, r in by_name.items():
        if name.startswith("search"):
            check(f"{name}: p99 < 50 ms", f"{r.p99_ms:.1f} ms", r.p99_ms < 50)
    check(
        "checkout on a hot product >= 100 orders/s, 0 oversold",
        f"{checkout.orders_per_s:.0f} orders/s, oversell {verdict['oversell']}",
        checkout.orders_per_s >= 100 and verdict["oversell"] == 0,
    )
    worst = max([*results, checkout], key=lambda r: r.p99_ms)
    check("every p99 < 250 ms", f"worst: {worst.name}, {worst.p99_ms:.1f} ms", worst.p99_ms < 250)
    return rows


def _setup(fx: dict) -> list[str]:
    """The report's set-up section: data, server, load and the flash sale."""
    return [
        "## Set-up",
        "",
        f"- {fx['products']:,} active products in PostgreSQL; Redis cache and broker; no Celery worker running "
        "(tasks queued by requests wait in Redis, as they would for a busy worker).",
        f"- gunicorn, {WORKERS} sync workers for {CORES} cores, DEBUG=0, bench.settings "
        "(the shop's settings + `bench/bare/`), throttles raised for the run.",
        f"- Load on the same machine: wrk, {THREADS} threads x {CONNECTIONS} connections, {DURATION} s per "
        f"scenario after a {WARMUP} s warm-up; paths rotate over 20 list pages, "
        f"{len(fx['search_terms'])} common search words and {len(fx['detail_slugs']):,} popular products "
        "(each page viewed once before the run, as in a shop that has been up a while). The *uncached* and "
        "*first view* rows have no warm-up and never repeat a request: each search is a question not asked "
        f"before (a common word with its own price floor), each product one of {len(fx['cold_slugs']):,} "
        f"others seen for the first time. Add to cart: {len(fx['shopper_tokens'])} signed-in app users "
        "(X-Session-Token), one unit of a random in-stock product per request.",
        f"- Checkout: flash sale of one hot product with {fx['hot_stock']} units; {len(fx['buyer_tokens'])} buyers "
        "with funded wallets and the product in their carts each POST /api/v1/orders/ once (wallet payment, "
        f"Idempotency-Key), {CONNECTIONS} at a time, sent by the Python generator (threads + http.client); "
        "its ratios are to the bare view measured by the same generator.",
        "",
    ]


def render(results, py_bare, checkout, verdict, memory, info, fx, *, elapsed: float) -> str:
    base = results[0]

    def row(r: Result, baseline: Result) -> str:
        rps_ratio = r.rps / baseline.rps if baseline.rps else 0
        lat_ratio = r.p50_ms / baseline.p50_ms if baseline.p50_ms else 0
        return (
            f"| {r.name} | {r.tool} | {r.requests} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{rps_ratio:.2f} | {lat_ratio:.1f} | {r.errors} |"
        )

    lines = [
        "# Benchmark results",
        "",
        f"Run {fx['run']} (UTC), `make bench` (`python -m bench`), {elapsed / 60:.1f} minutes in all.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in info.items()],
        "",
        *_setup(fx),
        "## Results",
        "",
        "Ratios: req/s as a share of the bare view's; p50 as a multiple of the bare view's.",
        "",
        "| scenario | tool | requests | req/s | p50 ms | p99 ms | req/s vs bare | p50 vs bare | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *[row(r, base) for r in results],
        row(py_bare, py_bare),
        row(checkout, py_bare),
        "",
        f"Flash sale: {checkout.note}. Stock afterwards: on hand {verdict['on_hand']}, reserved "
        f"{verdict['reserved']}; orders left pending payment: {verdict['pending_orders']}. "
        f"**Oversell: {verdict['oversell']}.**",
        "",
        f"One wallet checkout of one line through the API: **{verdict.get('statements', '?')} SQL statements** "
        f"({', '.join(f'{n} {kind}' for kind, n in verdict.get('by_kind', {}).items())}).",
        "",
        "Errors are non-2xx answers and socket errors (for checkout: anything but 201 and 409, and requests "
        "that got no answer).",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *targets(results, checkout, verdict),
        "",
        "## Memory",
        "",
        "Peak resident set size (VmHWM) per gunicorn worker at the end of the run: "
        + ", ".join(f"{mib:.0f} MiB" for mib in sorted(memory.values()))
        + (f" (max {max(memory.values()):.0f} MiB, mean {statistics.mean(memory.values()):.0f} MiB)." if memory else "."),
        "",
    ]
    return "\n".join(lines)
