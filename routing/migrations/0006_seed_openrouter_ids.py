from django.db import migrations


def seed_openrouter_ids(apps, schema_editor):
    """An existing catalog's seed models get the seed's OpenRouter ids, where the operator has set
    none (a catalog loaded later gets them from load_catalog)."""
    from routing import seed

    CatalogModel = apps.get_model("routing", "CatalogModel")
    for row in seed.MODELS:
        if row["openrouter_id"]:
            CatalogModel.objects.filter(public_id=row["public_id"], openrouter_id="").update(
                openrouter_id=row["openrouter_id"]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0005_merge_dialects"),
    ]

    operations = [migrations.RunPython(seed_openrouter_ids, migrations.RunPython.noop)]
