"""Cart pages. Every form works without JavaScript (post, then redirect);
with JavaScript (header X-Requested-With: fetch) the same views answer JSON
with the cart's item count (for the header) and, from the cart page, the
re-rendered cart, so the page updates in place."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from shop.cart.forms import CartAddForm, CartGiftCardForm, CartQuantityForm, CartVariantForm, CartVoucherForm
from shop.cart.gift_cards import cart_gift_card_apply, cart_gift_card_remove, gift_card_attempt_keys
from shop.cart.pricing import cart_items, cart_price, cart_price_for_owner, price_breakdown
from shop.cart.selectors import cart_get, cart_item_count
from shop.cart.services import (
    cart_line_add,
    cart_line_remove,
    cart_line_update,
    cart_lines_fit_stock,
    cart_owner_for_request,
    cart_voucher_apply,
    cart_voucher_remove,
)
from shop.core.exceptions import ShopError
from shop.core.money import request_currency


def _is_fetch(request) -> bool:
    return request.headers.get("X-Requested-With") in {"fetch", "XMLHttpRequest"}


def _context(request, *, gift_card_form=None) -> dict:
    owner = cart_owner_for_request(request)
    cart = cart_get(owner=owner, currency=request_currency(request))
    price = cart_price_for_owner(owner=owner, cart=cart)
    return {
        "cart": cart, "breakdown": price_breakdown(price), "voucher_code": price.voucher_code,
        "voucher_error": price.voucher_error, "voucher_form": CartVoucherForm(),
        "gift_card_form": None if owner.is_guest else (gift_card_form or CartGiftCardForm()),
        "gift_card_uses": price.gift_card_uses(),
    }


def _answer(request, *, ok: bool, message: str, status: int = 200, with_cart: bool = True):
    """JSON for scripts, else a message and a redirect (to `next` when safe, or the cart).

    `with_cart`: the JSON carries the re-rendered cart (the cart page's forms);
    the product page's add-to-cart needs only the count.
    """
    if _is_fetch(request):
        body = {"ok": ok, "message": message}
        if with_cart:
            context = _context(request)
            body["html"] = render_to_string("cart/_cart.html", context, request=request)
            body["item_count"] = context["cart"].item_count
        else:
            body["item_count"] = cart_item_count(owner=cart_owner_for_request(request))
        return JsonResponse(body, status=status)
    (messages.success if ok else messages.error)(request, message)
    target = request.POST.get("next") or reverse("cart:detail")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = reverse("cart:detail")
    return HttpResponseRedirect(target)


def _form_error(form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return _("Please check the form.")


@require_GET
def cart_detail(request):
    return render(request, "cart/detail.html", _context(request))


@require_POST
def cart_add(request):
    form = CartAddForm(request.POST)
    if not form.is_valid():
        return _answer(request, ok=False, message=_form_error(form), status=400, with_cart=False)
    try:
        cart_line_add(
            owner=cart_owner_for_request(request),
            product_id=form.cleaned_data["product"],
            variant_id=form.cleaned_data["variant"],
            quantity=form.cleaned_data["quantity"],
        )
    except ShopError as exc:
        return _answer(request, ok=False, message=str(exc.message), status=exc.status_code, with_cart=False)
    return _answer(request, ok=True, message=_("Added to your cart."), with_cart=False)


@require_POST
def cart_line_change(request, product_id: int):
    form = CartQuantityForm(request.POST)
    if not form.is_valid():
        return _answer(request, ok=False, message=_form_error(form), status=400)
    owner = cart_owner_for_request(request)
    quantity, variant_id = form.cleaned_data["quantity"], form.cleaned_data["variant"]
    try:
        if quantity == 0:
            cart_line_remove(owner=owner, product_id=product_id, variant_id=variant_id)
            return _answer(request, ok=True, message=_("Removed from your cart."))
        cart_line_update(owner=owner, product_id=product_id, variant_id=variant_id, quantity=quantity)
    except ShopError as exc:
        return _answer(request, ok=False, message=str(exc.message), status=exc.status_code)
    return _answer(request, ok=True, message=_("Your cart was updated."))


@require_POST
def cart_line_delete(request, product_id: int):
    form = CartVariantForm(request.POST)
    variant_id = form.cleaned_data["variant"] if form.is_valid() else None
    cart_line_remove(owner=cart_owner_for_request(request), product_id=product_id, variant_id=variant_id)
    return _answer(request, ok=True, message=_("Removed from your cart."))


@require_POST
def cart_fit_stock(request):
    """Take what is available: every line lowered to the stock (sold-out lines removed)."""
    changed = cart_lines_fit_stock(owner=cart_owner_for_request(request))
    message = _("Your cart now holds what is available.") if changed else _("Everything in your cart is available.")
    return _answer(request, ok=True, message=message)


@require_POST
def cart_voucher_apply_view(request):
    """Apply a voucher code to the cart (a guest's lives in the session); its use is counted at checkout."""
    owner = cart_owner_for_request(request)
    form = CartVoucherForm(request.POST)
    if not form.is_valid():
        return _answer(request, ok=False, message=_form_error(form), status=400)
    cart = cart_get(owner=owner, currency=request_currency(request))
    goods = cart_price(currency=cart.currency, items=cart_items(cart),
                       prices_include_tax=settings.PRICES_INCLUDE_TAX).priced
    try:
        code = cart_voucher_apply(
            user=owner.user, session=owner.session, code=form.cleaned_data["code"],
            goods=goods.subtotal - goods.promotion_discount,
        )
    except ShopError as exc:
        return _answer(request, ok=False, message=str(exc.message), status=exc.status_code)
    return _answer(request, ok=True, message=_("Voucher %(code)s applied.") % {"code": code})


@require_POST
def cart_voucher_remove_view(request):
    owner = cart_owner_for_request(request)
    cart_voucher_remove(user=owner.user, session=owner.session)
    return _answer(request, ok=True, message=_("The voucher was removed."))


def _gift_card_form_invalid(request, form, status: int):
    """The cart again with the gift-card form showing its error (in place for scripts)."""
    context = _context(request, gift_card_form=form)
    message = _form_error(form)
    if _is_fetch(request):
        html = render_to_string("cart/_cart.html", context, request=request)
        return JsonResponse(
            {"ok": False, "message": message, "html": html, "item_count": context["cart"].item_count}, status=status
        )
    return render(request, "cart/detail.html", context, status=status)


@require_POST
def cart_gift_card_apply_view(request):
    """Apply a gift card code to a signed-in shopper's cart; a bad code is an error on the form."""
    owner = cart_owner_for_request(request)
    if owner.is_guest:
        return _answer(request, ok=False, message=_("Sign in to use a gift card."), status=403)
    form = CartGiftCardForm(request.POST)
    if not form.is_valid():
        return _gift_card_form_invalid(request, form, 400)
    try:
        card = cart_gift_card_apply(
            user=request.user, code=form.cleaned_data["code"], currency=request_currency(request),
            attempt_keys=gift_card_attempt_keys(request),
        )
    except ShopError as exc:
        form.add_error("code", str(exc.message))
        return _gift_card_form_invalid(request, form, exc.status_code)
    return _answer(request, ok=True, message=_("Gift card ···%(last4)s applied.") % {"last4": card.last4})


@require_POST
def cart_gift_card_remove_view(request, last4: str):
    owner = cart_owner_for_request(request)
    if not owner.is_guest:
        cart_gift_card_remove(user=request.user, last4=last4)
    return _answer(request, ok=True, message=_("The gift card was removed."))
