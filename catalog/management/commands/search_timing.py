"""Uncached timings of catalog search and listing: `manage.py search_timing [--runs 50]`.

Every cache is bypassed (a dummy cache replaces the default one for the run),
so each call computes facets, count and the page of results from the
database, as a cache miss in production does. Prints one markdown table of
p50/p99 per query type, for the selector (`catalog.selectors.product_search`,
what the API and the search page call), the product list API and the search
page (through the whole Django stack, in process), and autocomplete.
Meant for PostgreSQL with `seed_catalog --products 100000`.
"""

import statistics
import time
from collections.abc import Callable

from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import override_settings

from catalog.models import Category, Product
from catalog.selectors.filters import ProductQuery
from catalog.selectors.search import product_autocomplete, product_search

DUMMY_CACHE = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


class Command(BaseCommand):
    help = "Print uncached p50/p99 timings of catalog search, listing and autocomplete."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=50, help="timed runs per query type (after 3 warm-ups)")
        parser.add_argument("--only", default="", help="run only the query types whose name contains this")

    def handle(self, *args, runs: int, only: str, **options):
        root = Category.objects.filter(depth=1).order_by("path").first()
        leaf = Category.objects.filter(numchild=0).order_by("path").first()
        total = Product.objects.filter(is_active=True).count()
        cases = self._cases(root, leaf)
        if only:
            cases = [case for case in cases if only in case[0]]
        self.stdout.write(
            f"{total} active products on {connection.vendor}; {runs} runs each, caches bypassed; times in ms\n"
        )
        self.stdout.write("| query | layer | matches | p50 ms | p99 ms | max ms |")
        self.stdout.write("|---|---|---:|---:|---:|---:|")
        with override_settings(CACHES=DUMMY_CACHE, ALLOWED_HOSTS=["*"]):
            client = Client(HTTP_HOST="127.0.0.1")
            for name, layer, call in cases:
                matches = call()
                samples = []
                for _ in range(2):
                    call()
                for _ in range(runs):
                    started = time.perf_counter()
                    call()
                    samples.append((time.perf_counter() - started) * 1000)
                self.stdout.write(
                    f"| {name} | {layer} | {matches if matches is not None else ''} "
                    f"| {statistics.median(samples):.1f} | {_percentile(samples, 0.99):.1f} | {max(samples):.1f} |"
                )
            del client

    def _cases(self, root: Category | None, leaf: Category | None) -> list[tuple[str, str, Callable]]:
        def search(**kwargs) -> Callable:
            def call():
                query = ProductQuery(**kwargs)
                return product_search(query).count

            return call

        def api(params: dict) -> Callable:
            def call():
                response = Client(HTTP_HOST="127.0.0.1").get("/api/v1/products/", params)
                assert response.status_code == 200, response.content[:300]
                return response.json()["count"]

            return call

        def page(path: str, params: dict) -> Callable:
            def call():
                response = Client(HTTP_HOST="127.0.0.1").get(path, params)
                assert response.status_code == 200, response.content[:300]
                return None

            return call

        def autocomplete(q: str) -> Callable:
            def call():
                return len(product_autocomplete(q=q, limit=10))

            return call

        cases: list[tuple[str, str, Callable]] = [
            ('search "red"', "selector", search(q="red")),
            ('search "red"', "API", api({"search": "red"})),
            ('search "red"', "page", page("/search/", {"q": "red"})),
            ('search "red" by price', "API", api({"search": "red", "ordering": "price"})),
            ('search "red" EUR 50-100 in stock', "API",
             api({"search": "red", "currency": "EUR", "min_price": "50", "max_price": "100", "in_stock": "true"})),
            ('search "wireless headphones"', "API", api({"search": "wireless headphones"})),
            ('search "vintage laptop 4242"', "API", api({"search": "vintage laptop 4242"})),
            ('search "zzzqx" (no match)', "API", api({"search": "zzzqx"})),
            ("all products", "selector", search()),
            ("all products", "API", api({})),
            ("all products", "page", page("/search/", {})),
            ("all products by price", "API", api({"ordering": "price"})),
            ("all products page 200", "API", api({"page": "200"})),
            ("all products in stock, by rating", "API", api({"in_stock": "true", "ordering": "-rating"})),
            ("attr colour:red", "API", api({"attr": "colour:red"})),
        ]
        if root is not None:
            cases += [
                (f"category {root.slug} (root)", "selector", search(category=root)),
                (f"category {root.slug} (root)", "API", api({"category": root.slug})),
                (f"category {root.slug} (root)", "page", page(f"/c/{root.slug}/", {})),
                (f"category {root.slug} by -price", "API", api({"category": root.slug, "ordering": "-price"})),
            ]
        if leaf is not None:
            cases += [
                (f"category {leaf.slug} (leaf)", "API", api({"category": leaf.slug})),
                (f'category {leaf.slug} + "red"', "API", api({"category": leaf.slug, "search": "red"})),
            ]
        cases += [
            ('autocomplete "lapt"', "selector", autocomplete("lapt")),
            ('autocomplete "headphnes" (typo)', "selector", autocomplete("headphnes")),
            ('autocomplete "wireless"', "selector", autocomplete("wireless")),
            ('autocomplete "zzzqx"', "selector", autocomplete("zzzqx")),
        ]
        return cases
