"""The stored full-text search vector of products (PostgreSQL): the words of every shop language."""

from collections.abc import Iterable

from django.db import connection, transaction

from catalog.translation import search_config, shop_languages


def search_vector_sql(languages: Iterable[str] | None = None) -> str:
    """The UPDATE that recomputes the vector: per language, name (A), brand and category (B),
    description (C), each stemmed by that language's configuration. A missing translation
    adds nothing (the English words are there already)."""
    parts = []
    for lang in languages or shop_languages():
        config = search_config(lang)
        # lang comes from settings.LANGUAGES, never from a request.
        parts.append(
            f"setweight(to_tsvector('{config}', coalesce(p.name_{lang}, '')), 'A') || "
            f"setweight(to_tsvector('{config}', coalesce(p.brand, '') || ' ' || coalesce(c.name_{lang}, '')), 'B') || "
            f"setweight(to_tsvector('{config}', coalesce(p.description_{lang}, '')), 'C')"
        )
    return (
        "UPDATE catalog_product AS p SET search_vector = "  # noqa: S608
        + " || ".join(parts)
        + " FROM catalog_category AS c WHERE c.id = p.category_id"
    )


def product_search_vector_refresh(*, product_ids: Iterable[int] | None = None) -> None:
    """Recompute the stored full-text vector (PostgreSQL only; a no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(), connection.cursor() as cursor:
        if product_ids is None:
            cursor.execute(search_vector_sql())
        else:
            cursor.execute(search_vector_sql() + " AND p.id = ANY(%s)", [list(product_ids)])
