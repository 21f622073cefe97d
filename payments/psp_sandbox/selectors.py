"""Reads of the sandbox's records and their JSON representations (the provider protocol)."""

import base64
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from shop.core.money import minor_unit_quantum

from .exceptions import ObjectNotFound, SandboxError, SandboxErrorCode
from .models import SandboxCharge, SandboxEvent, SandboxPayout, SandboxRefund, SandboxStatus


def amount_str(money) -> str:
    """Decimal string with the currency's minor units ("12.50", "100" for JPY)."""
    return str(money.amount.quantize(minor_unit_quantum(money.currency.code)))


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def charge_refunded_total(charge: SandboxCharge) -> Decimal:
    """Sum of the succeeded refunds of `charge`, in its currency."""
    total = charge.refunds.filter(status=SandboxStatus.SUCCEEDED).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0")


def charge_as_dict(charge: SandboxCharge) -> dict:
    refunded = getattr(charge, "refunded_total", None)
    if refunded is None:
        refunded = charge_refunded_total(charge)
    return {
        "id": charge.id,
        "object": "charge",
        "status": charge.status,
        "amount": amount_str(charge.amount),
        "currency": charge.amount.currency.code,
        "amount_refunded": str(refunded.quantize(minor_unit_quantum(charge.amount.currency.code))),
        "idempotency_key": charge.idempotency_key,
        "reference": charge.reference,
        "description": charge.description,
        "failure_code": charge.failure_code,
        "created": _ts(charge.created),
    }


def refund_as_dict(refund: SandboxRefund) -> dict:
    return {
        "id": refund.id,
        "object": "refund",
        "status": refund.status,
        "charge": refund.charge_id,
        "amount": amount_str(refund.amount),
        "currency": refund.amount.currency.code,
        "idempotency_key": refund.idempotency_key,
        "reference": refund.reference,
        "created": _ts(refund.created),
    }


def payout_as_dict(payout: SandboxPayout) -> dict:
    return {
        "id": payout.id,
        "object": "payout",
        "status": payout.status,
        "amount": amount_str(payout.amount),
        "currency": payout.amount.currency.code,
        "idempotency_key": payout.idempotency_key,
        "reference": payout.reference,
        "failure_code": payout.failure_code,
        "created": _ts(payout.created),
    }


def event_as_dict(event: SandboxEvent) -> dict:
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "object_id": event.object_id,
        "target_url": event.target_url,
        "delivered": event.delivered_at is not None,
        "attempts": event.attempts,
        "created": _ts(event.created),
    }


def charge_get(*, charge_id: str) -> SandboxCharge:
    try:
        return SandboxCharge.objects.get(pk=charge_id)
    except SandboxCharge.DoesNotExist:
        raise ObjectNotFound()


def charge_get_by_key(*, idempotency_key: str) -> SandboxCharge:
    try:
        return SandboxCharge.objects.get(idempotency_key=idempotency_key)
    except SandboxCharge.DoesNotExist:
        raise ObjectNotFound()


def refund_get_by_key(*, idempotency_key: str) -> SandboxRefund:
    try:
        return SandboxRefund.objects.get(idempotency_key=idempotency_key)
    except SandboxRefund.DoesNotExist:
        raise ObjectNotFound()


def payout_get_by_key(*, idempotency_key: str) -> SandboxPayout:
    try:
        return SandboxPayout.objects.get(idempotency_key=idempotency_key)
    except SandboxPayout.DoesNotExist:
        raise ObjectNotFound()


def event_get(*, event_id: str) -> SandboxEvent:
    try:
        return SandboxEvent.objects.get(pk=event_id)
    except SandboxEvent.DoesNotExist:
        raise ObjectNotFound()


SETTLEMENT_TYPES = ("charges", "refunds", "payouts")
SETTLEMENT_PAGE_MAX = 5000
_FIELDS = {
    "charges": ("id", "status", "amount", "amount_currency", "refunded_total", "idempotency_key", "reference",
                "description", "failure_code", "created"),
    "refunds": ("id", "status", "charge_id", "amount", "amount_currency", "idempotency_key", "reference", "created"),
    "payouts": ("id", "status", "amount", "amount_currency", "idempotency_key", "reference", "failure_code",
                "created"),
}


def _settlement_rows(day: date, type: str, after: tuple[datetime, str] | None = None):
    """The day's (UTC) objects of one type as value rows, oldest first (created, id), after a cursor.

    The cursor's moment is also a plain lower bound, so each page is an index
    range scan that starts where the last one stopped (never re-reads the day).
    """
    start = datetime.combine(day, time.min, tzinfo=UTC)
    rows = {"charges": SandboxCharge, "refunds": SandboxRefund, "payouts": SandboxPayout}[type].objects.filter(
        created__gte=start, created__lt=start + timedelta(days=1)
    )
    if after is not None:
        created, object_id = after
        rows = rows.filter(created__gte=created).filter(Q(created__gt=created) | Q(created=created, id__gt=object_id))
    if type == "charges":
        # A correlated subquery, not a JOIN + GROUP BY: a page of N charges costs N index lookups,
        # never an aggregate over the whole day.
        refunded = (
            SandboxRefund.objects.filter(charge_id=OuterRef("pk"), status=SandboxStatus.SUCCEEDED)
            .order_by()
            .values("charge_id")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        money = DecimalField(max_digits=18, decimal_places=3)
        rows = rows.annotate(
            refunded_total=Coalesce(Subquery(refunded, output_field=money), Value(Decimal("0")), output_field=money)
        )
    return rows.order_by("created", "id").values(*_FIELDS[type])


def _amount(value: Decimal, currency: str) -> str:
    return str(value.quantize(minor_unit_quantum(currency)))


def _row_as_dict(type: str, row: dict) -> dict:
    """The same representation as charge_as_dict / refund_as_dict / payout_as_dict, from a value row."""
    currency = row["amount_currency"]
    common = {"id": row["id"], "object": type[:-1], "status": row["status"]}
    if type == "refunds":
        common["charge"] = row["charge_id"]
    common.update({"amount": _amount(row["amount"], currency), "currency": currency})
    if type == "charges":
        common["amount_refunded"] = _amount(row["refunded_total"], currency)
    common.update({"idempotency_key": row["idempotency_key"], "reference": row["reference"]})
    if type == "charges":
        common["description"] = row["description"]
    if type != "refunds":
        common["failure_code"] = row["failure_code"]
    common["created"] = _ts(row["created"])
    return common


def settlement_report(*, day: date) -> dict:
    """Every charge, refund and payout created on `day` (UTC), oldest first, in one answer."""
    report = {"date": day.isoformat()}
    for type in SETTLEMENT_TYPES:
        report[type] = [_row_as_dict(type, row) for row in _settlement_rows(day, type).iterator(chunk_size=2000)]
    return report


def _cursor_encode(row: dict) -> str:
    return base64.urlsafe_b64encode(f"{row['created'].isoformat()}|{row['id']}".encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _bar, object_id = raw.partition("|")
        moment = datetime.fromisoformat(created)
        if not object_id or moment.tzinfo is None:
            raise ValueError(cursor)
    except (ValueError, UnicodeDecodeError):
        raise SandboxError(field="starting_after", code=SandboxErrorCode.INVALID_CURSOR)
    return moment, object_id


def settlement_page(*, day: date, type: str, limit: int, cursor: str = "") -> dict:
    """One page of one list of the day's report, keyset-paged on (created, id).

    `next_cursor` is opaque; pass it back as `starting_after` while `has_more`.
    Each page is one index range scan from the cursor on, so a day of any
    size is read in constant memory and linear time on both sides.
    """
    if type not in SETTLEMENT_TYPES:
        raise SandboxError(field="type", code=SandboxErrorCode.INVALID_TYPE)
    if not 1 <= limit <= SETTLEMENT_PAGE_MAX:
        raise SandboxError(field="limit", code=SandboxErrorCode.INVALID_LIMIT)
    page = list(_settlement_rows(day, type, _cursor_decode(cursor) if cursor else None)[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    return {
        "object": "list",
        "date": day.isoformat(),
        "type": type,
        "data": [_row_as_dict(type, row) for row in page],
        "has_more": has_more,
        "next_cursor": _cursor_encode(page[-1]) if has_more else None,
    }
