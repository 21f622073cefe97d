"""Catalog pages: home, category, search (with facets), product detail (+ review form)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import ValidationError

from catalog.api import product_query_from_params
from catalog.cache import LISTING_TTL, TTL, catalog_cache_key, listing_cache_key, stock_tokens_current
from catalog.engagement.selectors import wishlist_has
from catalog.forms import ReviewForm
from catalog.selectors.categories import category_breadcrumbs, category_get_by_slug, category_tree
from catalog.selectors.filters import ProductOrdering
from catalog.selectors.prices import price_converter
from catalog.selectors.products import product_get_for_page, products_by_ids
from catalog.selectors.recommendations import (
    products_best_rated,
    products_bought_together,
    products_new,
    products_recommended_for,
    products_similar,
)
from catalog.selectors.reviews import (
    product_reviews_for_page,
    review_get_votable,
    review_ids_voted,
    review_refusal,
    review_summary,
)
from catalog.selectors.search import product_search
from catalog.selectors.spelling import query_suggestion
from catalog.selectors.stock import product_available, products_attach_stock
from catalog.selectors.variants import variant_options, variant_price, variants_of_product
from catalog.services.reviews import review_create, review_helpful_toggle
from catalog.templatetags.catalog_tags import money
from shop.core.api import _first_field_error
from shop.core.exceptions import ShopError
from shop.core.money import request_currency

CART_SLOT = "<div data-cart-slot></div>"


def _priced(products, convert):
    """Cards: the lowest price over the variants ("from") when the stock read loaded it."""
    return [
        {
            "product": p,
            "price": convert(getattr(p, "price_from", p.price)),
            "price_from": getattr(p, "variant_count", 1) > 1,
            "available": product_available(p),
        }
        for p in products
    ]


# "Recently viewed" lives in a signed cookie of the shopper's browser: no session row to write
# on every product view, so a cached product page still costs no query.
RECENT_COOKIE = "recently_viewed"
RECENT_MAX = 8
RECENT_AGE = 60 * 60 * 24 * 30


def _recent_ids(request) -> list[int]:
    raw = request.get_signed_cookie(RECENT_COOKIE, default="", salt=RECENT_COOKIE)
    return [int(part) for part in raw.split(",") if part.isdigit()][:RECENT_MAX]


def _recently_viewed_note(request, response, product_id: int) -> None:
    """Remember a viewed product (newest first, at most RECENT_MAX) in the shopper's cookie."""
    ids = [product_id, *(pid for pid in _recent_ids(request) if pid != product_id)][:RECENT_MAX]
    response.set_signed_cookie(
        RECENT_COOKIE, ",".join(map(str, ids)), salt=RECENT_COOKIE, max_age=RECENT_AGE, httponly=True, samesite="Lax"
    )


def _recently_viewed(request, convert, *, exclude_id: int | None = None) -> list[dict]:
    ids = [pid for pid in _recent_ids(request) if pid != exclude_id][:4]
    found = products_by_ids(ids) if ids else {}
    return _priced([found[i] for i in ids if i in found], convert)


def home(request):
    currency = request_currency(request)
    convert = price_converter(currency)
    new = products_new(limit=8)
    if request.user.is_authenticated:
        picked = products_recommended_for(user=request.user, limit=8)
    else:
        # "Best rated" is its own list: rated by enough shoppers, and not the new arrivals again.
        picked = products_best_rated(exclude_ids={p.pk for p in new}, limit=8)
    return render(
        request,
        "catalog/home.html",
        {
            "categories": category_tree(),
            "new_products": _priced(new, convert),
            "recommended": _priced(picked, convert),
            "recently_viewed": _recently_viewed(request, convert),
        },
    )


def _listing(request, *, template: str, category=None):
    """A listing page: the facet sidebar and product grid come from the cache
    (same question, same catalog version: same HTML); the page around them, with
    the visitor's header and messages, is rendered per request."""
    currency = request_currency(request)
    key = listing_cache_key("page-listing", request, currency)
    cached = cache.get(key)
    if cached is not None and stock_tokens_current(cached.get("stock")):
        listing, status = cached["html"], 200
    else:
        listing, status, tokens = _listing_html(request, currency=currency, category=category)
        if status == 200:
            cache.set(key, {"html": listing, "stock": tokens}, LISTING_TTL)
    context = {
        "category": category,
        "q": request.GET.get("q", ""),
        "listing": mark_safe(listing),  # noqa: S308
        "breadcrumbs": category_breadcrumbs(category) if category else [{"name": _("Search")}],
    }
    return render(request, template, context, status=status)


def _attribute_choices(query, facets: dict) -> list[dict]:
    """Attribute filters for the sidebar: the values found in the current results, the chosen ones ticked."""
    chosen = query.attributes
    choices = []
    for item in facets.get("attributes", []):
        values = [
            {"value": v["value"], "count": v["count"], "param": f"{item['name']}:{v['value']}",
             "checked": v["value"] in chosen.get(item["name"], [])}
            for v in item["values"]
        ]
        choices.append({"name": item["name"], "values": values})
    return choices


def _listing_html(request, *, currency: str, category) -> tuple[str, int, dict]:
    params = request.GET.copy()
    if category is not None:
        params["category"] = category.slug
    context = {"category": category, "categories": category_tree(), "q": request.GET.get("q", "")}
    try:
        query = product_query_from_params(params, currency_default=currency)
    except ValidationError as exc:
        field, message = _first_field_error(exc.detail)
        context.update({"error_field": field, "error": message, "result": None})
        return render_to_string("catalog/_listing.html", context), 400, {}
    result = product_search(query)
    if query.page > result.num_pages:
        raise Http404(_("Invalid page."))
    convert = price_converter(query.currency)
    base = request.GET.copy()
    base.pop("page", None)
    context.update(
        {
            "query": query,
            "result": result,
            "items": _priced(result.products, convert),
            "querystring": base.urlencode(),
            "attribute_choices": _attribute_choices(query, result.facets),
            # An empty result offers the query with its words spelt as the catalogue spells them.
            "suggestion": query_suggestion(query.q) if query.q and not result.count else "",
            "orderings": [
                (ProductOrdering.RELEVANCE, _("Relevance")),
                (ProductOrdering.PRICE, _("Price: low to high")),
                (ProductOrdering.PRICE_DESC, _("Price: high to low")),
                (ProductOrdering.NEWEST, _("Newest")),
                (ProductOrdering.RATING, _("Best rated")),
                (ProductOrdering.NAME, _("Name")),
            ],
        }
    )
    return render_to_string("catalog/_listing.html", context), 200, result.stock_tokens


def category_detail(request, slug: str):
    category = category_get_by_slug(slug)
    if category is None:
        raise Http404(_("Unknown category."))
    return _listing(request, template="catalog/category.html", category=category)


def search(request):
    return _listing(request, template="catalog/search.html")


def _product_body(request, product, currency: str) -> tuple[str, dict, dict]:
    """The cacheable part of a product page, and the stock tokens it is current for."""
    convert = price_converter(currency)
    reviews = product_reviews_for_page(product=product)
    bought_together = products_bought_together(product=product, limit=4)
    similar = products_similar(product=product, exclude_ids={p.pk for p in bought_together})
    # Stock read after its tokens, for the product and every card shown (catalog.cache).
    tokens = products_attach_stock([product, *bought_together, *similar])
    picker = variant_picker(product, convert)
    html = render_to_string(
        "catalog/_product_body.html",
        {
            "product": product,
            "price": convert(getattr(product, "price_from", product.price)),
            "price_from": len(picker["variants"]) > 1,
            "available": product_available(product),
            "reviews": reviews,
            **review_summary(product=product),
            # Signed-in pages are never cached, so they may carry the shopper's votes and CSRF token;
            # a visitor's (cached) page shows the counts and a sign-in link instead.
            "voter": request.user if request.user.is_authenticated else None,
            "voted": review_ids_voted(user=request.user, review_ids=[r.pk for r in reviews]),
            "csrf_value": get_token(request) if request.user.is_authenticated else "",
            "bought_together": _priced(bought_together, convert),
            "similar": _priced(similar, convert),
            "images": list(product.images.all()),
        },
        request=None,
    )
    return html, tokens, picker


def variant_picker(product, convert) -> dict:
    """The product page's variant choices: options with their values, and every variant's price and stock."""
    variants = variants_of_product(product)
    options: dict[str, dict] = {}
    for variant in variants:
        for value in variant.option_values.all():
            entry = options.setdefault(value.option.code, {"code": value.option.code, "name": value.option.name,
                                                           "position": value.option.position, "values": []})
            if value.value not in [known["value"] for known in entry["values"]]:
                # The key the variants and the form speak, and the label in the shopper's language.
                entry["values"].append({"value": value.value, "label": value.display})
    ordered = sorted(options.values(), key=lambda o: o["position"])
    labels = {(o["code"], v["value"]): v["label"] for o in ordered for v in o["values"]}
    return {
        "options": ordered,
        # Sold-out variants a shopper can ask to be told about ("M / Red"), in the shopper's language.
        "sold_out": [
            {"id": v.pk, "label": " / ".join(labels[(code, value)] for code, value in variant_options(v).items())}
            for v in variants
            if v.stock_available <= 0 and variant_options(v)
        ],
        "variants": [
            {"id": v.pk, "sku": v.sku, "options": variant_options(v), "price": money(price),
             "amount": str(price.amount), "currency": price.currency.code, "available": max(v.stock_available, 0)}
            for v, price in ((v, convert(variant_price(v, product))) for v in variants)
        ],
    }


def _recommended_for(request, *, exclude_id: int, currency: str) -> list[dict]:
    """"Recommended for you" on a product page: per shopper, so never part of the cached fragment."""
    if not request.user.is_authenticated:
        return []
    products = [
        p for p in products_recommended_for(user=request.user, limit=9) if p.pk != exclude_id
    ][:8]
    return _priced(products, price_converter(currency))


@require_http_methods(["GET", "HEAD", "POST"])
def product_detail(request, slug: str):
    """The product page; anonymous views are cached until the product changes (or its stock, see catalog.cache)."""
    currency = request_currency(request)
    anonymous = not request.user.is_authenticated
    key = catalog_cache_key("page", slug, currency, get_language())
    cached = cache.get(key) if anonymous and request.method != "POST" else None
    if cached is not None and not stock_tokens_current(cached.get("stock")):
        cached = None
    form = None
    if cached is None:
        product = product_get_for_page(slug=slug)
        if product is None:
            raise Http404(_("Product not found."))
        if request.method == "POST":
            if anonymous:
                return redirect(f"/accounts/login/?next={product.get_absolute_url()}")
            form = ReviewForm(request.POST)
            if form.is_valid():
                try:
                    review_create(user=request.user, product=product, **form.cleaned_data)
                except ShopError as exc:
                    messages.error(request, str(exc.message))
                else:
                    messages.success(request, _("Thank you for your review."))
                return redirect(product.get_absolute_url())
        body, tokens, picker = _product_body(request, product, currency)
        cached = {
            "picker": picker,
            "title": product.name,
            "product_id": product.pk,
            "category_id": product.category_id,
            "available": product_available(product),
            "url": product.get_absolute_url(),
            "category": {"name": product.category.name, "url": product.category.get_absolute_url()},
            "breadcrumbs": [*category_breadcrumbs(product.category), {"name": product.name}],
            "description": product.description,
            "body": body,
            "stock": tokens,
        }
        if anonymous:
            cache.set(key, cached, TTL)
        refusal = review_refusal(user=request.user, product=product)
    else:
        refusal = review_refusal(user=request.user, product=None)
    can_review = not refusal
    if can_review and form is None:
        form = ReviewForm()
    # The add-to-cart form carries this visitor's CSRF token, so it is rendered
    # per request and slotted into the cached fragment.
    cart_form = render_to_string(
        "catalog/_add_to_cart.html",
        {"page": cached, "in_wishlist": wishlist_has(user=request.user, product_id=cached["product_id"])},
        request=request,
    )
    body = cached["body"].replace(CART_SLOT, cart_form, 1)
    response = render(
        request,
        "catalog/product_detail.html",
        {
            "page": cached,
            "body": mark_safe(body),  # noqa: S308
            "form": form,
            "can_review": can_review,
            "review_refusal": refusal,
            "breadcrumbs": cached.get("breadcrumbs", []),
            "recommended": _recommended_for(request, exclude_id=cached["product_id"], currency=currency),
        },
        status=400 if form is not None and form.is_bound else 200,
    )
    _recently_viewed_note(request, response, cached["product_id"])
    return response


@login_required
@require_POST
def review_helpful_view(request, review_id: int):
    """The review's "Helpful" button: a vote, or the vote taken back when the shopper has voted already."""
    review = review_get_votable(review_id=review_id)
    if review is None:
        raise Http404(_("Review not found."))
    try:
        voted = review_helpful_toggle(user=request.user, review=review)
    except ShopError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Thank you for your vote.") if voted else _("Your vote was taken back."))
    return redirect(f"{review.product.get_absolute_url()}#review-{review.pk}")
