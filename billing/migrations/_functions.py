"""(Re)creates the reservation functions of billing/sql/reservations.sql on PostgreSQL. A migration
that changes that file runs `create` again (CREATE OR REPLACE)."""

from pathlib import Path

SQL = Path(__file__).resolve().parent.parent / "sql" / "reservations.sql"


def runner(path: Path):
    """A RunPython function that runs the SQL file `path` on PostgreSQL (nothing on SQLite)."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(path.read_text())  # no parameters: "%ROWTYPE" is not a placeholder

    return run


create = runner(SQL)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for fn in (
            "billing_reserve(bigint, bigint, text, bigint, double precision)",
            "billing_settle(text, bigint)",
            "billing_sweep(integer)",
        ):
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {fn}")


def noop(apps, schema_editor):
    pass
