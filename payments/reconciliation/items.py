"""Findings of a reconciliation run: written in batches, summed per kind, resolved by staff."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from payments.audit import audit_record
from payments.models import ReconciliationItem, ReconciliationRun
from shop.core.reconciliation import BATCH, ReconciliationFinding

Kind = ReconciliationItem.Kind
Action = ReconciliationItem.Action


@dataclass
class ItemWriter:
    """Buffers items and writes them in batches; counts them by kind."""

    run: ReconciliationRun
    buffer: list = field(default_factory=list)
    by_kind: dict = field(default_factory=dict)
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

    def report(self, finding: ReconciliationFinding) -> None:
        """Store a registered check's finding; a kind or action this model does not know raises ValueError."""
        self.add(
            kind=Kind(finding.kind), action=Action(finding.action), object_type=finding.object_type,
            object_id=finding.object_id, related=finding.related, currency=finding.currency,
            expected=finding.expected, actual=finding.actual, detail=finding.detail,
        )

    def flush(self) -> None:
        if self.buffer:
            ReconciliationItem.objects.bulk_create(self.buffer, batch_size=BATCH)
            self.buffer = []


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
