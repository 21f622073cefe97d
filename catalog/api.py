"""Catalog API (/api/v1/): categories, product search with facets, detail, autocomplete, reviews.

Reads are public; posting a review needs a signed-in buyer.
"""

from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.cache import LISTING_TTL, listing_cache_key, stock_tokens_current
from catalog.exceptions import CatalogErrorCode, ReviewNotFound
from catalog.models import Product
from catalog.selectors.categories import category_get_by_slug, category_tree
from catalog.selectors.filters import ATTRIBUTE_KEY, ORDERINGS, ProductQuery
from catalog.selectors.prices import price_converter
from catalog.selectors.products import product_get_for_page
from catalog.selectors.recommendations import products_bought_together, products_recommended_for
from catalog.selectors.reviews import product_reviews, review_get_votable
from catalog.selectors.search import product_autocomplete, product_search
from catalog.selectors.stock import product_available, products_attach_stock
from catalog.selectors.variants import variant_options, variant_price, variants_of_product
from catalog.services.reviews import review_create, review_helpful_unvote, review_helpful_vote
from shop.core.api import MoneyField, Pagination, paginated
from shop.core.money import money_to_dict, request_currency
from shop.core.schema import CURRENCY_PARAMETER, error_responses

MAX_QUERY_LENGTH = 200


def _currency(request, raw: str | None) -> str:
    if raw is not None:  # present, even empty: one of the shop's currencies or a 400
        if raw not in settings.CURRENCIES:
            raise serializers.ValidationError({"currency": [_("Unknown currency: %(c)s.") % {"c": raw[:10]}]})
        return raw
    return request_currency(request)


@extend_schema_field({"type": "string", "maxLength": 100, "pattern": r"^\s*[a-z][a-z0-9_]{0,29}:[\s\S]+$"})
class AttributeFilterField(serializers.CharField):
    """One `attr=name:value` filter; the schema gives its form, ProductQueryInput.validate_attr checks it."""


class ProductQueryInput(serializers.Serializer):
    search = serializers.CharField(required=False, allow_blank=True, max_length=MAX_QUERY_LENGTH, trim_whitespace=True)
    q = serializers.CharField(required=False, allow_blank=True, max_length=MAX_QUERY_LENGTH, trim_whitespace=True)
    category = serializers.SlugField(required=False, max_length=140)
    brand = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=20)
    min_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), required=False)
    max_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), required=False)
    currency = serializers.ChoiceField(choices=settings.CURRENCIES, required=False)
    in_stock = serializers.BooleanField(required=False, allow_null=True, default=None)
    attr = serializers.ListField(child=AttributeFilterField(max_length=100), required=False, max_length=20)
    min_rating = serializers.IntegerField(min_value=1, max_value=5, required=False)
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False)
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False)
    page = serializers.IntegerField(min_value=1, max_value=100000, required=False, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=Pagination.max_page_size, required=False, default=20)

    def validate_attr(self, values):
        parsed: dict[str, list[str]] = {}
        for value in values:
            key, sep, wanted = value.partition(":")
            if not sep or not ATTRIBUTE_KEY.match(key) or not wanted:
                raise serializers.ValidationError(_("Use attr=name:value, e.g. attr=colour:red."))
            parsed.setdefault(key, []).append(wanted)
        return parsed

    def validate_category(self, slug):
        category = category_get_by_slug(slug)
        if category is None:
            raise serializers.ValidationError(_("Unknown category."))
        return category

    def validate(self, data):
        lo, hi = data.get("min_price"), data.get("max_price")
        if lo is not None and hi is not None and lo > hi:
            raise serializers.ValidationError({"max_price": [_("Must not be below min_price.")]})
        return data


def product_query_from_params(params, *, currency_default: str, blank_is_absent: bool = True) -> ProductQuery:
    """Validate query parameters (raises ValidationError naming the field) into a ProductQuery.

    `blank_is_absent`: an empty filter (`min_price=`, as a page's GET form sends it) means no
    filter; the API passes False and refuses it, as its schema says.
    """
    data = {key: params.get(key) for key in params if key not in ("brand", "attr")}
    if "brand" in params:
        data["brand"] = params.getlist("brand")
    if "attr" in params:
        data["attr"] = params.getlist("attr")
    if blank_is_absent:
        data = {k: v for k, v in data.items() if not (v == "" and k not in ("search", "q"))}
    serializer = ProductQueryInput(data=data)
    serializer.is_valid(raise_exception=True)
    v = serializer.validated_data
    return ProductQuery(
        q=v.get("search") or v.get("q") or "",
        category=v.get("category"),
        brand=v.get("brand", []),
        min_price=v.get("min_price"),
        max_price=v.get("max_price"),
        currency=v.get("currency") or currency_default,
        in_stock=v.get("in_stock"),
        attributes=v.get("attr", {}),
        min_rating=v.get("min_rating") or v.get("rating"),
        ordering=v.get("ordering", ""),
        page=v["page"],
        page_size=v["page_size"],
    )


class CategoryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    depth = serializers.IntegerField()
    children = serializers.ListField(child=serializers.DictField())


def product_list_item(product: Product, convert, request) -> dict:
    return {
        "id": product.pk,
        "sku": product.sku,
        "slug": product.slug,
        "name": product.name,
        "brand": product.brand,
        "category": {"slug": product.category.slug, "name": product.category.name},
        # The lowest price over its variants ("from"), when loaded with the stock.
        "price": money_to_dict(convert(getattr(product, "price_from", product.price))),
        "price_from": money_to_dict(convert(getattr(product, "price_from", product.price))),
        "available": product_available(product),
        "in_stock": product_available(product) > 0,
        "rating": {"average": str(product.rating_avg), "count": product.rating_count},
        "thumbnail": request.build_absolute_uri(product.thumbnail_url) if product.thumbnail_url else "",
        "url": product.get_absolute_url(),
    }


class ProductListItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    slug = serializers.CharField()
    name = serializers.CharField()
    brand = serializers.CharField()
    category = serializers.DictField()
    price = MoneyField()
    price_from = MoneyField()
    available = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    rating = serializers.DictField()
    thumbnail = serializers.CharField()
    url = serializers.CharField()


class VariantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    options = serializers.DictField(child=serializers.CharField())
    price = MoneyField()
    available = serializers.IntegerField()
    in_stock = serializers.BooleanField()


class ProductDetailOutput(ProductListItemOutput):
    variants = VariantOutput(many=True)
    description = serializers.CharField()
    attributes = serializers.DictField()
    images = serializers.ListField(child=serializers.DictField())
    bought_together = ProductListItemOutput(many=True)


class AutocompleteOutput(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())


PRODUCT_EXAMPLE = {
    "id": 42,
    "sku": "TEE-RED-M",
    "slug": "red-t-shirt",
    "name": "Red T-shirt",
    "brand": "Acme",
    "category": {"slug": "t-shirts", "name": "T-shirts"},
    "price": {"amount": "12.50", "currency": "USD"},
    "available": 18,
    "in_stock": True,
    "rating": {"average": "4.50", "count": 12},
    "thumbnail": "https://shop.example.com/media/products/red-t-shirt-thumb.webp",
    "url": "/products/red-t-shirt/",
}


def _response_example(name: str, value, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


class CategoryListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="category_tree",
        responses=CategoryOutput(many=True),
        summary="The category tree",
        description="Every category, top level first; `children` nests the subcategories the same way.",
        examples=[
            _response_example(
                "tree",
                [{"id": 1, "name": "Clothing", "slug": "clothing", "depth": 1,
                  "children": [{"id": 2, "name": "T-shirts", "slug": "t-shirts", "depth": 2, "children": []}]}],
            )
        ],
    )
    def get(self, request):
        return Response(category_tree())


def _page_link(request, page: int) -> str:
    params = request.query_params.copy()
    params["page"] = str(page)
    return request.build_absolute_uri(request.path + "?" + params.urlencode())


class ProductListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="product_search",
        summary="Search and browse products",
        description="Full-text search (`search`), filters, ordering and facet counts; paginated.",
        examples=[
            _response_example(
                "page",
                {"count": 1, "next": None, "previous": None, "currency": "USD", "ordering": "relevance",
                 "results": [PRODUCT_EXAMPLE],
                 "facets": {"categories": [], "brands": [], "price": [], "in_stock": 1, "attributes": {}}},
            )
        ],
        parameters=[ProductQueryInput],
        responses=paginated(
            ProductListItemOutput,
            name="ProductPage",
            currency=serializers.CharField(),
            ordering=serializers.CharField(),
            facets=serializers.JSONField(help_text="counts by category, brand, price band and availability"),
        ),
    )
    def get(self, request):
        currency = _currency(request, request.query_params.get("currency"))
        # The same answer for everyone asking the same thing until the catalog
        # (products, prices, stock, ratings) changes: served from the cache.
        # A stock change re-renders only the answers showing that product (catalog.cache).
        key = listing_cache_key("api-products", request, currency)
        entry = cache.get(key)
        if entry is None or not stock_tokens_current(entry.get("stock")):
            body, tokens = self._listing(request, currency)
            entry = {"body": body, "stock": tokens}
            cache.set(key, entry, LISTING_TTL)
        return Response(entry["body"])

    def _listing(self, request, currency: str) -> tuple[dict, dict]:
        query = product_query_from_params(request.query_params, currency_default=currency, blank_is_absent=False)
        result = product_search(query)
        if query.page > result.num_pages:
            raise NotFound(_("Invalid page."))
        convert = price_converter(query.currency)
        facets = result.facets
        return {
                "count": result.count,
                "next": _page_link(request, query.page + 1) if result.has_next else None,
                "previous": _page_link(request, query.page - 1) if result.has_previous else None,
                "currency": query.currency,
                "ordering": result.ordering,
                "results": [product_list_item(p, convert, request) for p in result.products],
                "facets": {
                    "categories": facets["categories"],
                    "brands": facets["brands"],
                    "price": [
                        {
                            "min": str(b["min"]),
                            "max": str(b["max"]) if b["max"] is not None else None,
                            "currency": b["currency"],
                            "count": b["count"],
                        }
                        for b in facets["price"]
                    ],
                    "in_stock": facets["in_stock"],
                    "attributes": facets["attributes"],
                },
            }, result.stock_tokens


class AutocompleteInput(serializers.Serializer):
    q = serializers.CharField(max_length=100, allow_blank=True, trim_whitespace=True)
    limit = serializers.IntegerField(min_value=1, max_value=20, required=False, default=10)


class ProductAutocompleteApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="product_autocomplete",
        parameters=[AutocompleteInput],
        responses=AutocompleteOutput,
        summary="Product name suggestions",
        description="Names that start like `q` (typo-tolerant on PostgreSQL), for a search box.",
        examples=[
            _response_example(
                "suggestions", {"results": [{"name": "Red T-shirt", "slug": "red-t-shirt", "url": "/products/red-t-shirt/"}]}
            )
        ],
    )
    def get(self, request):
        serializer = AutocompleteInput(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        products = product_autocomplete(q=serializer.validated_data["q"], limit=serializer.validated_data["limit"])
        return Response({"results": [{"name": p.name, "slug": p.slug, "url": p.get_absolute_url()} for p in products]})


class ProductRecommendedApi(APIView):
    """"Recommended for you": from the categories of the caller's purchases (best rated for others)."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="products_recommended",
        parameters=[CURRENCY_PARAMETER],
        responses=inline_serializer("RecommendedProducts", {"results": ProductListItemOutput(many=True)}),
        summary="Recommended for you",
        description="From the categories of the caller's purchases; the best rated for anyone else.",
        examples=[_response_example("recommended", {"results": [PRODUCT_EXAMPLE]})],
    )
    def get(self, request):
        currency = _currency(request, request.query_params.get("currency"))
        convert = price_converter(currency)
        products = products_recommended_for(user=request.user, limit=12)
        return Response({"results": [product_list_item(p, convert, request) for p in products]})


def _active_product(slug: str) -> Product:
    product = product_get_for_page(slug=slug)
    if product is None:
        raise NotFound(_("Product not found."))
    return product


class ProductDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="product_get",
        parameters=[CURRENCY_PARAMETER],
        responses=ProductDetailOutput,
        summary="One product",
        description="A product with its description, attributes, images, stock and rating.",
        examples=[
            _response_example(
                "product",
                {**PRODUCT_EXAMPLE, "description": "Soft cotton.", "attributes": {"colour": "red", "size": "M"},
                 "images": [], "bought_together": []},
            )
        ],
    )
    def get(self, request, slug: str):
        currency = _currency(request, request.query_params.get("currency"))
        key = listing_cache_key("api-product", request, currency)
        entry = cache.get(key)
        if entry is None or not stock_tokens_current(entry.get("stock")):
            body, tokens = self._detail(request, slug, currency)
            entry = {"body": body, "stock": tokens}
            cache.set(key, entry, LISTING_TTL)
        return Response(entry["body"])

    def _detail(self, request, slug: str, currency: str) -> tuple[dict, dict]:
        product = _active_product(slug)
        bought_together = products_bought_together(product=product)
        # Current stock of everything shown, read after its tokens: the answer is cached under them.
        tokens = products_attach_stock([product, *bought_together])
        convert = price_converter(currency)
        body = product_list_item(product, convert, request)
        body.update(
            {
                "variants": [
                    {
                        "id": v.pk,
                        "sku": v.sku,
                        "options": variant_options(v),
                        "price": money_to_dict(convert(variant_price(v, product))),
                        "available": max(v.stock_available, 0),
                        "in_stock": v.stock_available > 0,
                    }
                    for v in variants_of_product(product)
                ],
                "description": product.description,
                "attributes": product.attributes,
                "images": [
                    {
                        "image": request.build_absolute_uri(img.image.url),
                        "thumbnail": request.build_absolute_uri(img.thumbnail.url) if img.thumbnail else "",
                        "alt": img.alt,
                    }
                    for img in product.images.all()
                ],
                "bought_together": [product_list_item(p, convert, request) for p in bought_together],
                "category": {
                    "slug": product.category.slug,
                    "name": product.category.name,
                },
            }
        )
        return body, tokens


class ReviewInput(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    title = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    rating = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    author = serializers.SerializerMethodField()
    helpful_count = serializers.IntegerField(help_text="How many signed-in shoppers found this review helpful.")
    created_at = serializers.DateTimeField()

    def get_author(self, review) -> str:
        # Never any part of the e-mail address: the same neutral label as the product page.
        return (getattr(review.user, "full_name", "") or "").strip() or str(_("A customer"))


REVIEW_EXAMPLE = {
    "id": 3,
    "rating": 5,
    "title": "Great",
    "body": "Fits well.",
    "author": "Alex",
    "helpful_count": 4,
    "created_at": "2026-11-30T10:15:00Z",
}


class ReviewPagination(Pagination):
    page_size = 10


class ProductReviewsApi(APIView):
    def get_permissions(self):
        return [AllowAny()] if self.request.method == "GET" else [IsAuthenticated()]

    @extend_schema(
        operation_id="product_reviews_list",
        responses=paginated(ReviewOutput),
        summary="A product's reviews",
        description="Reviews of the product, most helpful first (helpful votes), then newest; paginated.",
        examples=[_response_example("page", {"count": 1, "next": None, "previous": None, "results": [REVIEW_EXAMPLE]})],
    )
    def get(self, request, slug: str):
        product = _active_product(slug)
        paginator = ReviewPagination()
        page = paginator.paginate_queryset(product_reviews(product=product), request, view=self)
        return paginator.get_paginated_response(ReviewOutput(page, many=True).data)

    @extend_schema(
        operation_id="product_review_create",
        request=ReviewInput,
        responses={
            201: ReviewOutput,
            **error_responses(
                codes={403: [CatalogErrorCode.NOT_A_BUYER], 409: [CatalogErrorCode.ALREADY_REVIEWED]}
            ),
        },
        summary="Review a product",
        description="Only a buyer of the product may review it, once.",
        examples=[
            OpenApiExample("review", value={"rating": 5, "title": "Great", "body": "Fits well."}, request_only=True),
            _response_example("created", REVIEW_EXAMPLE, 201),
        ],
    )
    def post(self, request, slug: str):
        product = get_object_or_404(Product, slug=slug, is_active=True)
        serializer = ReviewInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        review = review_create(user=request.user, product=product, **serializer.validated_data)
        return Response(ReviewOutput(review).data, status=status.HTTP_201_CREATED)


class ReviewHelpfulOutput(serializers.Serializer):
    id = serializers.IntegerField()
    helpful_count = serializers.IntegerField()
    voted = serializers.BooleanField(help_text="Whether the caller's helpful vote is counted now.")


def _votable_review(review_id: int):
    review = review_get_votable(review_id=review_id)
    if review is None:
        raise ReviewNotFound()
    return review


class ReviewHelpfulApi(APIView):
    """One helpful vote per signed-in shopper and review: PUT-like POST (a repeat changes nothing), DELETE takes it back."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="review_helpful_vote",
        request=None,
        responses={
            200: ReviewHelpfulOutput,
            **error_responses(
                codes={403: [CatalogErrorCode.OWN_REVIEW_VOTE], 404: [CatalogErrorCode.REVIEW_NOT_FOUND]}
            ),
        },
        summary="Mark a review helpful",
        description="Counts the caller's vote once; voting again changes nothing. Not on one's own review.",
        examples=[_response_example("voted", {"id": 3, "helpful_count": 5, "voted": True})],
    )
    def post(self, request, review_id: int):
        review = review_helpful_vote(user=request.user, review=_votable_review(review_id))
        return Response(ReviewHelpfulOutput({"id": review.pk, "helpful_count": review.helpful_count, "voted": True}).data)

    @extend_schema(
        operation_id="review_helpful_unvote",
        responses={200: ReviewHelpfulOutput, **error_responses(codes={404: [CatalogErrorCode.REVIEW_NOT_FOUND]})},
        summary="Take back a helpful vote",
        description="Removes the caller's helpful vote; nothing happens when there is none.",
        examples=[_response_example("unvoted", {"id": 3, "helpful_count": 4, "voted": False})],
    )
    def delete(self, request, review_id: int):
        review = review_helpful_unvote(user=request.user, review=_votable_review(review_id))
        return Response(
            ReviewHelpfulOutput({"id": review.pk, "helpful_count": review.helpful_count, "voted": False}).data
        )
