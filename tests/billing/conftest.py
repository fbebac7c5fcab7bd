"""Billing fixtures. The reservation functions run on their own connections (async psycopg), so
these tests commit their data: each builds its own organizations (`tenant`, `other_tenant`)."""

import pytest

from tests.twins import reservation_halves


@pytest.fixture
def db_open(live_db, monkeypatch):
    """The test database open to this test and every thread it starts (committed writes). Async
    tests check the database with the sync ORM between awaits, which Django allows only so."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with live_db.unblock():
        yield


@pytest.fixture(params=reservation_halves())
def reservation_functions(request, monkeypatch):
    """Each reservation and hold test runs against both implementations of the same rules: the
    PL/pgSQL functions (billing/sql/reservations.sql and holds.sql, production) and their Python
    twin (billing/reservations_orm.py and holds_orm.py), here through the ORM on the same PostgreSQL
    and, in scripts/test.sh's second pass, on SQLite (the embedded default; tests/twins.py). Tests
    that need a database server (not a file) are marked `needs_postgresql`."""
    from billing import holds, reservations

    if request.param == "orm":
        monkeypatch.setattr(reservations, "_use_functions", lambda: False)
        monkeypatch.setattr(holds, "_use_functions", lambda: False)
    used = {"plpgsql": 0, "orm": 0}

    def counting(name, fn):
        async def call(*args, **kwargs):
            used[name] += 1
            return await fn(*args, **kwargs)

        return call

    monkeypatch.setattr(reservations, "_call_retrying", counting("plpgsql", reservations._call_retrying))
    monkeypatch.setattr(reservations, "_reserve_orm", counting("orm", reservations._reserve_orm))
    monkeypatch.setattr(reservations, "_settle_orm", counting("orm", reservations._settle_orm))
    monkeypatch.setattr(holds, "_call_retrying", counting("plpgsql", holds._call_retrying))
    monkeypatch.setattr(holds, "_top_up_orm", counting("orm", holds._top_up_orm))
    monkeypatch.setattr(holds, "_headroom_orm", counting("orm", holds._headroom_orm))
    yield request.param
    other = "orm" if request.param == "plpgsql" else "plpgsql"
    assert used[other] == 0, f"the {other} implementation ran in a {request.param} test"


@pytest.fixture
async def pools():
    """Closes this test's event loop's billing connections when it ends."""
    from billing.reservations import close_pool

    yield
    await close_pool()


def fund(organization_id: int, amount_nusd: int):
    from billing.models import LedgerEntry
    from billing.services import ledger_post

    return ledger_post(
        organization_id=organization_id, kind=LedgerEntry.Kind.ADJUSTMENT, amount_nusd=amount_nusd, note="test funds"
    )


def state(organization_id: int) -> dict:
    """The account, the ledger's sum and the open reservations of an organization (from any
    thread: outside tenant scopes, like every test's own reads)."""
    from django_scopes import scopes_disabled

    with scopes_disabled():
        return _state(organization_id)


def _state(organization_id: int) -> dict:
    from billing.models import CreditAccount, Reservation
    from billing.selectors import ledger_sum

    account = CreditAccount.objects.get(organization_id=organization_id)
    return {
        "balance": account.balance_nusd,
        "reserved": account.reserved_nusd,
        "ledger": ledger_sum(organization_id),
        "open": Reservation.objects.filter(organization_id=organization_id, expired=False).count(),
        "rows": Reservation.objects.filter(organization_id=organization_id).count(),
    }


@pytest.fixture(scope="session", autouse=True)
def _billing_connections_closed(django_db_setup, django_db_blocker):
    """At the end of the session, closes the connections these tests left in worker threads
    (sync_to_async's executor) and event loops, so that the test database can be dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(scope="session")
def fake_stripe():
    from tests.billing.fake_stripe import FakeStripe

    server = FakeStripe()
    yield server
    server.stop()


@pytest.fixture
def stripe_on(settings, fake_stripe):
    """Stripe configured, talking to the fake server."""
    from tests.billing import fake_stripe as fs

    settings.STRIPE_SECRET_KEY = fs.SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = fs.WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake_stripe.url
    return fake_stripe


@pytest.fixture(autouse=True)
def celery_eager():
    """Tasks run in the test's process (the metering test starts a real worker instead)."""
    from aipower.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Billing tests start from an empty balance and fund what they need (the suite-wide tenants come
# with credit for the gateway's tests).
@pytest.fixture
def tenant(live_db):
    from tests.conftest import make_tenant

    return make_tenant(live_db, credit_nusd=0)


@pytest.fixture
def other_tenant(live_db):
    from tests.conftest import make_tenant

    return make_tenant(live_db, credit_nusd=0)
