"""What each app holds about a person: its export and its erasure (GDPR articles 15, 17 and 20).

Accounts imports no higher app, so the apps that hold personal data register
here, in their `AppConfig.ready`, the way they register payment handlers and
reconciliation checks:

    # payments/apps.py, PaymentsConfig.ready
    privacy_export_register("payments", payments_export)
    privacy_erase_register("payments", payments_erase)
    privacy_audit_register("payments", privacy_audit)

- An exporter is `fn(*, user) -> JSON-able data`: its section of the download,
  under the registered name.
- An eraser is `fn(*, user) -> dict[str, int]`: it removes or anonymises the
  person's data in its tables and returns what it changed (kept on the
  `ErasureRequest`). It runs inside the erasure's transaction, and refuses the
  whole erasure by raising a `ShopError` (a wallet with money: 409
  `wallet_not_empty`); nothing is then changed. Records the law requires
  (orders, invoices, payments, ledger entries) are kept, without the
  person's identity.
- An auditor is `fn(*, actor, action, obj, data)`: it records each export and
  each erasure request (done or refused) in an audit trail.

Each kind runs in name order, whatever the order the apps load in.
"""

from collections.abc import Callable

PrivacyExporter = Callable[..., object]  # fn(*, user)
PrivacyEraser = Callable[..., dict]  # fn(*, user)
PrivacyAuditor = Callable[..., None]  # fn(*, actor, action: str, obj, data: dict)

_exporters: dict[str, PrivacyExporter] = {}
_erasers: dict[str, PrivacyEraser] = {}
_auditors: dict[str, PrivacyAuditor] = {}


def privacy_export_register(name: str, fn: PrivacyExporter) -> None:
    """Add `fn`'s answer to every export, as the section `name` (replaces an earlier registration)."""
    _exporters[name] = fn


def privacy_erase_register(name: str, fn: PrivacyEraser) -> None:
    """Run `fn` in every erasure, its summary kept under `name` (replaces an earlier registration)."""
    _erasers[name] = fn


def privacy_audit_register(name: str, fn: PrivacyAuditor) -> None:
    """Tell `fn` of every export and erasure request (replaces an earlier registration)."""
    _auditors[name] = fn


def privacy_exporters() -> list[tuple[str, PrivacyExporter]]:
    """The registered exporters as (name, fn), in name order."""
    return sorted(_exporters.items())


def privacy_erasers() -> list[tuple[str, PrivacyEraser]]:
    """The registered erasers as (name, fn), in name order."""
    return sorted(_erasers.items())


def privacy_audit(*, actor, action: str, obj=None, data: dict | None = None) -> None:
    """Record `action` with every registered auditor."""
    for _name, fn in sorted(_auditors.items()):
        fn(actor=actor, action=action, obj=obj, data=data or {})
