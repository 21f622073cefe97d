"""Load the demo data of every app, in dependency order. Safe to run twice."""

from importlib import import_module

from django.conf import settings
from django.core.management.base import BaseCommand

# Each app may have a `demo.py` with `load(*, stdout) -> None`, idempotent.
DEMO_MODULES = [
    "accounts.demo",
    "catalog.demo",
    "catalog.demo_variants",
    "payments.demo",
    "shop.pricing.demo",
    "shop.shipping.demo",
    "shop.orders.demo",
]


class Command(BaseCommand):
    help = "Load demo data: a verified demo shopper, a staff admin, the catalog, wallets and orders."

    def add_arguments(self, parser):
        parser.add_argument(
            "--address", default="",
            help="Where the shop will be served, for the closing line (make run passes http://HOST:PORT/).",
        )

    def handle(self, *args, **options):
        for name in DEMO_MODULES:
            try:
                module = import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                continue
            self.stdout.write(f"-> {name}")
            module.load(stdout=self.stdout)
        address = options["address"] or settings.SITE_URL or "http://127.0.0.1:8000/"
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded. Open {address}"))
