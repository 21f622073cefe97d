from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # GiST serves "ORDER BY q <<-> name LIMIT n": autocomplete reads the nearest
    # names from the index instead of scoring every product sharing a trigram.
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS catalog_product_name_trgm_gist ON catalog_product USING gist (name gist_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS catalog_product_name_trgm_gist")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
