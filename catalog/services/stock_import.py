"""Stock levels from a supplier's or operator's CSV (`sku,warehouse,on_hand`): every row checked first, all or none."""

import csv
import io

from django.db import transaction
from django.utils.translation import gettext as _

from catalog.exceptions import ImportFailed
from catalog.models import ProductVariant, Stock, Warehouse
from catalog.services.stock import stock_adjust

STOCK_CSV_FIELDS = ("sku", "warehouse", "on_hand")


def _fail(line: int, column: str, message: str) -> ImportFailed:
    return ImportFailed(
        _("Row %(line)s, column %(column)s: %(message)s") % {"line": line, "column": column, "message": message},
        field=column,
        row=line,
    )


def _rows(data: bytes | str) -> list[tuple[int, str, str, str]]:
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ImportFailed(_("The file is not UTF-8 text."), field="file") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = set(STOCK_CSV_FIELDS) - set(reader.fieldnames or [])
    if missing:
        raise ImportFailed(_("Missing columns: %(columns)s.") % {"columns": ", ".join(sorted(missing))}, field="file")
    return [
        (line, (row["sku"] or "").strip(), (row["warehouse"] or "").strip(), (row["on_hand"] or "").strip())
        for line, row in enumerate(reader, start=2)
    ]


def _checked(rows) -> list[tuple[int, ProductVariant, Warehouse, int]]:
    """Each row's variant, warehouse and target level; the first bad row raises, naming row and column."""
    variants = {v.sku: v for v in ProductVariant.objects.filter(sku__in=[r[1] for r in rows])}
    warehouses = {w.code: w for w in Warehouse.objects.all()}
    levels = {
        (s.variant_id, s.warehouse_id): s.reserved
        for s in Stock.objects.filter(variant__in=list(variants.values()))
    }
    seen: dict[tuple[str, str], int] = {}
    checked = []
    for line, sku, code, raw in rows:
        if sku not in variants:
            raise _fail(line, "sku", _("unknown SKU %(sku)r.") % {"sku": sku})
        if code not in warehouses:
            raise _fail(line, "warehouse", _("unknown warehouse %(code)r.") % {"code": code})
        if (sku, code) in seen:
            raise _fail(line, "sku", _("also on row %(other)s for this warehouse.") % {"other": seen[(sku, code)]})
        seen[(sku, code)] = line
        try:
            on_hand = int(raw)
        except ValueError:
            raise _fail(line, "on_hand", _("not a whole number."))
        if on_hand < 0:
            raise _fail(line, "on_hand", _("must not be negative."))
        variant, warehouse = variants[sku], warehouses[code]
        reserved = levels.get((variant.pk, warehouse.pk), 0)
        if on_hand < reserved:
            raise _fail(line, "on_hand", _("%(reserved)s units are reserved for orders.") % {"reserved": reserved})
        checked.append((line, variant, warehouse, on_hand))
    return checked


def stock_import_csv(*, data: bytes | str, actor=None, reason: str = "stock import") -> dict:
    """Set on-hand levels per (SKU, warehouse) to the file's; returns {"rows", "changed"}.

    Every row is checked before anything is written; the writes are
    stock adjustments (guarded, with movements) in one transaction.
    """
    checked = _checked(_rows(data))
    changed = 0
    with transaction.atomic():
        current = {
            (s.variant_id, s.warehouse_id): s.on_hand
            for s in Stock.objects.filter(variant__in=[v for _l, v, _w, _q in checked])
        }
        for _line, variant, warehouse, on_hand in sorted(checked, key=lambda r: (r[1].pk, r[2].pk)):
            delta = on_hand - current.get((variant.pk, warehouse.pk), 0)
            if delta:
                stock_adjust(
                    variant_id=variant.pk, warehouse_id=warehouse.pk, delta=delta, actor=actor, reason=reason
                )
                changed += 1
    return {"rows": len(checked), "changed": changed}
