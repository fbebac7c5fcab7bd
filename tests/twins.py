"""The halves of the twin implementations that the database and Redis of this test run have.

Some rules have two implementations that must agree: the credit reservations and holds (PL/pgSQL
functions on PostgreSQL, their ORM twin on SQLite), and the breakers and rate limits (Redis Lua
scripts, their in-process twin without Redis). Their tests are marked `twins` and run once per
half. scripts/test.sh runs the suite on PostgreSQL and Redis (every half), then the `twins` tests
again on the embedded default, SQLite without Redis (the Python halves, as `make run` uses them).
"""

from django.conf import settings


def on_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def reservation_halves() -> list[str]:
    return ["plpgsql", "orm"] if on_postgresql() else ["orm"]


def redis_halves() -> list[str]:
    """On the embedded default there is no Redis half; elsewhere it is skipped without REDIS_URL."""
    return ["redis", "in_process"] if on_postgresql() else ["in_process"]
