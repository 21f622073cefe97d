"""On PostgreSQL the database itself guards the ledger.

- A deferred constraint trigger checks, at commit, that every transaction
  touched by new entries sums to zero per currency.
- A trigger refuses UPDATE and DELETE of entries (append-only; mistakes are
  corrected by reversing transactions). TRUNCATE (test flushes) is not a row
  operation and is not affected.

SQLite has neither; there the service layer (payments.services.ledger_post)
is the only guard.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION payments_ledger_check_balanced() RETURNS trigger AS $$
DECLARE
    bad RECORD;
BEGIN
    SELECT currency, SUM(amount) AS total INTO bad
    FROM payments_ledgerentry
    WHERE transaction_id = NEW.transaction_id
    GROUP BY currency
    HAVING SUM(amount) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced in %: %', NEW.transaction_id, bad.currency, bad.total
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS payments_ledgerentry_balanced ON payments_ledgerentry;
CREATE CONSTRAINT TRIGGER payments_ledgerentry_balanced
    AFTER INSERT ON payments_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_check_balanced();

CREATE OR REPLACE FUNCTION payments_ledger_entry_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % refused', TG_OP USING ERRCODE = '55000';
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS payments_ledgerentry_immutable ON payments_ledgerentry;
CREATE TRIGGER payments_ledgerentry_immutable
    BEFORE UPDATE OR DELETE ON payments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_entry_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS payments_ledgerentry_immutable ON payments_ledgerentry;
DROP FUNCTION IF EXISTS payments_ledger_entry_immutable();
DROP TRIGGER IF EXISTS payments_ledgerentry_balanced ON payments_ledgerentry;
DROP FUNCTION IF EXISTS payments_ledger_check_balanced();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return apply


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
