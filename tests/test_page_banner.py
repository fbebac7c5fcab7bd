"""The simulator banner on every page is worked out once, not with a database query per page."""

import os

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from aipower.context_processors import forget_banner
from routing.models import Provider


@pytest.fixture
def catalog_db(live_db, db):
    """The seed catalog, in a transaction rolled back after the test; the banner worked out anew."""
    forget_banner()
    yield
    forget_banner()


def _provider_queries(web, path="/") -> int:
    with CaptureQueriesContext(connection) as queries:
        assert web.get(path).status_code == 200
    return sum('"routing_provider"' in q["sql"] and "credential_env" in q["sql"] for q in queries)


def test_it_does_not_query_the_providers_on_every_page(catalog_db, settings):
    settings.AIPOWER_SIMULATE_PROVIDERS = "auto"
    web = Client()
    _provider_queries(web, "/accounts/login/")
    # Pages that show no catalog (the product pages read it: prices change in admin at once).
    assert _provider_queries(web, "/accounts/login/") == 0
    assert _provider_queries(web, "/accounts/signup/") == 0


def test_it_notices_a_provider_key_at_once_after_an_edit(catalog_db, settings, monkeypatch):
    settings.AIPOWER_SIMULATE_PROVIDERS = "auto"
    web = Client()
    assert "served by the local provider simulator" in web.get("/").content.decode()
    provider = Provider.objects.get(slug="deepseek")
    monkeypatch.setenv("AIPOWER_TEST_ONLY_KEY", "sk-real")
    provider.credential_env = "AIPOWER_TEST_ONLY_KEY"
    provider.save()
    assert os.environ["AIPOWER_TEST_ONLY_KEY"]
    assert "served by the local provider simulator" not in web.get("/").content.decode()
