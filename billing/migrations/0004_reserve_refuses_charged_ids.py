from django.db import migrations

from billing.migrations import _functions


class Migration(migrations.Migration):
    """billing_reserve refuses a request id that was charged already (billing/sql/reservations.sql)."""

    dependencies = [("billing", "0003_db_defaults")]
    operations = [migrations.RunPython(_functions.create, _functions.noop)]
