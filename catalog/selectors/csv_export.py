"""CSV export of products, in the columns the import reads (catalog.csv_format)."""

import json
from collections.abc import Iterable

from django.db.models import QuerySet

from catalog.csv_format import CSV_FIELDS, CSV_TRANSLATED_FIELDS
from catalog.models import Product


def products_export_rows(qs: QuerySet[Product] | None = None) -> Iterable[list[str]]:
    """CSV rows (header first) for products; the import reads the same columns."""
    yield CSV_FIELDS
    qs = (qs if qs is not None else Product.objects.all()).select_related("category").order_by("id")
    for p in qs.iterator(chunk_size=2000):
        yield [
            p.sku,
            p.slug,
            p.name_en,
            p.brand,
            p.category.slug,
            str(p.price.amount),
            "1" if p.is_active else "0",
            p.description_en or "",
            json.dumps(p.attributes, sort_keys=True, ensure_ascii=False),
            *[getattr(p, column) or "" for column in CSV_TRANSLATED_FIELDS],
        ]
