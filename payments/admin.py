"""Admin registration of the payments app (Django's admin autodiscovery imports this module).

Each model is registered once, in one of two modules:

- payments/admin_records.py: the read-only money records (ledger, attempts,
  refunds, withdrawals, idempotency keys, webhook events);
- payments/admin_gift_cards.py: gift cards (issued through the service, code shown once);
- payments/admin_staff.py: what staff act on (wallets, payments, fraud rules
  and held payments, reconciliation, audit log), each action behind its own
  permission and written to the audit log.
"""

from payments import admin_gift_cards, admin_records, admin_staff  # noqa: F401  (registers the admin classes)
