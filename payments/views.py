"""Wallet pages: overview, statement (HTML, printable, CSV), deposit and withdrawal forms."""

import csv

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

from payments import selectors
from payments.exceptions import PaymentNotFound, WalletNotFound
from payments.forms import MoneyMovementForm, StatementFilterForm, WalletOpenForm
from payments.idempotency import (
    idempotency_key_abandon,
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_resource,
    request_fingerprint,
)
from payments.models import IdempotencyKey, Payment
from payments.services import charges, payouts
from payments.services import wallets as wallet_services
from shop.core.exceptions import ShopError


def _wallet_or_404(request, wallet_id):
    try:
        return selectors.wallet_get_for_user(user=request.user, wallet_id=wallet_id)
    except WalletNotFound:
        raise Http404


@login_required
def wallet_overview(request):
    """The shopper's wallets with balances, recent deposits and a form to open one."""
    wallets = list(selectors.wallet_list_for_user(user=request.user))
    for wallet in wallets:
        wallet.activity = selectors.wallet_activity(wallet=wallet, limit=10)
    taken = {wallet.currency for wallet in wallets}
    available = [code for code in settings.CURRENCIES if code not in taken]
    return render(
        request,
        "payments/wallet_overview.html",
        {
            "wallets": wallets,
            "open_form": WalletOpenForm(available=available) if available else None,
            "email_verified": selectors.user_has_verified_email(user=request.user),
            **selectors.recent_activity_for_user(user=request.user),
        },
    )


@login_required
@require_POST
def wallet_open(request):
    taken = set(selectors.wallet_list_for_user(user=request.user).values_list("currency", flat=True))
    form = WalletOpenForm(request.POST, available=[c for c in settings.CURRENCIES if c not in taken])
    if form.is_valid():
        try:
            wallet = wallet_services.wallet_open(user=request.user, currency=form.cleaned_data["currency"])
        except ShopError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Your %(currency)s wallet is open.") % {"currency": wallet.currency})
    else:
        messages.error(request, _("Please choose a currency."))
    return redirect("payments:wallet_overview")


@login_required
def wallet_statement(request, wallet_id: int):
    """Entries in a date range; `?format=csv` downloads them, `?format=print` is the printable page."""
    wallet = _wallet_or_404(request, wallet_id)
    form = StatementFilterForm(request.GET or None)
    start = end = None
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    entries = selectors.wallet_statement(wallet=wallet, start=start, end=end)
    output = request.GET.get("format", "")
    if output == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="wallet-{wallet.pk}-statement.csv"'
        writer = csv.writer(response)
        writer.writerow([_("Date"), _("Kind"), _("Description"), _("Amount"), _("Currency")])
        for entry in entries.iterator():
            tx = entry.transaction
            writer.writerow(
                [tx.created_at.isoformat(), tx.get_kind_display(), selectors.statement_words(tx, entry.amount),
                 entry.amount, entry.currency]
            )
        return response
    context = {
        "wallet": wallet,
        "form": form,
        "start": start,
        "end": end,
        "opening_balance": Money(selectors.wallet_balance_at(wallet=wallet, before=start), wallet.currency)
        if start
        else None,
    }
    if output == "print":
        context["entries"] = entries
        return render(request, "payments/wallet_statement_print.html", context)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context.update({"page": page, "entries": page.object_list, "query": query.urlencode()})
    return render(request, "payments/wallet_statement.html", context)


def _money_form_view(request, wallet_id: int, *, scope: str, template: str, act, show, resume=None, cards=None):
    """A deposit/withdrawal form; the hidden key makes a double submit (or a retry after a crash) safe.

    `act(wallet, amount, token, claim)` runs the service (which records the
    object it creates on the claim) and returns the object; `show(obj)` is
    the URL of its outcome page; `resume(obj)` finishes an object whose first
    request died (a resubmit after a crash answers from it, never acts again);
    `cards(wallet)` the only card tokens to offer.
    """
    wallet = _wallet_or_404(request, wallet_id)
    form_kwargs = {"currency": wallet.currency, "cards": cards(wallet) if cards else None}
    if request.method == "POST":
        form = MoneyMovementForm(request.POST, **form_kwargs)
        if form.is_valid():
            data = form.cleaned_data
            body = {"amount": str(data["amount"]), "card_token": data["card_token"]}
            try:
                record = idempotency_key_claim(
                    user=request.user,
                    key=data["idempotency_key"],
                    scope=scope,
                    fingerprint=request_fingerprint(scope=scope, method="POST", path=request.path, body=body),
                )
            except ShopError as exc:
                messages.error(request, str(exc.message))
                return redirect(request.path)
            if record.status == IdempotencyKey.Status.DONE:
                # A double submit of the same form: show the first outcome.
                return redirect(record.response_body["redirect"])
            try:
                obj = idempotency_key_resource(record=record)
                if obj is None:
                    obj = act(wallet, Money(data["amount"], wallet.currency), data["card_token"], record)
                elif resume is not None:
                    resume(obj)
                url = show(obj)
            except ShopError as exc:
                idempotency_key_abandon(record=record)
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
            except BaseException:
                idempotency_key_abandon(record=record)
                raise
            else:
                idempotency_key_complete(record=record, status=303, body={"redirect": url})
                return redirect(url)
    else:
        form = MoneyMovementForm(**form_kwargs)
    return render(
        request,
        template,
        {
            "wallet": wallet,
            "form": form,
            "max_deposit": Money(settings.WALLET_MAX_DEPOSIT, wallet.currency),
            "has_cards": bool(form.fields["card_token"].choices) if cards else True,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def wallet_deposit(request, wallet_id: int):
    """Top up by card; the result page tells whether the money arrived, failed or is still unknown."""

    def act(wallet, amount, token, claim):
        return wallet_services.wallet_deposit(
            wallet_id=wallet.pk, amount=amount, card_token=token, user=request.user, idempotency_claim=claim
        )

    def resume(payment):
        # A deposit whose first request died before charging is charged now (once: the
        # service charges only a pending payment, under its row lock, with its own key).
        charges.payment_charge_card(payment_id=payment.pk)

    def show(payment):
        return reverse("payments:payment_detail", args=[payment.pk])

    return _money_form_view(
        request,
        wallet_id,
        scope="page_wallet_deposit",
        template="payments/wallet_deposit.html",
        act=act,
        show=show,
        resume=resume,
    )


@login_required
@require_http_methods(["GET", "POST"])
def wallet_withdraw(request, wallet_id: int):
    """Pay wallet money back to a card that funded the wallet."""

    def act(wallet, amount, token, claim):
        return payouts.wallet_withdraw(
            wallet_id=wallet.pk, amount=amount, card_token=token, user=request.user, idempotency_claim=claim
        )

    def show(withdrawal):
        return reverse("payments:withdrawal_detail", args=[withdrawal.pk])

    def cards(wallet):
        return selectors.wallet_funding_cards(wallet=wallet)

    return _money_form_view(
        request,
        wallet_id,
        scope="page_wallet_withdrawal",
        template="payments/wallet_withdraw.html",
        act=act,
        show=show,
        cards=cards,
    )


@login_required
def payment_detail(request, payment_id: int):
    """A payment's outcome, stated honestly (pending and unknown are said as such)."""
    try:
        payment = selectors.payment_get_for_user(user=request.user, payment_id=payment_id)
    except PaymentNotFound:
        raise Http404
    return render(
        request,
        "payments/payment_detail.html",
        {"payment": payment, "Status": Payment.Status, "held": selectors.payment_is_held(payment=payment)},
    )


@login_required
def withdrawal_detail(request, withdrawal_id: int):
    try:
        withdrawal = selectors.withdrawal_get_for_user(user=request.user, withdrawal_id=withdrawal_id)
    except PaymentNotFound:
        raise Http404
    return render(request, "payments/withdrawal_detail.html", {"withdrawal": withdrawal})
