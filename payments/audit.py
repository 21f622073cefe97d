"""The audit trail of staff actions on money and orders: who, when, what, why."""

from django.db import transaction

from payments.models import AuditLog


def audit_record(
    *, actor, action: str, obj=None, object_type: str = "", object_id="", reason: str = "", data: dict | None = None
) -> AuditLog:
    """Append one audit entry (inside the caller's transaction when there is one)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    actor = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        return AuditLog.objects.create(
            actor=actor,
            action=action[:64],
            object_type=object_type[:64],
            object_id=str(object_id or "")[:64],
            reason=str(reason or "")[:500],
            data=data or {},
        )
