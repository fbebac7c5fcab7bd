from django.db import migrations, models


def seed_1h_prices(apps, schema_editor):
    """An existing catalog's seed Claude models get the seed's 1-hour cache-write price, as a new
    price version, where they are still at the seed's input and cache-write prices (an operator who
    repriced a model sets its 1-hour price too; a catalog loaded later gets it from load_catalog).
    Without it they would be sent 1-hour cache marks as 5-minute ones."""
    from django.utils import timezone

    from routing import seed

    CatalogModel = apps.get_model("routing", "CatalogModel")
    PriceVersion = apps.get_model("routing", "PriceVersion")
    fields = (
        "input_price_usd_micro_per_mtok",
        "cached_input_price_usd_micro_per_mtok",
        "cache_write_price_usd_micro_per_mtok",
        "cache_write_1h_price_usd_micro_per_mtok",
        "output_price_usd_micro_per_mtok",
    )
    now = timezone.now()
    for row in seed.MODELS:
        price_1h = row["cache_write_1h_price_usd_micro_per_mtok"]
        if price_1h is None:
            continue
        same = {
            "input_price_usd_micro_per_mtok": row["input_price_usd_micro_per_mtok"],
            "cache_write_price_usd_micro_per_mtok": row["cache_write_price_usd_micro_per_mtok"],
            "cache_write_1h_price_usd_micro_per_mtok": None,
        }
        for m in CatalogModel.objects.filter(public_id=row["public_id"], **same):
            m.cache_write_1h_price_usd_micro_per_mtok = price_1h
            m.save(update_fields=["cache_write_1h_price_usd_micro_per_mtok"])
            PriceVersion.objects.create(
                model=m,
                effective_at=now,
                source="seed",
                created_by="migration",
                applied=True,
                note="1-hour cache-write price added",
                **{f: getattr(m, f) for f in fields},
            )
            # A change scheduled at the same prices keeps the 1-hour price when it comes into force.
            PriceVersion.objects.filter(model=m, applied=False, **same).update(
                cache_write_1h_price_usd_micro_per_mtok=price_1h
            )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0007_pdf_audio_input"),
    ]

    operations = [
        migrations.AddField(
            model_name="catalogmodel",
            name="cache_write_1h_price_usd_micro_per_mtok",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="input tokens written to the prompt cache for one hour (Anthropic's ttl 1h); empty: the "
                "model is sent 1-hour cache marks as 5-minute ones",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="priceversion",
            name="cache_write_1h_price_usd_micro_per_mtok",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(seed_1h_prices, migrations.RunPython.noop),
    ]
