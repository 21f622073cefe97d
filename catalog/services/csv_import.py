"""CSV import of products (the columns of catalog.csv_format): every row is checked first, all rows or none."""

import csv
import io
import json
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.csv_format import CSV_REQUIRED_FIELDS, CSV_TRANSLATED_FIELDS
from catalog.exceptions import ImportFailed
from catalog.models import Category, Product
from catalog.services.products import product_create, product_slug_for, product_update
from shop.core.money import minor_unit_quantum


def products_import_csv(*, data: bytes | str, actor=None) -> dict:
    """Create or update products from CSV (columns as in the export); every row is checked first, all rows or none."""
    reader = _csv_reader(data)
    parsed, seen_skus = _rows_parse(reader)
    existing = {p.sku: p for p in Product.objects.filter(sku__in=list(seen_skus))}
    rows, seen_slugs = _slugs_assign(parsed, existing)
    _slugs_check_free(rows, seen_slugs, seen_skus)
    return _rows_write(rows, existing, actor)


def _csv_reader(data: bytes | str) -> csv.DictReader:
    """A reader of the UTF-8 text, once it has every required column."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ImportFailed(_("The file is not UTF-8 text."), field="file") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = CSV_REQUIRED_FIELDS - set(reader.fieldnames or [])
    if missing:
        raise ImportFailed(_("Missing columns: %(columns)s.") % {"columns": ", ".join(sorted(missing))}, field="file")
    return reader


def _rows_parse(reader: csv.DictReader) -> tuple[list[tuple[int, str, str, dict]], dict[str, int]]:
    """(line, sku, slug, fields) of every row, and the line of each SKU; a SKU on two rows fails."""
    categories = {c.slug: c for c in Category.objects.all()}
    parsed = []
    seen_skus: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        sku, slug, fields = _import_row(row, line_no, categories)
        if sku in seen_skus:
            raise ImportFailed(
                _("Row %(line)s, column sku: the SKU is also on row %(other)s.") % {"line": line_no, "other": seen_skus[sku]},
                field="file",
            )
        seen_skus[sku] = line_no
        parsed.append((line_no, sku, slug, fields))
    return parsed, seen_skus


def _slugs_assign(parsed: list, existing: dict[str, Product]) -> tuple[list[tuple[int, str, str, dict]], dict[str, int]]:
    """Every row with its slug, and the line of each slug; a slug on two rows fails."""
    rows = []
    seen_slugs: dict[str, int] = {}
    for line_no, sku, slug, fields in parsed:
        # A blank slug keeps an existing product's slug, or makes one for a new product.
        product = existing.get(sku)
        slug = slug or (product.slug if product is not None else product_slug_for(fields["name"], sku))
        if slug in seen_slugs:
            raise ImportFailed(
                _("Row %(line)s, column slug: the slug is also on row %(other)s.")
                % {"line": line_no, "other": seen_slugs[slug]},
                field="file",
            )
        seen_slugs[slug] = line_no
        rows.append((line_no, sku, slug, fields))
    return rows, seen_slugs


def _slugs_check_free(rows: list, seen_slugs: dict[str, int], seen_skus: dict[str, int]) -> None:
    """Fail on the first row whose slug a product outside the file already has."""
    taken = dict(
        Product.objects.filter(slug__in=list(seen_slugs)).exclude(sku__in=list(seen_skus)).values_list("slug", "sku")
    )
    for line_no, _sku, slug, _fields in rows:
        if slug in taken:
            raise ImportFailed(
                _("Row %(line)s, column slug: product %(other)s already has this slug.")
                % {"line": line_no, "other": taken[slug]},
                field="file",
            )


def _rows_write(rows: list, existing: dict[str, Product], actor) -> dict:
    """Create or update the product of every row in one transaction; {"created", "updated"}."""
    created = updated = 0
    current = 0
    try:
        with transaction.atomic():
            for line_no, sku, slug, fields in rows:
                current = line_no
                product = existing.get(sku)
                if product is None:
                    translations = {key: fields.pop(key) for key in CSV_TRANSLATED_FIELDS if key in fields}
                    product_create(sku=sku, slug=slug, actor=actor, translations=translations, **fields)
                    created += 1
                else:
                    product_update(product=product, slug=slug, **fields)
                    updated += 1
    except IntegrityError as exc:  # a clash the checks above cannot see (e.g. two slugs swapped)
        raise ImportFailed(
            _("Row %(line)s clashes with another product (SKU or slug).") % {"line": current}, field="file"
        ) from exc
    return {"created": created, "updated": updated}


def _parse_bool(value: str) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on", "y"}


def _import_row(row: dict, line_no: int, categories: dict) -> tuple[str, str, dict]:
    """(sku, slug, product fields) of one CSV row; ImportFailed naming the row and the column at fault."""
    def fail(column: str, problem: str):
        raise ImportFailed(
            _("Row %(line)s, column %(column)s: %(problem)s") % {"line": line_no, "column": column, "problem": problem},
            field="file",
        )

    sku = (row.get("sku") or "").strip()
    if not sku:
        fail("sku", _("the SKU is empty."))
    if len(sku) > Product._meta.get_field("sku").max_length:
        fail("sku", _("the SKU is too long."))
    name = (row.get("name") or "").strip()
    if not name:
        fail("name", _("the name is empty."))
    if len(name) > Product._meta.get_field("name").max_length:
        fail("name", _("the name is too long."))
    brand = (row.get("brand") or "").strip()
    if len(brand) > Product._meta.get_field("brand").max_length:
        fail("brand", _("the brand is too long."))
    slug = (row.get("slug") or "").strip()
    if slug and (slugify(slug) != slug or len(slug) > Product._meta.get_field("slug").max_length):
        fail("slug", _("use lower-case letters, digits and hyphens only."))
    category = categories.get((row.get("category") or "").strip())
    if category is None:
        fail("category", _("no category has this slug."))
    try:
        price = Decimal((row.get("price") or "").strip())
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or price < 0:
        fail("price", _("not a price (a number of at least 0)."))
    field = Product._meta.get_field("price")
    if price != price.quantize(minor_unit_quantum(settings.DEFAULT_CURRENCY)) or price.adjusted() >= (
        field.max_digits - field.decimal_places
    ):
        fail("price", _("too many digits for a price in %(currency)s.") % {"currency": settings.DEFAULT_CURRENCY})
    try:
        attributes = json.loads(row.get("attributes") or "{}")
    except ValueError:
        attributes = None
    if not isinstance(attributes, dict):
        fail("attributes", _("not a JSON object."))
    fields = {
        "name": name,
        "brand": brand,
        "category": category,
        "price": Money(price, settings.DEFAULT_CURRENCY),
        "description": row.get("description") or "",
        "attributes": attributes,
        "is_active": _parse_bool(row.get("is_active", "1")),
    }
    for column in CSV_TRANSLATED_FIELDS:
        if column in row:  # a column the file does not have keeps what is stored
            text = (row.get(column) or "").strip()
            if len(text) > (Product._meta.get_field(column).max_length or len(text)):
                fail(column, _("the text is too long."))
            fields[column] = text or None  # empty: the English text shows
    return sku, slug, fields
