"""Nightly reconciliation: the ledger, the provider, orders and stock checked against each other for one day.

`reconciliation_run(day=...)` stores one `ReconciliationRun` with one
`ReconciliationItem` per discrepancy:

1. ledger: every transaction posted that day balances per currency; the whole
   ledger (up to the end of the day) nets to zero per currency, i.e. total
   debits equal total credits (an imbalance already explained by that day's
   unbalanced transactions is not reported twice); every wallet's cached
   balance equals the sum of its entries;
2. provider: the provider's settlement report for the day (over HTTP, page by
   page) against our card payments, refunds (ours and the refunds of late
   charges) and withdrawals (payouts), both ways: missing on either side,
   amount, currency or status mismatch;
3. orders: every order paid that day has succeeded payments equal to its
   total, and no paid order lacks its paid_at; no payment that succeeded that
   day lacks a paid (or refunded) order;
4. stock: reserved equals the open reservations, on_hand the sum of movements.

Memory stays constant and time linear: sums are computed in SQL with one
GROUP BY each and merged in key order with the rows they check (wallets,
stock), or joined in SQL (orders), never one correlated subquery per row;
rows stream through server-side cursors (`.iterator(chunk_size=...)`),
only discrepant ones are kept, and items are written in batches. On
PostgreSQL the run's session gets a larger work_mem and no JIT.
The provider's report is read a page at a time (`Gateway.settlement_page`);
each page is compared with one query for our side, and a bitmap over the
day's ids remembers which of ours it named, so "ours that the provider
lacks" streams ids and loads only those rows.

Only one repair is automatic, the one the issue allows: a provider charge
that we recorded as `unknown` is settled through
`payments.services.charges.payment_settle` (the same path as a webhook). Everything
else, a `processing` or `pending` payment included, is flagged for staff.

A re-run for the same day writes a fresh run, then, in one transaction,
carries over staff resolutions of identical findings (kind, object) and
deletes the earlier runs of that day: findings are replaced, never
duplicated. A cache lock keeps two runs of one day from overlapping.
"""

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    Max,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payments.audit import audit_record
from payments.exceptions import ReconciliationRunning
from payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    ReconciliationItem,
    ReconciliationRun,
    Refund,
    Wallet,
    Withdrawal,
)
from payments.services.charges import payment_settle
from shop.core.exceptions import ShopError

logger = logging.getLogger(__name__)

BATCH = 2000
LOCK_SECONDS = 3600

Kind = ReconciliationItem.Kind
Action = ReconciliationItem.Action
# Payment states in which the shop holds the customer's money (it was taken, perhaps given back since).
TAKEN = (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED, Payment.Status.REFUNDED)
_DEC = DecimalField(max_digits=24, decimal_places=4)



def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass
class _Writer:
    """Buffers items and writes them in batches; counts them by kind."""

    run: ReconciliationRun
    buffer: list
    by_kind: dict
    open_count: int = 0
    repaired: int = 0

    def add(self, *, kind, action, object_type="", object_id="", related="", currency="", expected=None,
            actual=None, detail="", auto_repaired=False) -> None:
        self.buffer.append(
            ReconciliationItem(
                run=self.run,
                kind=kind,
                suggested_action=action,
                object_type=object_type,
                object_id=str(object_id)[:64],
                related=str(related)[:255],
                currency=currency or "",
                expected=expected,
                actual=actual,
                detail=str(detail)[:500],
                auto_repaired=auto_repaired,
                resolved=auto_repaired,
                resolved_at=timezone.now() if auto_repaired else None,
            )
        )
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        if auto_repaired:
            self.repaired += 1
        else:
            self.open_count += 1
        if len(self.buffer) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            ReconciliationItem.objects.bulk_create(self.buffer, batch_size=BATCH)
            self.buffer = []


# --- 1. ledger -------------------------------------------------------------------------------


def _transaction_reference(pk: int) -> str:
    return LedgerTransaction.objects.filter(pk=pk).values_list("reference", flat=True).first() or ""


def _check_ledger(day: date, out: _Writer) -> dict:
    start, end = day_bounds(day)
    day_entries = LedgerEntry.objects.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
    unbalanced = (
        day_entries.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("transaction_id", "currency")
    )
    explained: dict[str, Decimal] = {}
    for row in unbalanced.iterator(chunk_size=BATCH):
        explained[row["currency"]] = explained.get(row["currency"], Decimal(0)) + row["total"]
        out.add(
            kind=Kind.TRANSACTION_UNBALANCED,
            action=Action.INVESTIGATE_LEDGER,
            object_type="payments.ledgertransaction",
            object_id=row["transaction_id"],
            related=_transaction_reference(row["transaction_id"]),
            currency=row["currency"],
            expected=Decimal(0),
            actual=row["total"],
            detail=_("The entries of this transaction do not sum to zero."),
        )
    entries_checked = day_entries.count()
    totals = (
        LedgerEntry.objects.filter(transaction__created_at__lt=end)
        .values("currency")
        .annotate(
            debits=Coalesce(Sum("amount", filter=Q(amount__lt=0)), Value(Decimal(0)), output_field=_DEC),
            credits=Coalesce(Sum("amount", filter=Q(amount__gt=0)), Value(Decimal(0)), output_field=_DEC),
        )
        .order_by("currency")
    )
    for row in totals:
        residual = row["credits"] + row["debits"] - explained.get(row["currency"], Decimal(0))
        if residual != 0:
            out.add(
                kind=Kind.LEDGER_TOTALS,
                action=Action.INVESTIGATE_LEDGER,
                object_type="ledger",
                object_id=row["currency"],
                currency=row["currency"],
                expected=-row["debits"],
                actual=row["credits"],
                detail=_("Total credits differ from total debits by %(amount)s (not explained by this day).")
                % {"amount": residual.quantize(Decimal("0.01"))},
            )
    wallets = (
        Wallet.objects.values("id", "user_id", "account_id", "currency", "balance")
        .order_by("account_id")
        .iterator(chunk_size=BATCH)
    )
    sums = (
        LedgerEntry.objects.filter(account__purpose=LedgerAccount.Purpose.CUSTOMER_WALLET)
        .values("account_id")
        .annotate(total=Sum("amount"))
        .order_by("account_id")
        .iterator(chunk_size=BATCH)
    )
    for row, totals in _merge_sums(wallets, "account_id", entries=sums):
        total = _dec(totals["entries"])
        if row["balance"] != total:
            out.add(
                kind=Kind.WALLET_BALANCE,
                action=Action.INVESTIGATE_LEDGER,
                object_type="payments.wallet",
                object_id=row["id"],
                related=f"account {row['account_id']}, user {row['user_id']}",
                currency=row["currency"],
                expected=total,
                actual=row["balance"],
                detail=_("The wallet's cached balance differs from the sum of its ledger entries."),
            )
    return {"ledger_entries": entries_checked, "wallets": Wallet.objects.count()}


# --- 2. provider -----------------------------------------------------------------------------

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
    from concurrent.futures import ThreadPoolExecutor

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


def _charges_page(day: date, seen: _Seen, rows: list[dict], out: _Writer) -> int:
    """The provider's charges on this page against our payments with the same key."""
    charges = {str(c["idempotency_key"]): c for c in rows if c.get("idempotency_key")}
    payments = _ours_by(Payment, "provider_key", charges, ("id", "provider_key", "status", "amount", "amount_currency"))
    for key, charge in charges.items():
        ours = payments.get(key)
        if ours is not None:
            seen.add(ours["id"])
        amount, currency = _money_fields(charge)
        provider_ok = charge.get("status") == "succeeded"
        refunded_at_provider = Decimal(str(charge.get("amount_refunded") or "0"))
        if ours is None or ours["status"] not in TAKEN:
            if not provider_ok or (amount is not None and refunded_at_provider >= amount):
                continue  # nothing taken, or all of it already given back
            same_money = ours is not None and currency == ours["amount_currency"] and amount == ours["amount"]
            if same_money and ours["status"] == Payment.Status.UNKNOWN:
                # The one automatic repair the issue allows: an outcome we never learnt, now known.
                settled = payment_settle(payment_id=ours["id"], outcome="succeeded", provider_id=charge["id"])
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
                continue
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
            continue
        ours_currency = ours["amount_currency"]
        if not provider_ok:
            out.add(
                kind=Kind.CHARGE_STATUS, action=Action.CONTACT_PROVIDER, object_type="payments.payment",
                object_id=ours["id"], related=charge.get("id", ""), currency=ours_currency,
                expected=ours["amount"], actual=Decimal(0),
                detail=_("Succeeded here, %(status)s at the provider.") % {"status": charge.get("status")},
            )
        elif currency != ours_currency:
            out.add(
                kind=Kind.CHARGE_CURRENCY, action=Action.CONTACT_PROVIDER, object_type="payments.payment",
                object_id=ours["id"], related=charge.get("id", ""), currency=ours_currency,
                expected=ours["amount"], actual=amount,
                detail=_("Charged in %(theirs)s at the provider, %(ours)s here.")
                % {"theirs": currency, "ours": ours_currency},
            )
        elif amount != ours["amount"]:
            out.add(
                kind=Kind.CHARGE_AMOUNT, action=Action.CONTACT_PROVIDER, object_type="payments.payment",
                object_id=ours["id"], related=charge.get("id", ""), currency=currency,
                expected=ours["amount"], actual=amount,
                detail=_("The provider charged a different amount."),
            )
    return len(rows)


def _day_card_payments(day: date):
    start, end = day_bounds(day)
    return Payment.objects.filter(
        method=Payment.Method.CARD, status__in=TAKEN, created_at__gte=start, created_at__lt=end
    )


def _charges_missing_at_provider(day: date, seen: _Seen, gateway, out: _Writer) -> int:
    """Our card payments of the day that the report lacks: the charge may be on another day's report,
    so the provider is asked once for each (only these rows are loaded)."""
    ours = _day_card_payments(day)
    missing = _unseen(ours, seen, ("provider_key", "provider_charge_id", "reference", "amount", "amount_currency"))
    for payment in missing:
        lookup = gateway.get_charge(idempotency_key=payment["provider_key"])
        if lookup.outcome == "succeeded":
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


def _refunds_page(seen: _Seen, rows: list[dict], out: _Writer) -> int:
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
        elif refund.get("status") == "succeeded":
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
        provider_ok = theirs.get("status") == "succeeded"
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


def _late_refunds(late: dict[uuid.UUID, dict], out: _Writer) -> None:
    """Refunds of charges the provider made after a payment had failed here (payment_reverse_late_charge).

    Each must give back, in full, a payment that is `failed` here: one for a
    payment we count as taken means the customer has both the goods and the
    money; a failed one means the customer is still charged for nothing.
    """
    payments = _ours_by(Payment, "uid", late, ("id", "uid", "status", "amount", "amount_currency"))
    for uid, theirs in late.items():
        amount, currency = _money_fields(theirs)
        payment = payments.get(uid)
        provider_ok = theirs.get("status") == "succeeded"
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


def _compare(out: _Writer, theirs: dict, ours: dict, *, object_type: str, provider_ok: bool, kinds: tuple,
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


def _refunds_missing_at_provider(day: date, seen: _Seen, out: _Writer) -> int:
    ours = _day_card_refunds(day)
    missing = _unseen(ours, seen, ("reference", "amount", "amount_currency"))
    for refund in missing:
        out.add(
            kind=Kind.REFUND_MISSING_AT_PROVIDER, action=Action.CONTACT_PROVIDER, object_type="payments.refund",
            object_id=refund["id"], related=refund["reference"], currency=refund["amount_currency"],
            expected=refund["amount"], detail=_("Succeeded here, but not in the provider's report."),
        )
    return ours.count()


def _payouts_page(seen: _Seen, rows: list[dict], out: _Writer) -> int:
    """The provider's payouts on this page against our withdrawals (`payout-<uid>`)."""
    by_uid: dict[uuid.UUID, dict] = {}
    for payout in rows:
        key = str(payout.get("idempotency_key") or "")
        uid = _uid_from(key, "payout-")
        if uid is not None:
            by_uid[uid] = payout
        elif payout.get("status") == "succeeded":
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
        provider_ok = theirs.get("status") == "succeeded"
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


def _payouts_missing_at_provider(day: date, seen: _Seen, gateway, out: _Writer) -> int:
    """Our withdrawals of the day that the report lacks: like charges, the payout may be on another
    day's report, so the provider is asked once for each (only these rows are loaded)."""
    ours = _day_withdrawals(day)
    missing = _unseen(ours, seen, ("wallet_id", "uid", "provider_payout_id", "amount", "amount_currency"))
    for withdrawal in missing:
        lookup = gateway.get_payout(idempotency_key=Withdrawal(uid=withdrawal["uid"]).provider_key)
        if lookup.outcome == "succeeded":
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


def _check_provider(day: date, out: _Writer) -> dict:
    """The day's report, page by page, against our payments, refunds and withdrawals, both ways.

    The report is never held whole: each page is compared with one query
    for our side, and the ids of ours it named are set in a bitmap over the
    day's ids (`_Seen`); "ours that the report lacks" then streams the day's
    ids and loads only the unseen. If any page cannot be had, the run says so
    and skips those checks (they would see a partial report).
    """
    from payments.gateway import get_gateway

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


# --- 3. orders against payments ------------------------------------------------------------


def _dec(value) -> Decimal:
    """A sum as Decimal (SQLite answers floats for sums of decimal columns)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _merge_sums(rows, key: str, **sums):
    """Yield (row, {name: total or None}) for each row, the totals taken from the `sums` streams.

    Every stream is ordered by the same integer key (`key` in `rows`, the
    stream's first field otherwise); a sum row is a dict with `total`.
    """
    streams = {name: iter(stream) for name, stream in sums.items()}
    pending = {name: next(stream, None) for name, stream in streams.items()}
    for row in rows:
        value = row[key]
        totals = {}
        for name, stream in streams.items():
            head = pending[name]
            while head is not None and next(iter(head.values())) < value:
                head = next(stream, None)
            pending[name] = head
            totals[name] = head["total"] if head is not None and next(iter(head.values())) == value else None
        yield row, totals


def _raw_rows(sql: str, params: list):
    """Stream a raw query's rows (a server-side cursor on PostgreSQL), BATCH at a time."""
    from django.db import connection

    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            yield from rows


def _check_orders(day: date, out: _Writer) -> dict:
    """Paid orders of the day whose succeeded payments do not add up, and paid orders with no paid_at.

    One join in SQL, grouped by order (raw: the ORM cannot express the
    join on number and currency): two scans, instead of an index probe and
    an aggregate per order. Only discrepant orders come back.
    """
    from django.db import connection

    from shop.orders.models import Order

    start, end = day_bounds(day)
    paid_states = [Order.Status.PAID, Order.Status.SHIPPED, Order.Status.DELIVERED, Order.Status.REFUNDED]
    # Paid that day, and every paid order with no paid_at at all (a broken row has no day of its own,
    # so it is reported by every run until it is mended, like a wallet or stock mismatch).
    day_orders = Order.objects.filter(status__in=paid_states).filter(
        Q(paid_at__gte=start, paid_at__lt=end) | Q(paid_at__isnull=True)
    )
    states = ", ".join(["%s"] * len(paid_states))
    taken = ", ".join(["%s"] * len(TAKEN))

    def in_day(alias: str) -> str:
        return f"{alias}status IN ({states}) AND (({alias}paid_at >= %s AND {alias}paid_at < %s) OR {alias}paid_at IS NULL)"

    bounds = [connection.ops.adapt_datetimefield_value(start), connection.ops.adapt_datetimefield_value(end)]
    orders_table, payments_table = Order._meta.db_table, Payment._meta.db_table
    sql = (
        f"SELECT o.id, o.number, o.status, o.currency, o.total, o.paid_at, COALESCE(SUM(p.amount), 0) "  # noqa: S608
        f"FROM {orders_table} o LEFT JOIN {payments_table} p ON p.reference = o.number "
        f"AND p.amount_currency = o.currency AND p.purpose = %s AND p.status IN ({taken}) "
        f"WHERE {in_day('o.')} "
        f"GROUP BY o.id, o.number, o.status, o.currency, o.total, o.paid_at "
        f"HAVING o.paid_at IS NULL OR ROUND(COALESCE(SUM(p.amount), 0), 2) <> ROUND(o.total, 2) "
        f"ORDER BY o.id"
    )
    params = [Payment.Purpose.ORDER, *TAKEN, *paid_states, *bounds]
    for order_id, number, status, currency, total, paid_at, paid in _raw_rows(sql, params):
        total, paid = _dec(total), _dec(paid)
        if paid_at is None:
            out.add(
                kind=Kind.ORDER_PAID_AT_MISSING, action=Action.REVIEW, object_type="orders.order", object_id=order_id,
                related=number, currency=currency, expected=total, actual=paid,
                detail=_("The order is %(status)s but has no payment time, so no day's sales count it.")
                % {"status": status},
            )
        if paid != total:
            out.add(
                kind=Kind.ORDER_PAYMENT, action=Action.REVIEW, object_type="orders.order", object_id=order_id,
                related=number, currency=currency, expected=total, actual=paid,
                detail=_("The order is paid, but its succeeded payments do not add up to its total."),
            )
    checked = day_orders.count()
    order_ok = Order.objects.filter(number=OuterRef("reference"), status__in=paid_states)
    orphans = (
        Payment.objects.filter(
            purpose=Payment.Purpose.ORDER,
            status__in=(Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED),
            settled_at__gte=start,
            settled_at__lt=end,
        )
        .filter(~Exists(order_ok))
        .only("id", "reference", "amount", "amount_currency", "status")
        .order_by("id")
    )
    for payment in orphans.iterator(chunk_size=BATCH):
        out.add(
            kind=Kind.PAYMENT_WITHOUT_ORDER, action=Action.REFUND_OR_ATTACH, object_type="payments.payment",
            object_id=payment.pk, related=payment.reference, currency=payment.amount.currency.code,
            expected=Decimal(0), actual=payment.amount.amount,
            detail=_("The payment succeeded, but its order is not paid or refunded."),
        )
    payments_checked = Payment.objects.filter(
        purpose=Payment.Purpose.ORDER, settled_at__gte=start, settled_at__lt=end
    ).count()
    return {"orders": checked, "order_payments": payments_checked}


# --- 4. stock ------------------------------------------------------------------------------------


def _check_stock(out: _Writer) -> dict:
    """Each product's counters against its open reservations and its movements.

    Three streams in product order (the counters; movements and open
    reservations each summed once with GROUP BY) merged here: two scans, not
    two correlated sums per product.
    """
    from catalog.models import Stock, StockMovement, StockReservation

    stock = Stock.objects.values("product_id", "product__sku", "on_hand", "reserved").order_by("product_id")
    moved = (
        StockMovement.objects.values("product_id").annotate(total=Sum("on_hand_delta")).order_by("product_id")
    )
    held = (
        StockReservation.objects.filter(status=StockReservation.Status.OPEN)
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .order_by("product_id")
    )
    for row, totals in _merge_sums(
        stock.iterator(chunk_size=BATCH), "product_id",
        moved=moved.iterator(chunk_size=BATCH), held=held.iterator(chunk_size=BATCH),
    ):
        moved_total, open_total = totals["moved"] or 0, totals["held"] or 0
        if row["reserved"] != open_total:
            out.add(
                kind=Kind.STOCK_RESERVED, action=Action.REVIEW, object_type="catalog.product",
                object_id=row["product_id"], related=row["product__sku"], expected=open_total,
                actual=row["reserved"], detail=_("Reserved units differ from the open reservations."),
            )
        if row["on_hand"] != moved_total:
            out.add(
                kind=Kind.STOCK_ON_HAND, action=Action.STOCKTAKE, object_type="catalog.product",
                object_id=row["product_id"], related=row["product__sku"], expected=moved_total,
                actual=row["on_hand"], detail=_("Units on hand differ from the sum of stock movements."),
            )
    return {"products": Stock.objects.count()}


# --- the run -----------------------------------------------------------------------------------------


def reconciliation_run(*, day: date, actor=None) -> ReconciliationRun:
    """Check `day` (UTC) and store its findings, replacing an earlier run of the same day.

    Makes an HTTP call (the provider's report) and may settle unknown payments
    through payment_settle: call outside any transaction. Raises
    ReconciliationRunning when the same day is being checked right now.
    """
    lock = f"payments:reconciliation:{day.isoformat()}"
    if not cache.add(lock, "1", timeout=LOCK_SECONDS):
        raise ReconciliationRunning()
    started = time.monotonic()
    run = ReconciliationRun.objects.create(day=day, triggered_by=actor if getattr(actor, "is_authenticated", False) else None)
    out = _Writer(run=run, buffer=[], by_kind={})
    checked: dict = {}
    try:
        try:
            with _batch_session():
                checked.update(_check_ledger(day, out))
                checked.update(_check_provider(day, out))
                checked.update(_check_orders(day, out))
                checked.update(_check_stock(out))
                out.flush()
        except Exception as exc:
            logger.exception("reconciliation of %s failed", day)
            run.status = ReconciliationRun.Status.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.finished_at = timezone.now()
            run.duration_ms = int((time.monotonic() - started) * 1000)
            run.checked = checked
            run.save()
            raise
        run.checked = checked
        _finish(run, out, started)
    finally:
        cache.delete(lock)
    return run


@contextmanager
def _batch_session():
    """On PostgreSQL, room for the run's big joins and aggregates (no spills to disk) and no JIT
    (it costs more than it saves on these one-off scans); put back as it was afterwards."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '64MB'; SET jit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET work_mem; RESET jit")


def _finish(run: ReconciliationRun, out: _Writer, started: float) -> None:
    """Carry staff resolutions over from the day's earlier runs, delete them, and close this run."""
    with transaction.atomic():
        earlier = ReconciliationRun.objects.filter(day=run.day).exclude(pk=run.pk)
        resolved = (
            ReconciliationItem.objects.filter(run__in=earlier, resolved=True, auto_repaired=False)
            .values("kind", "object_type", "object_id", "resolved_by_id", "resolved_at", "resolution_note")
            .order_by("id")
        )
        for previous in resolved.iterator(chunk_size=BATCH):
            ReconciliationItem.objects.filter(
                run=run, kind=previous["kind"], object_type=previous["object_type"], object_id=previous["object_id"],
                resolved=False,
            ).update(
                resolved=True,
                resolved_by_id=previous["resolved_by_id"],
                resolved_at=previous["resolved_at"],
                resolution_note=previous["resolution_note"],
            )
        earlier.delete()
        open_count = run.items.filter(resolved=False).count()
        if open_count:
            run.status = ReconciliationRun.Status.DISCREPANCIES
        elif out.by_kind:
            run.status = ReconciliationRun.Status.REPAIRED
        else:
            run.status = ReconciliationRun.Status.CLEAN
        run.discrepancy_count = out.open_count
        run.repaired_count = out.repaired
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.save()


def reconciliation_yesterday() -> date:
    """The UTC day before today: what the nightly job checks."""
    return (timezone.now().astimezone(UTC) - timedelta(days=1)).date()


def reconciliation_summary(*, run: ReconciliationRun) -> list[tuple[str, str, int, int]]:
    """(kind, label, open, repaired) per kind found in the run, for tables."""
    rows = (
        run.items.values("kind")
        .annotate(open=Count("id", filter=Q(resolved=False)), repaired=Count("id", filter=Q(auto_repaired=True)),
                  total=Count("id"))
        .order_by("kind")
    )
    labels = dict(Kind.choices)
    return [(row["kind"], str(labels.get(row["kind"], row["kind"])), row["open"], row["repaired"]) for row in rows]


def reconciliation_item_resolve(*, item_id: int, actor, note: str = "") -> ReconciliationItem:
    """Mark one finding resolved by `actor` (with an optional note) and audit it; resolving twice is a no-op."""
    with transaction.atomic():
        item = ReconciliationItem.objects.select_for_update().select_related("run").get(pk=item_id)
        if item.resolved:
            return item
        item.resolved = True
        item.resolved_by = actor if getattr(actor, "is_authenticated", False) else None
        item.resolved_at = timezone.now()
        item.resolution_note = (note or "")[:500]
        item.save(update_fields=["resolved", "resolved_by", "resolved_at", "resolution_note"])
        audit_record(
            actor=actor, action="reconciliation_resolve", obj=item, reason=note,
            data={"run": item.run_id, "day": item.run.day.isoformat(), "kind": item.kind,
                  "object": f"{item.object_type}:{item.object_id}"},
        )
        return item
