"""Pages: the wishlist, saving and removing, "tell me when it is back", reporting a review."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from catalog.engagement.selectors import wishlist_for_user
from catalog.engagement.services import review_report, stock_alert_subscribe, wishlist_add, wishlist_remove
from catalog.models import Product, ProductVariant, Review
from catalog.selectors.prices import price_converter
from catalog.selectors.stock import product_available
from shop.core.exceptions import ShopError
from shop.core.money import request_currency


class StockAlertForm(forms.Form):
    product = forms.IntegerField(widget=forms.HiddenInput)
    # Empty: any variant of the product; set: only that one ("size M in red").
    variant = forms.IntegerField(required=False, min_value=1)
    email = forms.EmailField(label=gettext_lazy("Your e-mail address"))


class ReviewReportForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("What is wrong with this review?"), max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )


def _product(request) -> Product:
    product = Product.objects.filter(pk=request.POST.get("product") or 0, is_active=True).first()
    if product is None:
        raise Http404(_("Product not found."))
    return product


def _back(request, product: Product):
    target = request.POST.get("next") or product.get_absolute_url()
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = product.get_absolute_url()
    return redirect(target)


@login_required
def wishlist_page(request):
    convert = price_converter(request_currency(request))
    items = [
        {"item": item, "product": item.product, "price": convert(item.product.price),
         "available": product_available(item.product)}
        for item in wishlist_for_user(user=request.user)
    ]
    return render(request, "engagement/wishlist.html", {"items": items, "breadcrumbs": [{"name": _("Wishlist")}]})


@login_required
@require_POST
def wishlist_add_view(request):
    product = _product(request)
    wishlist_add(user=request.user, product=product)
    messages.success(request, _("Saved to your wishlist."))
    return _back(request, product)


@login_required
@require_POST
def wishlist_remove_view(request):
    product = _product(request)
    wishlist_remove(user=request.user, product=product)
    messages.success(request, _("Removed from your wishlist."))
    return _back(request, product)


@require_POST
def stock_alert_view(request):
    form = StockAlertForm(request.POST)
    product = _product(request)
    if not form.is_valid():
        messages.error(request, _("Enter a valid e-mail address to be told when it is back."))
        return _back(request, product)
    variant = None
    if form.cleaned_data["variant"]:
        variant = ProductVariant.objects.filter(pk=form.cleaned_data["variant"]).first()
        if variant is None:
            raise Http404(_("Product not found."))
    try:
        stock_alert_subscribe(product=product, variant=variant, email=form.cleaned_data["email"], user=request.user)
    except ShopError as exc:
        messages.error(request, str(exc.message))
        return _back(request, product)
    messages.success(request, _("We will e-mail you once when it is back in stock."))
    return _back(request, product)


@login_required
@require_http_methods(["GET", "POST"])
def review_report_view(request, review_id: int):
    review = Review.objects.select_related("product").filter(pk=review_id, product__is_active=True).first()
    if review is None:
        raise Http404(_("Review not found."))
    form = ReviewReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            review_report(user=request.user, review=review, reason=form.cleaned_data["reason"])
        except ShopError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("Thank you. Our team will look at this review."))
            return redirect(review.product.get_absolute_url() + "#reviews")
    product = review.product
    crumbs = [{"name": product.name, "url": product.get_absolute_url()}, {"name": _("Report a review")}]
    return render(
        request, "engagement/review_report.html", {"review": review, "form": form, "breadcrumbs": crumbs},
        status=400 if form.is_bound and form.errors else 200,
    )
