"""The reservation functions (billing/sql/reservations.sql), on PostgreSQL only: SQLite, the
embedded default, runs the same logic in Python (billing/reservations_orm.py)."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql" / "reservations.sql"


def create_functions(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(SQL.read_text())  # no parameters: "%ROWTYPE" is not a placeholder


def drop_functions(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for fn in ("billing_reserve(bigint, bigint, text, bigint, double precision)",
                   "billing_settle(text, bigint)", "billing_sweep(integer)"):
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {fn}")


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(create_functions, drop_functions)]
