from django.db import migrations

from billing.migrations import _functions

SQL = _functions.SQL.parent / "holds.sql"


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for fn in ("billing_top_up(text, bigint)", "billing_headroom(bigint, bigint)"):
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {fn}")


class Migration(migrations.Migration):
    """billing_top_up (raise a request's hold before a dearer failover) and billing_headroom (what an
    organization could still hold), from billing/sql/holds.sql."""

    dependencies = [("billing", "0004_reserve_refuses_charged_ids")]
    operations = [migrations.RunPython(_functions.runner(SQL), drop)]
