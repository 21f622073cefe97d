"""Payout reconciliation kinds, fraud screening verdicts, and two finance-only permissions.

Closing a wallet and retrying a payment now were open to every staff user
who could view them; they become `payments.close_wallet` and
`payments.retry_payment`, granted to the "finance" group here (created first,
as in 0005, because Django makes permissions only after all migrations).
"""

import django.db.models.deletion
from django.db import migrations, models

FINANCE_NEW = ["close_wallet", "retry_payment"]


def grant_finance(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("payments")
    original = getattr(app_config, "models_module", None)
    app_config.models_module = original or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    finance, _created = Group.objects.get_or_create(name="finance")
    finance.permissions.add(
        *Permission.objects.filter(content_type__app_label="payments", codename__in=FINANCE_NEW)
    )


def revoke_finance(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    finance = Group.objects.filter(name="finance").first()
    if finance is not None:
        finance.permissions.remove(
            *Permission.objects.filter(content_type__app_label="payments", codename__in=FINANCE_NEW)
        )


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0008_idempotency_key_lease'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='reconciliationitem',
            options={'ordering': ['run', 'kind', 'id'], 'permissions': [('resolve_reconciliationitem', 'Can resolve reconciliation items'), ('refund_payment', 'Can refund payments and orders'), ('adjust_wallet', 'Can post wallet adjustments'), ('release_payment', 'Can release or refuse payments held for review'), ('view_staff_reports', 'Can view the staff dashboard and reports'), ('close_wallet', 'Can close wallets'), ('retry_payment', 'Can retry stuck card payments now')], 'verbose_name': 'reconciliation item', 'verbose_name_plural': 'reconciliation items'},
        ),
        migrations.AlterField(
            model_name='reconciliationitem',
            name='kind',
            field=models.CharField(choices=[('transaction_unbalanced', 'Ledger transaction unbalanced'), ('ledger_totals', 'Total debits differ from total credits'), ('wallet_balance', 'Wallet balance differs from its entries'), ('provider_unavailable', 'Provider settlement report unavailable'), ('charge_missing_here', 'Provider charge not succeeded here'), ('charge_missing_at_provider', 'Payment missing at the provider'), ('charge_amount', 'Charge amount mismatch'), ('charge_currency', 'Charge currency mismatch'), ('charge_status', 'Charge status mismatch'), ('charge_settled', "Unknown payment settled from the provider's report"), ('refund_missing_here', 'Provider refund not succeeded here'), ('refund_missing_at_provider', 'Refund missing at the provider'), ('refund_amount', 'Refund amount mismatch'), ('refund_currency', 'Refund currency mismatch'), ('refund_status', 'Refund status mismatch'), ('late_refund', 'Late-charge refund does not match a failed payment'), ('payout_missing_here', 'Provider payout not succeeded here'), ('payout_missing_at_provider', 'Withdrawal missing at the provider'), ('payout_amount', 'Payout amount mismatch'), ('payout_currency', 'Payout currency mismatch'), ('payout_status', 'Payout status mismatch'), ('order_payment', 'Paid order without matching payments'), ('order_paid_at_missing', 'Paid order without a payment time'), ('payment_without_order', 'Succeeded payment without a paid order'), ('stock_reserved', 'Reserved stock differs from open reservations'), ('stock_on_hand', 'Stock on hand differs from its movements')], max_length=32, verbose_name='kind'),
        ),
        migrations.CreateModel(
            name='PaymentScreening',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('verdict', models.CharField(choices=[('pass', 'Passed'), ('hold', 'Held for review'), ('refuse', 'Refused')], max_length=8, verbose_name='verdict')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('payment', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='screening', to='payments.payment')),
                ('rule', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='payments.fraudrule')),
            ],
            options={
                'verbose_name': 'payment screening',
                'verbose_name_plural': 'payment screenings',
            },
        ),
        migrations.RunPython(grant_finance, revoke_finance),
    ]
