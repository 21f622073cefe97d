"""Every write of the payments app, one module per responsibility (see ledger.py for the ledger flows)."""
