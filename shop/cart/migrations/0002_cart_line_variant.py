"""Cart lines name the variant bought: existing lines get their product's default variant."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def lines_fill(apps, schema_editor):
    CartLine = apps.get_model("cart", "CartLine")
    ProductVariant = apps.get_model("catalog", "ProductVariant")
    default = ProductVariant.objects.filter(product_id=OuterRef("product_id"), is_default=True).values("pk")[:1]
    CartLine.objects.update(variant_id=Subquery(default))


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0004_variants_warehouses"),
        ("cart", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="cartline",
            name="variant",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="catalog.productvariant"),
        ),
        migrations.RunPython(lines_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="cartline",
            name="variant",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="catalog.productvariant"),
        ),
        migrations.RemoveConstraint(model_name="cartline", name="cart_line_one_per_product"),
        migrations.AddConstraint(
            model_name="cartline",
            constraint=models.UniqueConstraint(fields=("cart", "variant"), name="cart_line_one_per_variant"),
        ),
    ]
