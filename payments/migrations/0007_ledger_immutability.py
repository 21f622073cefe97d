"""On PostgreSQL, ledger transactions are append-only too, like their entries (0002).

0002 refuses UPDATE and DELETE of entries, but a transaction row could still
be edited (its reference, kind or description rewritten) or, once its entries
were gone, deleted. This trigger refuses UPDATE and DELETE of
payments_ledgertransaction rows; a mistake is corrected by a reversing
transaction. TRUNCATE (test flushes) is not a row operation and is not
affected. SQLite relies on the service layer (payments.services.ledger_post).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION payments_ledger_transaction_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger transactions are append-only: % refused', TG_OP USING ERRCODE = '55000';
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS payments_ledgertransaction_immutable ON payments_ledgertransaction;
CREATE TRIGGER payments_ledgertransaction_immutable
    BEFORE UPDATE OR DELETE ON payments_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_transaction_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS payments_ledgertransaction_immutable ON payments_ledgertransaction;
DROP FUNCTION IF EXISTS payments_ledger_transaction_immutable();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return apply


class Migration(migrations.Migration):
    dependencies = [("payments", "0006_settlement_hardening")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
