"""The stored full-text search vector of products (PostgreSQL)."""

from collections.abc import Iterable

from django.db import connection, transaction

_SEARCH_VECTOR_SQL = """
UPDATE catalog_product AS p SET search_vector =
    setweight(to_tsvector('english', coalesce(p.name, '')), 'A') ||
    setweight(to_tsvector('english', coalesce(p.brand, '') || ' ' || coalesce(c.name, '')), 'B') ||
    setweight(to_tsvector('english', coalesce(p.description, '')), 'C')
FROM catalog_category AS c
WHERE c.id = p.category_id
"""


def product_search_vector_refresh(*, product_ids: Iterable[int] | None = None) -> None:
    """Recompute the stored full-text vector (PostgreSQL only; a no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(), connection.cursor() as cursor:
        if product_ids is None:
            cursor.execute(_SEARCH_VECTOR_SQL)
        else:
            cursor.execute(_SEARCH_VECTOR_SQL + " AND p.id = ANY(%s)", [list(product_ids)])
