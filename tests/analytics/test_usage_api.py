"""GET /api/usage/ and /api/usage/requests/: the dashboard's numbers for a range, grouped by day,
hour, route, model, key or provider, and the request log, through a management token or a
session; only the caller's organization."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.keys import apikey_create
from accounts.tokens import management_token_create
from analytics.models import UsageRecord
from analytics.rollups import hour_floor, rollup_due
from routing.costs import usd_text
from tests.analytics.conftest import random_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(org, other_org, rng):
    keys = [apikey_create(organization=org.organization, name=n)[0].pk for n in ("a", "b")]
    theirs = apikey_create(organization=other_org.organization, name="theirs")[0].pk
    start = hour_floor(timezone.now()) - timedelta(hours=50)
    mine = random_rows(rng, org.organization.pk, keys, start, 51, 400)
    UsageRecord.objects.bulk_create(mine + random_rows(rng, other_org.organization.pk, [theirs], start, 51, 40))
    rollup_due()
    return {"rows": mine, "theirs": theirs, "keys": keys}


@pytest.fixture
def api(org):
    _, raw = management_token_create(membership=org.membership(org.viewer), name="reporting")
    return Client(headers={"authorization": f"Token {raw}"})


def test_it_reports_the_dashboards_totals_and_groups_that_add_up(org, api, data):
    resp = api.get("/api/usage/", {"range": "7d"})
    assert resp.status_code == 200, resp.content
    totals = resp.json()["totals"]
    rows = data["rows"]
    assert totals["requests"] == len(rows)
    assert totals["charged_nusd"] == sum(r.charged_nusd for r in rows)
    assert totals["charged_usd"] == usd_text(totals["charged_nusd"])
    assert totals["cache_write_tokens"] == sum(r.cache_write_tokens for r in rows)
    page = org.client_for(org.viewer).get("/dashboard/analytics", {"range": "7d"})
    assert {k: page.context["totals"][k] for k in totals if k in page.context["totals"]} == {
        k: v for k, v in totals.items() if k in page.context["totals"]
    }

    for group_by in ("day", "hour", "route", "model", "key", "provider"):
        groups = api.get("/api/usage/", {"range": "7d", "group_by": group_by}).json()["groups"]
        assert sum(g["requests"] for g in groups) == len(rows), group_by
        assert sum(g["charged_nusd"] for g in groups) == totals["charged_nusd"], group_by
    by_key = {
        g["group"]: g["requests"] for g in api.get("/api/usage/", {"range": "7d", "group_by": "key"}).json()["groups"]
    }
    assert by_key == {k: sum(1 for r in rows if r.api_key_id == k) for k in data["keys"]}
    hours = api.get("/api/usage/", {"range": "7d", "group_by": "hour"}).json()["groups"]
    assert len(hours) == len({hour_floor(r.created_at) for r in rows})


def test_it_pages_the_request_log(api, data):
    seen, after = [], None
    while True:
        params = {"range": "7d", "limit": 150} | ({"after": after} if after else {})
        body = api.get("/api/usage/requests/", params).json()
        seen += body["data"]
        after = body["next"]
        if not after:
            break
    assert [r["request_id"] for r in seen] == [
        r.request_id for r in sorted(data["rows"], key=lambda r: (r.created_at, r.pk), reverse=True)
    ]
    assert seen[0]["charged_usd"] == usd_text(seen[0]["charged_nusd"])


def test_another_organizations_key_answers_404_and_bad_queries_400(api, data):
    assert api.get("/api/usage/", {"key": data["theirs"]}).status_code == 404
    assert api.get("/api/usage/requests/", {"key": data["theirs"]}).status_code == 404
    resp = api.get("/api/usage/", {"group_by": "week"})
    assert resp.status_code == 400 and "group_by" in resp.json()
    assert api.get("/api/usage/", {"range": "custom"}).status_code == 400
    assert api.get("/api/usage/requests/", {"limit": 5000}).status_code == 400
    assert Client().get("/api/usage/").status_code in (401, 403)


def test_the_schema_documents_the_usage_endpoints(api):
    schema = api.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    assert {"/api/usage/", "/api/usage/requests/"} <= set(schema["paths"])
    params = {p["name"] for p in schema["paths"]["/api/usage/"]["get"]["parameters"]}
    assert {"range", "group_by", "key", "route", "model", "provider", "status"} <= params
