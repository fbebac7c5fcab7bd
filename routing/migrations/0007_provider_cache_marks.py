from django.db import migrations

READERS = ("qwen", "alibaba")  # Model Studio's explicit cache reads cache_control on content parts


def mark_readers(apps, schema_editor):
    """An existing catalog's Model Studio providers keep cache_control marks (adapters/openai_compat.py),
    unless the operator has set the quirk either way (a catalog loaded later gets it from the seed)."""
    Provider = apps.get_model("routing", "Provider")
    for provider in Provider.objects.filter(slug__in=READERS):
        if "cache_control_marks" not in provider.quirks:
            provider.quirks = {**provider.quirks, "cache_control_marks": True}
            provider.save(update_fields=["quirks"])


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0006_seed_openrouter_ids"),
    ]

    operations = [migrations.RunPython(mark_readers, migrations.RunPython.noop)]
