import json

from django.core.management.base import BaseCommand

from catalog.selectors.stock import stock_report_rows


class Command(BaseCommand):
    help = "Stock per variant and warehouse: on_hand, reserved, available."

    def add_arguments(self, parser):
        parser.add_argument("--sku", default="", help="only this variant SKU")
        parser.add_argument("--json", action="store_true", help="JSON (a list of rows) instead of a table")

    def handle(self, *args, sku: str, json: bool, **options):
        rows = stock_report_rows(sku=sku)
        if json:
            self.stdout.write(_dumps(rows))
            return
        self.stdout.write(f"{'sku':<24} {'warehouse':<12} {'on_hand':>8} {'reserved':>8} {'available':>9}")
        for row in rows:
            self.stdout.write(
                f"{row['sku']:<24} {row['warehouse']:<12} {row['on_hand']:>8} {row['reserved']:>8} {row['available']:>9}"
            )


def _dumps(rows) -> str:
    return json.dumps(rows, indent=2)
