from django.core.management.base import BaseCommand, CommandError

from catalog.services.stock_import import stock_import_csv
from shop.core.exceptions import ShopError


class Command(BaseCommand):
    help = "Set stock on hand from a CSV with columns sku,warehouse,on_hand (all rows checked first, all or none)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--reason", default="stock import")

    def handle(self, *args, file: str, reason: str, **options):
        try:
            with open(file, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            counts = stock_import_csv(data=data, reason=reason)
        except ShopError as exc:
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(self.style.SUCCESS(f"{counts['rows']} rows checked, {counts['changed']} stock levels changed."))
