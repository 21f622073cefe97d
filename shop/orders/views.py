"""Order pages: checkout steps, confirmation, history, detail with timeline, cancel, return.

Checkout choices live in the session under "checkout"; the review form
carries a one-time token so a double click cannot make two orders, and the
currency and total it showed, so what is charged is what the button said.
"""

import math
import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from djmoney.money import Money

from accounts.selectors import address_default_for_user, addresses_for_user
from payments.selectors import wallet_list_for_user
from shop.cart.gift_cards import cart_gift_cards
from shop.cart.pricing import CartPrice, cart_items, cart_price, price_breakdown
from shop.cart.selectors import cart_get, cart_voucher_code
from shop.cart.services import cart_owner_for_request
from shop.core.exceptions import ShopError
from shop.core.money import request_currency
from shop.orders.exceptions import CheckoutInvalid, InvoiceNotFound, OrderNotFound, PriceChanged
from shop.orders.forms import (
    AddressStepForm,
    GuestAddressStepForm,
    OrderFindForm,
    PaymentStepForm,
    PlaceOrderForm,
    ReturnForm,
)
from shop.orders.guest_access import (
    invoice_get_for_guest_order,
    order_access_path,
    order_find_for_guest,
    order_get_by_access_token,
)
from shop.orders.models import Order
from shop.orders.selectors import (
    invoice_get_for_user,
    order_breakdown,
    order_get_for_user,
    order_list_for_user,
    order_payment_being_confirmed,
    order_return_left,
)
from shop.orders.services.checkout import PlaceOutcome, order_place
from shop.orders.services.guest_checkout import GuestBuyer
from shop.orders.services.invoices import invoice_pdf
from shop.orders.services.returns import return_request_create
from shop.orders.services.transitions import order_cancel
from shop.orders.throttling import checkout_attempt_allowed, order_lookup_allowed
from shop.shipping.exceptions import ShippingUnavailable

SESSION_KEY = "checkout"


def _order_or_404(request, number: str):
    try:
        return order_get_for_user(user=request.user, number=number)
    except OrderNotFound:
        raise Http404(_("This order does not exist."))


def _state(request) -> dict:
    state = request.session.get(SESSION_KEY)
    return state if isinstance(state, dict) else {}


def _save_state(request, **values) -> dict:
    state = {**_state(request), **values}
    request.session[SESSION_KEY] = state
    return state


def _cart_or_redirect(request):
    cart = cart_get(owner=cart_owner_for_request(request), currency=request_currency(request))
    if cart.is_empty:
        messages.info(request, _("Your cart is empty."))
        return cart, redirect("cart:detail")
    if not cart.is_orderable:
        messages.warning(request, _("Some items in your cart need your attention before checkout."))
        return cart, redirect("cart:detail")
    return cart, None


def _is_guest(request) -> bool:
    return not request.user.is_authenticated


@require_http_methods(["GET", "POST"])
def checkout_address(request):
    """Step 1: where to ship (a guest also gives the e-mail for the confirmation)."""
    cart, bounce = _cart_or_redirect(request)
    if bounce:
        return bounce
    form_class = GuestAddressStepForm if _is_guest(request) else AddressStepForm
    if request.method == "POST":
        form = form_class(request.POST, user=request.user)
        if form.is_valid():
            _save_state(request, address=form.shipping_address(), email=form.cleaned_data.get("email", ""))
            return redirect("orders:checkout_payment")
    elif _is_guest(request):
        state = _state(request)
        saved = state.get("address") if isinstance(state.get("address"), dict) else {}
        form = GuestAddressStepForm(initial={**saved, "email": state.get("email", "")})
    else:
        saved = _state(request).get("address")
        initial = {"address": saved} if isinstance(saved, int) else (saved or {})
        if not initial:
            default = address_default_for_user(request.user) or addresses_for_user(request.user).first()
            initial = {"address": default.pk} if default else {}
        form = AddressStepForm(initial=initial, user=request.user)
    return render(request, "orders/checkout_address.html",
                  {"form": form, "cart": cart, "step": 1, "guest": _is_guest(request)})


@require_http_methods(["GET", "POST"])
def checkout_payment(request):
    cart, bounce = _cart_or_redirect(request)
    if bounce:
        return bounce
    if "address" not in _state(request):
        return redirect("orders:checkout")
    ship_to = _chosen_address(request, _state(request)["address"])
    price = _price(request, cart, ship_to)
    if request.method == "POST":
        form = PaymentStepForm(request.POST, quotes=price.quotes, guest=_is_guest(request))
        if form.is_valid():
            _save_state(
                request,
                shipping_method=form.cleaned_data["shipping_method"],
                payment_method=form.cleaned_data["payment_method"],
                card_token=form.cleaned_data.get("card_token") or "",
            )
            return redirect("orders:checkout_review")
    else:
        state = _state(request)
        # The method chosen before, else the cheapest (quotes come cheapest first).
        chosen = state.get("shipping_method")
        if chosen not in {q.method_id for q in price.quotes}:
            chosen = price.quotes[0].method_id if price.quotes else None
        form = PaymentStepForm(
            initial={"shipping_method": chosen,
                     "payment_method": state.get("payment_method", "card" if _is_guest(request) else "wallet"),
                     "card_token": state.get("card_token")},
            quotes=price.quotes, guest=_is_guest(request),
        )
    # No method serves the address and cart: said here, before anything is reserved or charged.
    shipping_error = "" if price.quotes else str(ShippingUnavailable.default_message)
    wallet = next(
        (w for w in wallet_list_for_user(user=request.user) if w.currency == cart.currency), None
    ) if request.user.is_authenticated else None
    return render(
        request,
        "orders/checkout_payment.html",
        {
            "form": form,
            "cart": cart,
            "step": 2,
            # The chosen address stays in view, and the wallet's balance is shown where it is chosen.
            "ship_to": ship_to,
            "wallet": wallet,
            "breakdown": price_breakdown(price),
            "shipping_error": shipping_error,
            "guest": _is_guest(request),
        },
    )


def _price(request, cart, address: dict | None, shipping_method: int | None = None) -> CartPrice:
    """The cart priced for the checkout's address (and method, once chosen), with the cart's voucher and gift cards."""
    address = address or {}
    return cart_price(
        currency=cart.currency, items=cart_items(cart), country=address.get("country", ""),
        region=address.get("region", ""), voucher_code=cart_voucher_code(owner=cart_owner_for_request(request)),
        shipping_method=shipping_method, prices_include_tax=settings.PRICES_INCLUDE_TAX,
        gift_cards=cart_gift_cards(user=None if _is_guest(request) else request.user, currency=cart.currency),
    )


def _chosen_address(request, address) -> dict | None:
    """The checkout's address as a snapshot: a saved address (by id) or the one typed in."""
    if isinstance(address, int):
        saved = addresses_for_user(request.user).filter(pk=address).first()
        return saved.as_snapshot() if saved else None
    return address


def _review(request, *, error: str = "", status: int = 200):
    cart, bounce = _cart_or_redirect(request)
    if bounce:
        return bounce
    state = _state(request)
    if "address" not in state:
        return redirect("orders:checkout")
    if "payment_method" not in state or "shipping_method" not in state:
        return redirect("orders:checkout_payment")
    token = state.get("token") or secrets.token_urlsafe(24)
    _save_state(request, token=token)
    address = _chosen_address(request, state["address"])
    if address is None:
        return redirect("orders:checkout")
    price = _price(request, cart, address, state["shipping_method"])
    if price.quote is None:
        messages.error(request, _("This shipping method is not available for this address or cart."))
        return redirect("orders:checkout_payment")
    if price.voucher_error is not None and not error:
        error = str(price.voucher_error.message)
    return render(
        request,
        "orders/checkout_review.html",
        {
            "cart": cart, "address": address, "state": state, "token": token, "step": 3,
            "price": price, "breakdown": price_breakdown(price),
            "reservation_minutes": settings.RESERVATION_MINUTES, "error": error,
        },
        status=status,
    )


def checkout_review(request):
    return _review(request)


@require_POST
def checkout_place(request):
    allowed, wait = checkout_attempt_allowed(request)
    if not allowed:
        return render(request, "orders/throttled.html", {"wait": math.ceil(wait)}, status=429)
    state = _state(request)
    token = request.POST.get("token", "")
    placed = state.get("placed")
    if token and isinstance(placed, dict) and placed.get("token") == token:
        # The second click of a double click, after the first one finished: show that order.
        return redirect(placed.get("path") or reverse("orders:detail", args=[placed["number"]]))
    if not token or "address" not in state or "payment_method" not in state or "shipping_method" not in state:
        return redirect("orders:checkout")
    form = PlaceOrderForm(request.POST)
    if not form.is_valid():
        return _review(request, error=_("Please review your order again."), status=400)
    currency = form.cleaned_data["currency"]
    if currency != request_currency(request):
        # The shopper switched currency (in another tab) after this review: its button no longer
        # says what would be charged.
        return _review(
            request,
            error=_("You changed the currency to %(currency)s after reviewing this order. "
                    "Check the total in %(currency)s below and place the order again.")
            % {"currency": request_currency(request)},
            status=409,
        )
    guest = GuestBuyer(email=state.get("email", ""), session=request.session) if _is_guest(request) else None
    try:
        result = order_place(
            user=None if guest else request.user,
            guest=guest,
            payment_method=state["payment_method"],
            card_token=state.get("card_token", ""),
            currency=currency,
            shipping_address=state["address"],
            shipping_method=state["shipping_method"],
            checkout_token=token,
            expected_total=Money(form.cleaned_data["total"], currency),
        )
    except PriceChanged as exc:
        return _review(request, error=str(exc.message), status=409)
    except CheckoutInvalid as exc:
        messages.error(request, str(exc.message))
        return redirect("cart:detail")
    except ShopError as exc:
        messages.error(request, str(exc.message))
        if exc.field in {"shipping_method", "shipping_address"}:
            return redirect("orders:checkout_payment")
        return redirect("orders:checkout_review" if exc.status_code == 402 else "cart:detail")
    number = result.order.number
    if result.outcome == PlaceOutcome.DECLINED:
        _save_state(request, token=None)  # a new attempt is a new order
        messages.error(request, str(result.error.message))
        return redirect("orders:checkout_payment")
    # A guest's order page is its signed link (also in the e-mail); an account's is its number.
    path = order_access_path(result.order) if guest else reverse("orders:detail", args=[number])
    # Only the placed token is kept: a late second click lands on this order too.
    request.session[SESSION_KEY] = {"placed": {"token": token, "number": number, "path": path}}
    if result.outcome == PlaceOutcome.PENDING:
        messages.info(request, _("Your payment is being confirmed. We will e-mail you as soon as it is done."))
    else:
        messages.success(request, _("Thank you! Your order %(number)s is paid.") % {"number": number})
    return redirect(path)


@login_required
def order_history(request):
    page = Paginator(order_list_for_user(user=request.user), 20).get_page(request.GET.get("page"))
    return render(request, "orders/history.html", {"page": page, "orders": page.object_list})


@login_required
def order_detail(request, number: str):
    return render(request, "orders/detail.html", _detail_context(_order_or_404(request, number)))


def _detail_context(order: Order, *, guest_token: str = "") -> dict:
    """What the order page shows; a guest's (opened by `guest_token`) offers no cancel or return: those
    need an account (or the shop's support)."""
    confirming = order.status == Order.Status.PENDING_PAYMENT and order_payment_being_confirmed(order)
    left = order_return_left(order)
    lines = {line.id: line for line in order.lines.all()}
    returns = [
        {"request": ret, "items": [(lines.get(rl.order_line_id), rl.quantity) for rl in ret.lines.all()]}
        for ret in order.returns.all()
    ]
    return {
        "order": order,
        "breakdown": order_breakdown(order),
        "payment_confirming": confirming,
        "can_cancel": order.is_cancellable and not confirming and not guest_token,
        # No return offer for what is already refunded or waiting in a return request.
        "can_return": order.is_returnable and any(left.values()) and not guest_token,
        "returns": returns,
        "guest_token": guest_token,
        "breadcrumbs": [{"name": _("Orders"), "url": "/orders/"}, {"name": order.number}],
    }


def _guest_order_or_404(token: str) -> Order:
    try:
        return order_get_by_access_token(token)
    except OrderNotFound:
        raise Http404(_("This order does not exist.")) from None


def _private(response: HttpResponse) -> HttpResponse:
    """A page whose URL is its key: not cached, and not sent on as a referrer."""
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def guest_order_detail(request, token: str):
    """A guest's order page, opened by its signed link; any other token is a 404."""
    order = _guest_order_or_404(token)
    return _private(render(request, "orders/detail.html", _detail_context(order, guest_token=token)))


def guest_order_document(request, token: str, document: str):
    """An invoice or credit note of the guest order the signed link opens."""
    order = _guest_order_or_404(token)
    try:
        invoice = invoice_get_for_guest_order(order=order, number=document)
    except InvoiceNotFound:
        raise Http404(_("This document does not exist.")) from None
    return _private(invoice_pdf_response(invoice))


@require_http_methods(["GET", "POST"])
def order_find(request):
    """"Find my order": the order number and its e-mail open a guest's order (rate-limited per client;
    a wrong number and a wrong e-mail get the same answer)."""
    status = 200
    if request.method == "POST":
        form = OrderFindForm(request.POST)
        allowed, wait = order_lookup_allowed(request)
        if not allowed:
            form.is_valid()
            form.add_error(None, _("Too many attempts. Please try again in %(minutes)d minutes.")
                           % {"minutes": max(1, math.ceil(wait / 60))})
            status = 429
        elif form.is_valid():
            try:
                order = order_find_for_guest(number=form.cleaned_data["number"], email=form.cleaned_data["email"])
            except OrderNotFound:
                form.add_error(None, _("No order matches this number and e-mail address. Check both and try again."))
                status = 400
            else:
                return redirect(order_access_path(order))
        else:
            status = 400
    else:
        form = OrderFindForm()
    return render(request, "orders/find.html", {"form": form}, status=status)


@login_required
@require_POST
def order_cancel_view(request, number: str):
    order = _order_or_404(request, number)
    try:
        order_cancel(order_id=order.id, actor=request.user, reason=_("Cancelled by the shopper"))
    except ShopError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Your order was cancelled."))
    return redirect("orders:detail", number=number)


@login_required
@require_http_methods(["GET", "POST"])
def order_return(request, number: str):
    order = _order_or_404(request, number)
    if request.method == "POST":
        form = ReturnForm(request.POST, order=order, left=order_return_left(order))
        if form.is_valid():
            try:
                return_request_create(
                    order_id=order.id, user=request.user, lines=form.line_quantities(),
                    reason=form.cleaned_data["reason"],
                )
            except ShopError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(request, _("Your return request was sent. We will e-mail you when it is approved."))
                return redirect("orders:detail", number=number)
    else:
        form = ReturnForm(order=order, left=order_return_left(order))
    return render(request, "orders/return.html", {"order": order, "form": form})


def invoice_pdf_response(invoice) -> HttpResponse:
    """An invoice's or credit note's PDF as a download (pages, API and admin answer the same)."""
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def order_document(request, number: str, document: str):
    """An invoice or credit note of the shopper's own order (staff: any order's); anyone else gets 404."""
    try:
        invoice = invoice_get_for_user(user=request.user, order_number=number, number=document, staff_access=True)
    except InvoiceNotFound:
        raise Http404(_("This document does not exist."))
    return invoice_pdf_response(invoice)
