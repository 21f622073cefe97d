import json

from django.core.management.base import BaseCommand

from catalog.selectors.stock import stock_report_rows


class Command(BaseCommand):
    help = (
        "Stock per variant and warehouse: on_hand, reserved (part of on_hand), available, committed "
        "(sold, awaiting shipment), physical (on_hand + committed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sku", default="", help="only this variant SKU")
        parser.add_argument("--json", action="store_true", help="JSON (a list of rows) instead of a table")

    def handle(self, *args, sku: str, json: bool, **options):
        rows = stock_report_rows(sku=sku)
        if json:
            self.stdout.write(_dumps(rows))
            return
        self.stdout.write(
            f"{'sku':<24} {'warehouse':<12} {'on_hand':>8} {'reserved':>8} {'available':>9} {'committed':>9} "
            f"{'physical':>8}"
        )
        for row in rows:
            self.stdout.write(
                f"{row['sku']:<24} {row['warehouse']:<12} {row['on_hand']:>8} {row['reserved']:>8} "
                f"{row['available']:>9} {row['committed']:>9} {row['physical']:>8}"
            )


def _dumps(rows) -> str:
    return json.dumps(rows, indent=2)
