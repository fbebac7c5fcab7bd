"""The reservation functions (billing/sql/reservations.sql), on PostgreSQL only: SQLite, the
embedded default, runs the same logic in Python (billing/reservations_orm.py)."""

from django.db import migrations

from billing.migrations import _functions


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(_functions.create, _functions.drop)]
