"""Stock reads: what is left to reserve, the movements, the stock of a page of products."""

from django.db.models import F, Q, QuerySet

from catalog.cache import stock_tokens
from catalog.models import Product, Stock, StockMovement


def product_available(product: Product) -> int:
    """Units that can still be reserved (0 when the product has no stock row)."""
    stock = getattr(product, "stock", None)
    return max(stock.on_hand - stock.reserved, 0) if stock is not None else 0


def stock_movements_for(*, product_id: int) -> QuerySet[StockMovement]:
    """The product's stock movements, oldest first."""
    return StockMovement.objects.filter(product_id=product_id).order_by("id")


def out_of_stock_ids() -> QuerySet:
    """Ids of products with nothing left to reserve (every product has a stock row, made with it).

    On PostgreSQL a partial index holds exactly these rows, so "in stock" over
    thousands of matches is one small hashed anti-join instead of a stock
    lookup per match or a hash of the whole stock table.
    """
    return Stock.objects.filter(on_hand__lte=F("reserved")).values("product_id")


def in_stock_q() -> Q:
    """Products with something left to reserve (see `out_of_stock_ids`)."""
    return ~Q(pk__in=out_of_stock_ids())


def products_attach_stock(products: list[Product]) -> dict[str, str]:
    """Load the current stock of `products` (one query) and return the stock tokens it is current for.

    The tokens are read first: a cached answer built from this stock is then
    never stored under tokens newer than the stock it shows (catalog.cache).
    """
    if not products:
        return {}
    tokens = stock_tokens(p.pk for p in products)
    stocks = Stock.objects.in_bulk([p.pk for p in products])
    for product in products:
        stock = stocks.get(product.pk)
        if stock is not None:
            Product.stock.related.field.set_cached_value(stock, product)
            product._state.fields_cache["stock"] = stock
        else:
            product._state.fields_cache["stock"] = None
    return tokens
