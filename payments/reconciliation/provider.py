"""The provider's settlement report for one day against our card payments, refunds and withdrawals, both ways.

The report is read a page at a time; each page is compared with one query
for our side, and a bitmap over the day's ids (`_Seen`) remembers which of
ours it named, so "ours that the provider lacks" streams ids and loads only
those rows. The one automatic repair lives here: a charge the provider
made that we recorded as `unknown` is settled through `payment_settle`.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

from django.db.models import Max, Min
from django.utils.translation import gettext_lazy as _

from payments.audit import audit_record
from payments.gateway import Outcome, get_gateway
from payments.models import Payment, ReconciliationItem, Refund, Withdrawal
from payments.reconciliation.items import ItemWriter
from payments.services.charges import payment_settle
from shop.core.exceptions import ShopError
from shop.core.reconciliation import BATCH, day_bounds

Kind = ReconciliationItem.Kind
Action = ReconciliationItem.Action
# Payment states in which the shop holds the customer's money (it was taken, perhaps given back since).
TAKEN = (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED, Payment.Status.REFUNDED)

PAGE = 5000  # rows per page of the provider's report (the sandbox allows up to 5,000)


def _money_fields(obj: dict) -> tuple[Decimal | None, str]:
    try:
        return Decimal(str(obj.get("amount"))), str(obj.get("currency") or "")
    except (ArithmeticError, ValueError, TypeError):
        return None, str(obj.get("currency") or "")


def _uid_from(key: str, prefix: str) -> uuid.UUID | None:
    """The uid in an idempotency key we derived (`refund-<uid>`, `payout-<uid>`, `late-charge-<uid>`)."""
    if not key.startswith(prefix):
        return None
    try:
        return uuid.UUID(key[len(prefix) :])
    except ValueError:
        return None


def _report_pages(gateway, day: date, type: str):
    """Yield the rows of one list of the day's report, one page at a time (raises GatewayError).

    The next page is fetched in a helper thread while the caller checks this
    one (at most two pages in memory): the provider's time and ours overlap.
    """

    def fetch(cursor: str) -> dict:
        return gateway.settlement_page(date=day, type=type, cursor=cursor, limit=PAGE)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="settlement-page") as pool:
        pending = pool.submit(fetch, "")
        while pending is not None:
            page = pending.result()
            cursor = str(page.get("next_cursor") or "")
            pending = pool.submit(fetch, cursor) if page.get("has_more") and cursor else None
            yield [row for row in page.get("data") or [] if isinstance(row, dict)]


class _Seen:
    """Which of the day's rows (ours, by id) the report named: one bit per id between the day's first and last.

    A day's ids are close together, so this stays tiny (62 KB for 500,000 payments) whatever the report's size.
    """

    def __init__(self, queryset):
        bounds = queryset.aggregate(low=Min("id"), high=Max("id"))
        self.low = bounds["low"] or 0
        self.bits = bytearray((bounds["high"] - self.low) // 8 + 1) if bounds["high"] is not None else bytearray()

    def add(self, pk: int) -> None:
        offset = pk - self.low
        if 0 <= offset < len(self.bits) * 8:
            self.bits[offset >> 3] |= 1 << (offset & 7)

    def __contains__(self, pk: int) -> bool:
        offset = pk - self.low
        return 0 <= offset < len(self.bits) * 8 and bool(self.bits[offset >> 3] & (1 << (offset & 7)))


def _unseen(queryset, seen: _Seen, fields: tuple[str, ...]):
    """The rows of `queryset` whose id is not in `seen`: ids streamed, details fetched for the unseen only."""
    missing: list[int] = []
    for pk in queryset.values_list("id", flat=True).order_by("id").iterator(chunk_size=BATCH):
        if pk not in seen:
            missing.append(pk)
            if len(missing) >= BATCH:
                yield from queryset.model.objects.filter(pk__in=missing).values("id", *fields).order_by("id")
                missing = []
    if missing:
        yield from queryset.model.objects.filter(pk__in=missing).values("id", *fields).order_by("id")


LOOKUP = 1000  # keys per lookup query: PostgreSQL probes the unique index for lists this long (a seq scan beyond)


def _ours_by(model, field: str, keys, fields: tuple[str, ...]) -> dict:
    """Our rows whose `field` is one of `keys`, by that field, in lookups of LOOKUP keys (unordered)."""
    keys = list(keys)
    found = {}
    for index in range(0, len(keys), LOOKUP):
        for row in model.objects.filter(**{f"{field}__in": keys[index : index + LOOKUP]}).order_by().values(*fields):
            found[row[field]] = row
    return found


def _charges_page(day: date, seen: _Seen, rows: list[dict], out: ItemWriter) -> int:
    """The provider's charges on this page against our payments with the same key."""
    charges = {str(c["idempotency_key"]): c for c in rows if c.get("idempotency_key")}
    payments = _ours_by(Payment, "provider_key", charges, ("id", "provider_key", "status", "amount", "amount_currency"))
    for key, charge in charges.items():
        ours = payments.get(key)
        if ours is not None:
            seen.add(ours["id"])
        if ours is None or ours["status"] not in TAKEN:
            _charge_not_taken_here(day, key, charge, ours, out)
            continue
        _compare(out, charge, ours, object_type="payments.payment",
                 provider_ok=charge.get("status") == Outcome.SUCCEEDED,
                 kinds=(Kind.CHARGE_STATUS, Kind.CHARGE_CURRENCY, Kind.CHARGE_AMOUNT),
                 currency_detail=_("Charged in %(theirs)s at the provider, %(ours)s here."),
                 amount_detail=_("The provider charged a different amount."))
    return len(rows)


def _charge_not_taken_here(day: date, key: str, charge: dict, ours: dict | None, out: ItemWriter) -> None:
    """A charge we do not hold as taken (or do not know): settled when it is ours and `unknown`, else flagged."""
    amount, currency = _money_fields(charge)
    refunded_at_provider = Decimal(str(charge.get("amount_refunded") or "0"))
    if charge.get("status") != Outcome.SUCCEEDED or (amount is not None and refunded_at_provider >= amount):
        return  # nothing taken, or all of it already given back
    same_money = ours is not None and currency == ours["amount_currency"] and amount == ours["amount"]
    if same_money and ours["status"] == Payment.Status.UNKNOWN:
        _charge_settle(day, charge, ours, amount, currency, out)
        return
    if ours is None or ours["status"] == Payment.Status.FAILED:
        action = Action.REFUND_AT_PROVIDER
    elif same_money:
        action = Action.SETTLE_PAYMENT  # pending or processing: staff settle it, never the run
    else:
        action = Action.CONTACT_PROVIDER
    out.add(
        kind=Kind.CHARGE_MISSING_HERE,
        action=action,
        object_type="payments.payment" if ours is not None else "provider.charge",
        object_id=ours["id"] if ours is not None else charge.get("id", key),
        related=f"{charge.get('id', '')} {charge.get('reference', '')}".strip(),
        currency=currency,
        expected=amount,
        actual=None if ours is None else Decimal(0),
        detail=_("The provider charged this, but here it is %(status)s.")
        % {"status": ours["status"] if ours is not None else _("unknown to us")},
    )


def _charge_settle(day: date, charge: dict, ours: dict, amount: Decimal, currency: str, out: ItemWriter) -> None:
    """The one automatic repair the issue allows: an outcome we never learnt, now known."""
    settled = payment_settle(payment_id=ours["id"], outcome=Outcome.SUCCEEDED, provider_id=charge["id"])
    audit_record(
        actor=None, action="reconciliation_settle", obj=settled,
        reason=f"provider charge {charge['id']} succeeded (settlement report {day})",
        data={"charge": charge["id"], "was": ours["status"], "now": settled.status},
    )
    out.add(
        kind=Kind.CHARGE_SETTLED, action=Action.NONE, object_type="payments.payment",
        object_id=ours["id"], related=charge["id"], currency=currency, expected=amount,
        actual=amount, auto_repaired=True,
        detail=_("Was %(was)s here; settled as %(now)s from the provider's report.")
        % {"was": ours["status"], "now": settled.status},
    )


def _day_card_payments(day: date):
    start, end = day_bounds(day)
    return Payment.objects.filter(
        method=Payment.Method.CARD, status__in=TAKEN, created_at__gte=start, created_at__lt=end
    )


def _charges_missing_at_provider(day: date, seen: _Seen, gateway, out: ItemWriter) -> int:
    """Our card payments of the day that the report lacks: the charge may be on another day's report,
    so the provider is asked once for each (only these rows are loaded)."""
    ours = _day_card_payments(day)
    missing = _unseen(ours, seen, ("provider_key", "provider_charge_id", "reference", "amount", "amount_currency"))
    for payment in missing:
        lookup = gateway.get_charge(idempotency_key=payment["provider_key"])
        if lookup.outcome == Outcome.SUCCEEDED:
            continue
        out.add(
            kind=Kind.CHARGE_MISSING_AT_PROVIDER,
            action=Action.CONTACT_PROVIDER,
            object_type="payments.payment",
            object_id=payment["id"],
            related=f"{payment['provider_charge_id']} {payment['reference']}".strip(),
            currency=payment["amount_currency"],
            expected=payment["amount"],
            actual=None,
            detail=_("Succeeded here, but the provider has no such charge (lookup: %(outcome)s).")
            % {"outcome": lookup.outcome},
        )
    return ours.count()


def _refunds_page(seen: _Seen, rows: list[dict], out: ItemWriter) -> int:
    """The provider's refunds on this page: ours (`refund-<uid>`), late-charge refunds, and strangers."""
    by_uid: dict[uuid.UUID, dict] = {}
    late: dict[uuid.UUID, dict] = {}
    for refund in rows:
        key = str(refund.get("idempotency_key") or "")
        uid = _uid_from(key, "refund-")
        if uid is not None:
            by_uid[uid] = refund
        elif (late_uid := _uid_from(key, "late-charge-")) is not None:
            late[late_uid] = refund
        elif refund.get("status") == Outcome.SUCCEEDED:
            amount, currency = _money_fields(refund)
            out.add(
                kind=Kind.REFUND_MISSING_HERE, action=Action.REVIEW, object_type="provider.refund",
                object_id=refund.get("id", ""), related=refund.get("charge", ""), currency=currency,
                expected=amount, detail=_("The provider refunded this, but no refund here matches it."),
            )
    ours_by_uid = _ours_by(Refund, "uid", by_uid, ("id", "uid", "status", "amount", "amount_currency"))
    for uid, theirs in by_uid.items():
        refund = ours_by_uid.get(uid)
        if refund is not None:
            seen.add(refund["id"])
        amount, currency = _money_fields(theirs)
        provider_ok = theirs.get("status") == Outcome.SUCCEEDED
        if refund is None or refund["status"] != Refund.Status.SUCCEEDED:
            if provider_ok:
                out.add(
                    kind=Kind.REFUND_MISSING_HERE, action=Action.REVIEW,
                    object_type="payments.refund" if refund is not None else "provider.refund",
                    object_id=refund["id"] if refund is not None else theirs.get("id", ""),
                    related=theirs.get("id", ""), currency=currency, expected=amount,
                    actual=None if refund is None else Decimal(0),
                    detail=_("The provider refunded this, but here it is %(status)s.")
                    % {"status": refund["status"] if refund is not None else _("unknown to us")},
                )
            continue
        _compare(out, theirs, refund, object_type="payments.refund", provider_ok=provider_ok,
                 kinds=(Kind.REFUND_STATUS, Kind.REFUND_CURRENCY, Kind.REFUND_AMOUNT),
                 currency_detail=_("Refunded in %(theirs)s at the provider, %(ours)s here."),
                 amount_detail=_("The provider refunded a different amount."))
    _late_refunds(late, out)
    return len(rows)


def _late_refunds(late: dict[uuid.UUID, dict], out: ItemWriter) -> None:
    """Refunds of charges the provider made after a payment had failed here (payment_reverse_late_charge).

    Each must give back, in full, a payment that is `failed` here: one for a
    payment we count as taken means the customer has both the goods and the
    money; a failed one means the customer is still charged for nothing.
    """
    payments = _ours_by(Payment, "uid", late, ("id", "uid", "status", "amount", "amount_currency"))
    for uid, theirs in late.items():
        amount, currency = _money_fields(theirs)
        payment = payments.get(uid)
        provider_ok = theirs.get("status") == Outcome.SUCCEEDED
        common = {"related": f"{theirs.get('id', '')} {theirs.get('charge', '')}".strip()}
        if payment is None:
            if provider_ok:
                out.add(
                    kind=Kind.REFUND_MISSING_HERE, action=Action.REVIEW, object_type="provider.refund",
                    object_id=theirs.get("id", ""), currency=currency, expected=amount,
                    detail=_("The provider refunded a late charge, but no payment here matches it."), **common,
                )
        elif not provider_ok:
            out.add(
                kind=Kind.LATE_REFUND, action=Action.REFUND_AT_PROVIDER, object_type="payments.payment",
                object_id=payment["id"], currency=payment["amount_currency"], expected=payment["amount"],
                actual=Decimal(0),
                detail=_("The refund of a late charge %(status)s at the provider: the customer is still charged.")
                % {"status": theirs.get("status")}, **common,
            )
        elif payment["status"] != Payment.Status.FAILED:
            out.add(
                kind=Kind.LATE_REFUND, action=Action.REVIEW, object_type="payments.payment", object_id=payment["id"],
                currency=payment["amount_currency"], expected=Decimal(0), actual=amount,
                detail=_("The provider refunded a late charge of this payment, but here it is %(status)s.")
                % {"status": payment["status"]}, **common,
            )
        elif currency != payment["amount_currency"]:
            out.add(
                kind=Kind.REFUND_CURRENCY, action=Action.CONTACT_PROVIDER, object_type="payments.payment",
                object_id=payment["id"], currency=payment["amount_currency"], expected=payment["amount"],
                actual=amount, detail=_("A late charge was refunded in %(theirs)s, the payment is in %(ours)s.")
                % {"theirs": currency, "ours": payment["amount_currency"]}, **common,
            )
        elif amount != payment["amount"]:
            out.add(
                kind=Kind.REFUND_AMOUNT, action=Action.CONTACT_PROVIDER, object_type="payments.payment",
                object_id=payment["id"], currency=currency, expected=payment["amount"], actual=amount,
                detail=_("A late charge was not refunded in full."), **common,
            )


def _compare(out: ItemWriter, theirs: dict, ours: dict, *, object_type: str, provider_ok: bool, kinds: tuple,
             currency_detail, amount_detail) -> None:
    """Status, then currency, then amount of a row both sides have and we hold as succeeded.

    `kinds` is (status, currency, amount); `currency_detail` takes %(theirs)s and %(ours)s.
    """
    status_kind, currency_kind, amount_kind = kinds
    amount, currency = _money_fields(theirs)
    common = {"action": Action.CONTACT_PROVIDER, "object_type": object_type, "object_id": ours["id"],
              "related": theirs.get("id", ""), "expected": ours["amount"]}
    if not provider_ok:
        out.add(kind=status_kind, currency=ours["amount_currency"], actual=Decimal(0),
                detail=_("Succeeded here, %(status)s at the provider.") % {"status": theirs.get("status")}, **common)
    elif currency != ours["amount_currency"]:
        out.add(kind=currency_kind, currency=ours["amount_currency"], actual=amount,
                detail=currency_detail % {"theirs": currency, "ours": ours["amount_currency"]}, **common)
    elif amount != ours["amount"]:
        out.add(kind=amount_kind, currency=currency, actual=amount, detail=amount_detail, **common)


def _day_card_refunds(day: date):
    start, end = day_bounds(day)
    return Refund.objects.filter(
        payment__method=Payment.Method.CARD, status=Refund.Status.SUCCEEDED, created_at__gte=start, created_at__lt=end
    )


def _refunds_missing_at_provider(day: date, seen: _Seen, out: ItemWriter) -> int:
    ours = _day_card_refunds(day)
    missing = _unseen(ours, seen, ("reference", "amount", "amount_currency"))
    for refund in missing:
        out.add(
            kind=Kind.REFUND_MISSING_AT_PROVIDER, action=Action.CONTACT_PROVIDER, object_type="payments.refund",
            object_id=refund["id"], related=refund["reference"], currency=refund["amount_currency"],
            expected=refund["amount"], detail=_("Succeeded here, but not in the provider's report."),
        )
    return ours.count()


def _payouts_page(seen: _Seen, rows: list[dict], out: ItemWriter) -> int:
    """The provider's payouts on this page against our withdrawals (`payout-<uid>`)."""
    by_uid: dict[uuid.UUID, dict] = {}
    for payout in rows:
        key = str(payout.get("idempotency_key") or "")
        uid = _uid_from(key, "payout-")
        if uid is not None:
            by_uid[uid] = payout
        elif payout.get("status") == Outcome.SUCCEEDED:
            amount, currency = _money_fields(payout)
            out.add(
                kind=Kind.PAYOUT_MISSING_HERE, action=Action.REVIEW, object_type="provider.payout",
                object_id=payout.get("id", ""), related=payout.get("reference", ""), currency=currency,
                expected=amount, detail=_("The provider paid this out, but no withdrawal here matches it."),
            )
    ours_by_uid = _ours_by(Withdrawal, "uid", by_uid, ("id", "uid", "status", "amount", "amount_currency"))
    for uid, theirs in by_uid.items():
        withdrawal = ours_by_uid.get(uid)
        if withdrawal is not None:
            seen.add(withdrawal["id"])
        amount, currency = _money_fields(theirs)
        provider_ok = theirs.get("status") == Outcome.SUCCEEDED
        if withdrawal is None or withdrawal["status"] != Withdrawal.Status.SUCCEEDED:
            if provider_ok:
                # Processing here is flagged too: the retry job or a webhook settles it, never the run.
                # Failed here means the debit was reversed into the wallet: paid out twice.
                out.add(
                    kind=Kind.PAYOUT_MISSING_HERE, action=Action.REVIEW,
                    object_type="payments.withdrawal" if withdrawal is not None else "provider.payout",
                    object_id=withdrawal["id"] if withdrawal is not None else theirs.get("id", ""),
                    related=theirs.get("id", ""), currency=currency, expected=amount,
                    actual=None if withdrawal is None else Decimal(0),
                    detail=_("The provider paid this out, but here it is %(status)s.")
                    % {"status": withdrawal["status"] if withdrawal is not None else _("unknown to us")},
                )
            continue
        _compare(out, theirs, withdrawal, object_type="payments.withdrawal", provider_ok=provider_ok,
                 kinds=(Kind.PAYOUT_STATUS, Kind.PAYOUT_CURRENCY, Kind.PAYOUT_AMOUNT),
                 currency_detail=_("Paid out in %(theirs)s at the provider, %(ours)s here."),
                 amount_detail=_("The provider paid out a different amount."))
    return len(rows)


def _day_withdrawals(day: date):
    start, end = day_bounds(day)
    return Withdrawal.objects.filter(status=Withdrawal.Status.SUCCEEDED, created_at__gte=start, created_at__lt=end)


def _payouts_missing_at_provider(day: date, seen: _Seen, gateway, out: ItemWriter) -> int:
    """Our withdrawals of the day that the report lacks: like charges, the payout may be on another
    day's report, so the provider is asked once for each (only these rows are loaded)."""
    ours = _day_withdrawals(day)
    missing = _unseen(ours, seen, ("wallet_id", "uid", "provider_payout_id", "amount", "amount_currency"))
    for withdrawal in missing:
        lookup = gateway.get_payout(idempotency_key=Withdrawal(uid=withdrawal["uid"]).provider_key)
        if lookup.outcome == Outcome.SUCCEEDED:
            continue
        out.add(
            kind=Kind.PAYOUT_MISSING_AT_PROVIDER, action=Action.CONTACT_PROVIDER, object_type="payments.withdrawal",
            object_id=withdrawal["id"],
            related=f"{withdrawal['provider_payout_id']} wallet {withdrawal['wallet_id']}".strip(),
            currency=withdrawal["amount_currency"], expected=withdrawal["amount"],
            detail=_("Succeeded here, but the provider has no such payout (lookup: %(outcome)s).")
            % {"outcome": lookup.outcome},
        )
    return ours.count()


def check_provider(day: date, out: ItemWriter) -> dict:
    """The day's report, page by page, against our payments, refunds and withdrawals, both ways.

    The report is never held whole: each page is compared with one query
    for our side, and the ids of ours it named are set in a bitmap over the
    day's ids (`_Seen`); "ours that the report lacks" then streams the day's
    ids and loads only the unseen. If any page cannot be had, the run says so
    and skips those checks (they would see a partial report).
    """
    gateway = get_gateway()
    seen = {"charges": _Seen(_day_card_payments(day)), "refunds": _Seen(_day_card_refunds(day)),
            "payouts": _Seen(_day_withdrawals(day))}
    pages = {"charges": lambda page: _charges_page(day, seen["charges"], page, out),
             "refunds": lambda page: _refunds_page(seen["refunds"], page, out),
             "payouts": lambda page: _payouts_page(seen["payouts"], page, out)}
    rows = {"charges": 0, "refunds": 0, "payouts": 0}
    try:
        for type, check in pages.items():
            for page in _report_pages(gateway, day, type):
                rows[type] += check(page)
    except ShopError as exc:
        out.add(
            kind=Kind.PROVIDER_REPORT_UNAVAILABLE, action=Action.RETRY, object_type="provider.report",
            object_id=day.isoformat(), detail=str(exc.message),
        )
        return {"provider_rows": sum(rows.values())}
    return {
        "charges": rows["charges"] + _charges_missing_at_provider(day, seen["charges"], gateway, out),
        "refunds": rows["refunds"] + _refunds_missing_at_provider(day, seen["refunds"], out),
        "payouts": rows["payouts"] + _payouts_missing_at_provider(day, seen["payouts"], gateway, out),
    }
