"""The product CSV columns, shared by the export (selectors) and the import (services)."""

from catalog.translation import localized_fields

# name and description are the English text; name_de, description_de (one pair per other shop
# language) the translations, optional on import (a file without them keeps the stored ones).
CSV_TRANSLATED_FIELDS = [
    column for field in ("name", "description") for column in localized_fields(field) if not column.endswith("_en")
]
CSV_FIELDS = [
    "sku", "slug", "name", "brand", "category", "price", "is_active", "description", "attributes",
    *CSV_TRANSLATED_FIELDS,
]
# Columns a file to import must have; the others take their defaults.
CSV_REQUIRED_FIELDS = {"sku", "name", "category", "price"}
