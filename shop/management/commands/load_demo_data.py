"""Load the demo data of every app, in dependency order. Safe to run twice."""

from importlib import import_module

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
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Open http://127.0.0.1:8000/"))
