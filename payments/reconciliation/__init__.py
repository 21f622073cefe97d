"""Nightly reconciliation: the ledger, the provider, orders and stock checked against each other for one day.

`runs.reconciliation_run(day=...)` stores one `ReconciliationRun` with one
`ReconciliationItem` per discrepancy:

1. ledger (`ledger`): every transaction posted that day balances per
   currency; the whole ledger (up to the end of the day) nets to zero per
   currency, i.e. total debits equal total credits (an imbalance already
   explained by that day's unbalanced transactions is not reported twice);
   every wallet's and every gift card's cached balance equals the sum of
   its entries (so the gift-card liability is proven card by card);
2. provider (`provider`): the provider's settlement report for the day (over
   HTTP, page by page) against our card payments, refunds (ours and the
   refunds of late charges) and withdrawals (payouts), both ways: missing on
   either side, amount, currency or status mismatch;
3. every check another app registers in `shop.core.reconciliation` for the
   tables it owns: orders against payments (`shop.orders.reconciliation`),
   stock against its reservations and movements (`catalog.reconciliation`).
   Payments reads no orders and no stock itself.

Memory stays constant and time linear: sums are computed in SQL with one
GROUP BY each and merged in key order with the rows they check (wallets,
stock), or joined in SQL (orders), never one correlated subquery per row;
rows stream through server-side cursors (`.iterator(chunk_size=...)`),
only discrepant ones are kept, and items are written in batches
(`items.ItemWriter`). On PostgreSQL the run's session gets a larger work_mem
and no JIT. The provider's report is read a page at a time
(`Gateway.settlement_page`); each page is compared with one query for our
side, and a bitmap over the day's ids remembers which of ours it named, so
"ours that the provider lacks" streams ids and loads only those rows.

Only one repair is automatic, the one the issue allows: a provider charge
that we recorded as `unknown` is settled through `payment_settle` (the same
path as a webhook). Everything else, a `processing` or `pending` payment
included, is flagged for staff.

A re-run for the same day writes a fresh run, then, in one transaction,
carries over staff resolutions of identical findings (kind, object) and
deletes the earlier runs of that day: findings are replaced, never
duplicated. A cache lock keeps two runs of one day from overlapping.
"""
