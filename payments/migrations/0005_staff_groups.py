"""Staff roles: "support" views and resolves; "finance" also refunds, adjusts wallets and releases held payments.

Permissions are created first (Django makes them after all migrations, too
late for a data migration), so this also works on an empty database.
Re-running it only adds what is missing.
"""

from django.db import migrations

VIEW = {
    "payments": [
        "payment", "refund", "wallet", "ledgeraccount", "ledgertransaction", "ledgerentry", "paymentattempt",
        "withdrawal", "webhookevent", "reconciliationrun", "reconciliationitem", "auditlog", "fraudrule",
        "paymenthold",
    ],
    "orders": ["order", "orderevent", "returnrequest", "outboxemail"],
    "catalog": ["product", "stock", "stockmovement", "stockreservation"],
}
SUPPORT_EXTRA = [("payments", "resolve_reconciliationitem"), ("payments", "view_staff_reports")]
FINANCE_EXTRA = [
    ("payments", "refund_payment"),
    ("payments", "adjust_wallet"),
    ("payments", "release_payment"),
    ("payments", "add_fraudrule"),
    ("payments", "change_fraudrule"),
]


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(pairs):
        found = []
        for app_label, codename in pairs:
            found.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        return found

    view = [(app, f"view_{model}") for app, models in VIEW.items() for model in models]
    support, _created = Group.objects.get_or_create(name="support")
    support.permissions.add(*perms(view + SUPPORT_EXTRA))
    finance, _created = Group.objects.get_or_create(name="finance")
    finance.permissions.add(*perms(view + SUPPORT_EXTRA + FINANCE_EXTRA))


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0004_reconciliation_fraud_audit"),
        ("orders", "0001_initial"),
        ("catalog", "0002_name_trigram_gist"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
