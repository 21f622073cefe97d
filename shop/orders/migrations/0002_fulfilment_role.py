"""Staff roles for orders: "fulfilment" ships, delivers, cancels and rejects returns; "finance"
(from payments.0005_staff_groups, which refunds) may also approve returns, which refunds money.

Re-running it only adds what is missing.
"""

from django.db import migrations

FULFILMENT = [
    ("orders", "view_order"),
    ("orders", "view_orderevent"),
    ("orders", "view_returnrequest"),
    ("orders", "view_outboxemail"),
    ("orders", "change_order"),
    ("orders", "change_returnrequest"),
    ("catalog", "view_product"),
    ("catalog", "view_stock"),
]
FINANCE_EXTRA = [("orders", "change_returnrequest")]


def create_roles(apps, schema_editor):
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

    fulfilment, _created = Group.objects.get_or_create(name="fulfilment")
    fulfilment.permissions.add(*perms(FULFILMENT))
    finance, _created = Group.objects.get_or_create(name="finance")
    finance.permissions.add(*perms(FINANCE_EXTRA))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("payments", "0005_staff_groups"),
        ("catalog", "0002_name_trigram_gist"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
