"""Reads of the sandbox's records and their JSON representations (the provider protocol)."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce

from shop.money import minor_unit_quantum

from .exceptions import ObjectNotFound
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


def settlement_report(*, day: date) -> dict:
    """Every charge, refund and payout created on `day` (UTC), oldest first."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    window = {"created__gte": start, "created__lt": start + timedelta(days=1)}
    return {
        "date": day.isoformat(),
        "charges": [
            charge_as_dict(c)
            for c in SandboxCharge.objects.filter(**window)
            .annotate(
                refunded_total=Coalesce(
                    Sum("refunds__amount", filter=Q(refunds__status=SandboxStatus.SUCCEEDED)),
                    Value(Decimal("0")),
                    output_field=DecimalField(max_digits=18, decimal_places=3),
                )
            )
            .order_by("created", "id")
        ],
        "refunds": [
            refund_as_dict(r) for r in SandboxRefund.objects.filter(**window).order_by("created", "id")
        ],
        "payouts": [
            payout_as_dict(p) for p in SandboxPayout.objects.filter(**window).order_by("created", "id")
        ],
    }
