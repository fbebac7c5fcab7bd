"""Fixtures shared by the whole suite.

Tests that talk to the gateway run it as a real server (uvicorn, its own process) against the
test database, with the provider simulator as its upstream. Those tests commit their data, so
each builds its own organizations (two per test: `tenant` and `other_tenant`) rather than relying
on a rollback; the catalog is loaded once per session.
"""

import itertools
import time
import uuid
from dataclasses import dataclass

import openai
import pytest
from django.db import connection

from tests.servers import database_url, start_gateway, start_simulator


def pytest_collection_modifyitems(config, items):
    """On SQLite (scripts/test.sh's `twins` pass) the tests that need a database server are left out."""
    from tests.twins import on_postgresql

    if on_postgresql():
        return
    server_only = [item for item in items if item.get_closest_marker("needs_postgresql")]
    if server_only:
        config.hook.pytest_deselected(items=server_only)
        items[:] = [item for item in items if not item.get_closest_marker("needs_postgresql")]


@pytest.fixture(autouse=True)
def _tests_see_every_organization():
    """Test code sets up and checks any organization's rows, outside tenant scopes. The product
    code it calls is not exempt: every request through Django's test client starts outside any
    scope again (accounts.scoping.ScopeMiddleware), and the servers the tests start are other
    processes. tests/accounts/test_scoping.py tests the scoping itself."""
    from django_scopes import scopes_disabled

    with scopes_disabled():
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """The test database, created whether or not any test carries a django_db mark (tests that
    drive real servers commit their data instead of running inside a rolled-back transaction)."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"}, serialized_aliases=set())
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def live_db(django_db_setup, django_db_blocker):
    """The test database, open for committed writes (for fixtures that real servers read)."""
    from routing.services import catalog_load_seed

    with django_db_blocker.unblock():
        catalog_load_seed()
    yield django_db_blocker


@pytest.fixture(scope="session")
def simulator():
    server = start_simulator()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def test_database_url(live_db):
    return database_url(connection.settings_dict)


# The shared gateway's breakers never open, so that one test's injected faults cannot change
# which upstream serves the next test; breaker tests start gateways of their own. Likewise
# auto-fast keeps its static order there (no model is ever measured enough, none is probed), so
# that one test's slow upstream does not move the next test's; tests/routing/test_fast_route.py
# starts its own.
NO_BREAKERS = {
    "AIPOWER_BREAKER_CONSECUTIVE_FAILURES": 1_000_000,
    "AIPOWER_BREAKER_FAILURE_RATIO": 2,
    "AIPOWER_RETRY_BUDGET_RESERVE": 1_000_000,
    "AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT": 2,
    "AIPOWER_TTFT_MIN_SAMPLES": 10**9,
    "AIPOWER_TTFT_PROBE_SECONDS": 10**9,
}


@pytest.fixture(scope="session")
def gateway(test_database_url, simulator):
    server = start_gateway(database_url=test_database_url, simulator_url=simulator.url, **NO_BREAKERS)
    yield server
    server.stop()


_redis_dbs = itertools.cycle(range(1, 16))


@pytest.fixture
def own_gateways(test_database_url, simulator):
    """start(**env) -> a gateway of this test's own. Gateways started by one test share a Redis
    database no other test uses (so breaker state is theirs); without Redis (or with
    REDIS_URL="" in env), each is alone."""
    import os

    started = []
    redis_url = ""

    def start(**env):
        nonlocal redis_url
        base = os.environ.get("REDIS_URL", "")
        if env.get("REDIS_URL") == "":
            base = ""
        if base and not redis_url:
            import redis

            redis_url = base.rsplit("/", 1)[0] + f"/{next(_redis_dbs)}"
            redis.Redis.from_url(redis_url).flushdb()
        env.setdefault("REDIS_URL", redis_url)
        server = start_gateway(database_url=test_database_url, simulator_url=simulator.url, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@dataclass
class Tenant:
    organization: object
    key: str
    key_id: int


TEST_CREDIT_NUSD = 1_000 * 10**9  # $1,000: enough that no test runs out unless it means to


def make_tenant(blocker, name: str | None = None, credit_nusd: int = TEST_CREDIT_NUSD) -> Tenant:
    from accounts.keys import apikey_create, organization_get_or_create
    from billing.services import ledger_post

    with blocker.unblock():
        org = organization_get_or_create(name=name or f"org-{uuid.uuid4().hex[:10]}")
        key, raw = apikey_create(organization=org, name="test")
        if credit_nusd:
            ledger_post(
                organization_id=org.pk,
                kind="grant",
                amount_nusd=credit_nusd,
                note="test credit",
                grant_key=f"test:{org.pk}",
            )
    return Tenant(organization=org, key=raw, key_id=key.pk)


@pytest.fixture
def tenant(live_db):
    return make_tenant(live_db)


@pytest.fixture
def other_tenant(live_db):
    return make_tenant(live_db)


@pytest.fixture
def client(gateway, tenant):
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0, timeout=30) as c:
        yield c


@pytest.fixture
async def aclient(gateway, tenant):
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0, timeout=30) as c:
        yield c


@pytest.fixture
def artifacts():
    """Where tests leave screenshots and logs for people to look at ($AIPOWER_TEST_ARTIFACTS)."""
    import os
    from pathlib import Path

    path = Path(os.environ.get("AIPOWER_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def sim(simulator):
    """The simulator's control API: stats and injected faults (cleared after the test)."""
    import httpx

    class Sim:
        url = simulator.url

        def stats(self) -> dict:
            return httpx.get(self.url + "/_sim/stats").json()

        def hits(self, provider: str) -> int:
            return self.stats()["providers"].get(provider, 0)

        def fault(self, target: str, spec: str, count: int | None = None) -> None:
            httpx.post(
                self.url + "/_sim/faults", json={"target": target, "fault": spec, "count": count}
            ).raise_for_status()

        def clear(self) -> None:
            httpx.delete(self.url + "/_sim/faults").raise_for_status()

    s = Sim()
    yield s
    s.clear()


@pytest.fixture
def usage(live_db):
    """usage(request_id) -> the request's usage rows, waiting briefly for the batched write."""
    from analytics.models import UsageRecord

    def rows(request_id: str, *, expect: int = 1, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while True:
            with live_db.unblock():
                found = list(UsageRecord.objects.filter(request_id=request_id))
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    return rows
