"""Support and finance staff may open invoices and credit notes (`orders.view_invoice`): support answers
a customer's question about one, finance books them. Re-running it only adds what is missing."""

from django.db import migrations

GROUPS = ("support", "finance")


def grant_view_invoice(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_invoice = list(Permission.objects.filter(content_type__app_label="orders", codename="view_invoice"))
    for name in GROUPS:
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*view_invoice)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0008_guest_orders"),
        ("payments", "0005_staff_groups"),
    ]

    operations = [migrations.RunPython(grant_view_invoice, migrations.RunPython.noop)]
