from django.db import migrations

from billing.migrations import _functions


class Migration(migrations.Migration):
    """billing_settle never charges more than the request's hold (billing/sql/reservations.sql)."""

    dependencies = [("billing", "0004_reserve_refuses_charged_ids")]
    operations = [migrations.RunPython(_functions.create, _functions.noop)]
