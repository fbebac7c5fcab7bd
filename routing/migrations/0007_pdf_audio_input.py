from django.db import migrations, models


def seed_input_capabilities(apps, schema_editor):
    """An existing catalog's seed models get the seed's document and audio input (routing/seed.py
    says where each was read); a catalog loaded later gets them from load_catalog."""
    from routing import seed

    CatalogModel = apps.get_model("routing", "CatalogModel")
    CatalogModel.objects.filter(public_id__in=list(seed.PDF_INPUT)).update(supports_pdf_input=True)
    CatalogModel.objects.filter(public_id__in=list(seed.AUDIO_INPUT)).update(supports_audio_input=True)


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0006_seed_openrouter_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="catalogmodel",
            name="supports_audio_input",
            field=models.BooleanField(
                default=False, help_text="takes audio (input_audio content parts) in its chat API"
            ),
        ),
        migrations.AddField(
            model_name="catalogmodel",
            name="supports_pdf_input",
            field=models.BooleanField(
                default=False, help_text="takes PDF documents (file content parts) in its chat API"
            ),
        ),
        migrations.RunPython(seed_input_capabilities, migrations.RunPython.noop),
    ]
