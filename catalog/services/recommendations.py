"""Purchases and what they feed: the bought-together table."""

from collections.abc import Iterable

from django.db import connection, transaction

from catalog.cache import catalog_cache_invalidate
from catalog.models import BoughtTogether, ProductPurchase
from catalog.services.stock import product_lines_merge


def product_purchase_record(*, user, lines: Iterable[tuple[int, int]], reference: str) -> None:
    """Record that `user` bought these products in order `reference`; idempotent per (reference, product)."""
    merged = product_lines_merge(lines)
    with transaction.atomic(savepoint=False):
        ProductPurchase.objects.bulk_create(
            [ProductPurchase(user=user, product_id=pid, quantity=qty, reference=reference) for pid, qty in merged],
            ignore_conflicts=True,
        )


_BOUGHT_TOGETHER_SQL = """
INSERT INTO catalog_boughttogether (product_id, other_id, count)
SELECT a.product_id, b.product_id, COUNT(DISTINCT a.reference)
FROM catalog_productpurchase AS a
JOIN catalog_productpurchase AS b ON a.reference = b.reference AND a.product_id <> b.product_id
GROUP BY a.product_id, b.product_id
"""


def bought_together_compute() -> int:
    """Recompute the co-purchase table from ProductPurchase (orders sharing a reference)."""
    with transaction.atomic():
        BoughtTogether.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(_BOUGHT_TOGETHER_SQL)
        catalog_cache_invalidate()
        return BoughtTogether.objects.count()
