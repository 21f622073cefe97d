"""The product CSV columns, shared by the export (selectors) and the import (services)."""

CSV_FIELDS = ["sku", "slug", "name", "brand", "category", "price", "is_active", "description", "attributes"]
# Columns a file to import must have; the others take their defaults.
CSV_REQUIRED_FIELDS = {"sku", "name", "category", "price"}
