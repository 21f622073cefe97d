"""The validated search input and the active products matching its filters."""

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q, QuerySet, TextChoices

from catalog.models import Category, Product, ProductVariant
from catalog.selectors.categories import category_descendant_ids
from catalog.selectors.prices import price_from_expression, price_range_in_base
from catalog.selectors.spelling import product_vocabulary, query_suggestion, word_nearest
from catalog.selectors.stock import in_stock_q
from catalog.translation import localized_fields, search_config, shop_languages


class ProductOrdering(TextChoices):
    """How a product list can be sorted (the `ordering` of a search)."""

    RELEVANCE = "relevance", "relevance"
    PRICE = "price", "price"
    PRICE_DESC = "-price", "-price"
    NAME = "name", "name"
    NEWEST = "-created", "-created"
    RATING = "-rating", "-rating"


ORDERINGS = tuple(ProductOrdering.values)
ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,29}$")


@dataclass
class ProductQuery:
    """Validated search input (see catalog.api.ProductQueryInput)."""

    q: str = ""
    category: Category | None = None
    brand: list[str] = field(default_factory=list)
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    currency: str = settings.DEFAULT_CURRENCY
    in_stock: bool | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    min_rating: int | None = None
    ordering: str = ""
    page: int = 1
    page_size: int = 20


def _sku_match(q: str) -> Q:
    """Products with a variant whose SKU is exactly `q` (any case); Q() when there is none.

    Looked up first, by the index on UPPER(sku), so the text match stays one index scan: an
    `OR pk IN (subquery)` beside it made PostgreSQL read the whole product table on every search.
    """
    code = q.strip()
    if not code or len(code) > 64 or any(ch.isspace() for ch in code):
        return Q()
    ids = list(ProductVariant.objects.filter(sku__iexact=code).order_by().values_list("product_id", flat=True)[:20])
    return Q(pk__in=ids) if ids else Q()


def _text_filter(qs: QuerySet, q: str) -> tuple[QuerySet, bool]:
    """Full-text match on PostgreSQL (ranked); word-by-word icontains elsewhere, where a word
    the catalogue does not know also matches its nearest catalogue word ("hedphone": headphone).
    A variant's SKU finds its product on both."""
    sku = _sku_match(q)
    if connection.vendor == "postgresql":
        # The vector holds every language's words, each stemmed as its language: so is the query.
        query = _search_query(q)
        if corrected := query_suggestion(q):  # misspelt words: also the catalogue's spelling
            query |= _search_query(corrected)
        return qs.filter(Q(search_vector=query) | sku).annotate(rank=SearchRank(F("search_vector"), query)), True
    vocabulary = None
    words = Q()
    for word in q.split()[:8]:
        match = _word_q(word)
        if len(word) >= 4 and word.lower() not in (vocabulary := vocabulary or product_vocabulary()):
            nearest = word_nearest(word, vocabulary)
            if nearest and nearest != word.lower():
                match |= _word_q(nearest)
        words &= match
    return qs.filter(words | sku), False


def _search_query(q: str) -> SearchQuery:
    query = None
    for config in dict.fromkeys(search_config(lang) for lang in shop_languages()):
        one = SearchQuery(q, search_type="websearch", config=config)
        query = one if query is None else query | one
    return query


def _word_q(word: str) -> Q:
    """The word in the name, brand, category or description, in any shop language."""
    match = Q(brand__icontains=word)
    for name, category, description in zip(
        localized_fields("name"), localized_fields("category__name"), localized_fields("description"), strict=True
    ):
        match |= Q(**{f"{name}__icontains": word, f"{category}__icontains": word, f"{description}__icontains": word}, _connector=Q.OR)
    return match


def products_filtered(query: ProductQuery) -> tuple[QuerySet, bool]:
    """Active products matching every filter of `query`; (queryset, ranked)."""
    qs = Product.objects.filter(is_active=True)
    ranked = False
    if query.q:
        qs, ranked = _text_filter(qs, query.q)
    if query.category is not None:
        qs = qs.filter(category_id__in=category_descendant_ids(query.category))
    if query.brand:
        qs = qs.filter(brand__in=query.brand)
    if query.min_price is not None or query.max_price is not None:
        low, high = price_range_in_base(query.min_price, query.max_price, query.currency)
        # The "from" price the listing shows (the lowest variant's), not the product's own.
        qs = qs.alias(price_from=price_from_expression())
        if low is not None:
            qs = qs.filter(price_from__gte=low)
        if high is not None:
            qs = qs.filter(price_from__lt=high)
    if query.in_stock is True:
        qs = qs.filter(in_stock_q())
    elif query.in_stock is False:
        qs = qs.exclude(in_stock_q())
    for key, values in query.attributes.items():
        if ATTRIBUTE_KEY.match(key) and values:
            # A variant option of that name (size=M) matches too: a variant with that value.
            with_value = ProductVariant.objects.filter(option_values__option__code=key, option_values__value__in=values)
            if query.in_stock is True:  # "in stock in size M": that variant, not another size
                with_value = with_value.filter(
                    stocks__warehouse__is_active=True, stocks__on_hand__gt=F("stocks__reserved")
                )
            by_option = Q(pk__in=with_value.values("product_id"))
            if connection.vendor == "postgresql":
                # Containment (@>) is what the jsonb_path_ops GIN index answers.
                wanted = Q()
                for value in values:
                    wanted |= Q(attributes__contains={key: value})
                qs = qs.filter(wanted | by_option)
            else:
                qs = qs.filter(Q(**{f"attributes__{key}__in": values}) | by_option)
    if query.min_rating is not None:
        qs = qs.filter(rating_avg__gte=query.min_rating)
    return qs, ranked


def product_query_browsing(query: ProductQuery) -> bool:
    """No filter beyond category, brand and availability: the facets come from FacetCount."""
    return not (query.q or query.attributes or query.min_rating is not None) and (
        query.min_price is None and query.max_price is None
    )
