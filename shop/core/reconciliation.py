"""Reconciliation checks that apps register, and the pieces every check shares.

Payments runs the nightly reconciliation (`payments.reconciliation.runs`):
its own checks (the ledger, the provider's report) and then every check
registered here by the app that owns the tables it reads, the way
`payments.handlers` lets orders hear about payments. So payments reads no
orders and no stock, and catalog need not know payments:

    # shop/orders/apps.py, OrdersConfig.ready
    reconciliation_check_register("orders", order_payments_check)

A check is `check(*, day, report) -> dict[str, int]`: it calls
`report(ReconciliationFinding(...))` once per discrepancy of the UTC `day`
and returns how many rows of each sort it checked (`{"products": 120}`).
A finding's `kind` and `action` are members of the registering app's enums,
whose values are those of `payments.models.ReconciliationItem.Kind` and
`.Action`; payments refuses (ValueError) a value it does not know.
Registered checks run in name order, whatever the order the apps load in.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

BATCH = 2000  # rows per chunk when a check streams a query, and findings per insert


@dataclass(frozen=True)
class ReconciliationFinding:
    """One discrepancy a check found: what, which object, the amounts, and what staff should do."""

    kind: str  # a member of the check's kinds enum (StrEnum or TextChoices), never a bare string
    action: str  # likewise, a member of its actions enum
    object_type: str = ""
    object_id: str | int = ""
    related: str = ""
    currency: str = ""
    expected: Decimal | int | None = None
    actual: Decimal | int | None = None
    detail: str = ""


ReconciliationReport = Callable[[ReconciliationFinding], None]
ReconciliationCheck = Callable[..., dict[str, int]]  # check(*, day: date, report: ReconciliationReport)

_registry: dict[str, ReconciliationCheck] = {}


def reconciliation_check_register(name: str, check: ReconciliationCheck) -> None:
    """Add `check` to every reconciliation run under `name` (replaces an earlier registration)."""
    _registry[name] = check


def reconciliation_check_unregister(name: str) -> None:
    """Take the check registered as `name` out of the runs (no-op when there is none)."""
    _registry.pop(name, None)


def reconciliation_checks() -> list[tuple[str, ReconciliationCheck]]:
    """The registered checks as (name, check), in name order."""
    return sorted(_registry.items())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def as_decimal(value) -> Decimal:
    """A sum as Decimal (SQLite answers floats for sums of decimal columns)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def merge_sums(rows: Iterable[dict], key: str, **sums: Iterable[dict]) -> Iterator[tuple[dict, dict]]:
    """Yield (row, {name: total or None}) for each row, the totals taken from the `sums` streams.

    Every stream is ordered by the same integer key (`key` in `rows`, the
    stream's first field otherwise); a sum row is a dict with `total`. Memory
    stays constant: each stream is read once, side by side with the rows.
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
