"""Fixtures shared by the whole suite.

Tests that talk to the gateway run it as a real server (uvicorn, its own process) against the
test database, with the provider simulator as its upstream. Those tests commit their data, so
each builds its own organizations (two per test: `tenant` and `other_tenant`) rather than relying
on a rollback; the catalog is loaded once per session.
"""

import time
import uuid
from dataclasses import dataclass

import openai
import pytest
from django.db import connection

from tests.servers import database_url, start_gateway, start_simulator


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


@pytest.fixture(scope="session")
def gateway(test_database_url, simulator):
    server = start_gateway(database_url=test_database_url, simulator_url=simulator.url)
    yield server
    server.stop()


@dataclass
class Tenant:
    organization: object
    key: str
    key_id: int


def make_tenant(blocker, name: str | None = None) -> Tenant:
    from accounts.keys import apikey_create, organization_get_or_create

    with blocker.unblock():
        org = organization_get_or_create(name=name or f"org-{uuid.uuid4().hex[:10]}")
        key, raw = apikey_create(organization=org, name="test")
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
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0,
                                  timeout=30) as c:
        yield c


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
