"""/dashboard/analytics: every member (viewers included) sees their organization's usage, read from
rollups and raw rows alike with the same totals; savings against a baseline; the request log,
a request's detail and CSV exports; nothing of another organization (its ids answer 404)."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.keys import apikey_create
from analytics.models import UsageRecord
from analytics.rollups import hour_floor, rollup_due
from routing.costs import usd_text
from tests.analytics.conftest import random_rows, usage_row

pytestmark = pytest.mark.django_db

URL = "/dashboard/analytics"


@pytest.fixture
def data(org, other_org, rng):
    """Usage of `org` over the last three days (two keys), and some of `other_org`."""
    key_a = apikey_create(organization=org.organization, name="backend")[0]
    key_b = apikey_create(organization=org.organization, name="batch")[0]
    theirs = apikey_create(organization=other_org.organization, name="theirs")[0]
    now = timezone.now()
    start = hour_floor(now) - timedelta(hours=70)
    mine = random_rows(rng, org.organization.pk, [key_a.pk, key_b.pk], start, 71, 600)
    other = random_rows(rng, other_org.organization.pk, [theirs.pk], start, 71, 50)
    UsageRecord.objects.bulk_create(mine + other)
    return {"rows": mine, "other": other, "key_a": key_a, "key_b": key_b, "theirs": theirs}


def body(resp) -> str:
    """A streamed (async) response's text."""
    from asgiref.sync import async_to_sync

    async def read():
        return b"".join([chunk async for chunk in resp.streaming_content])

    return async_to_sync(read)().decode()


def sums(rows):
    return {
        "requests": len(rows),
        "charged_nusd": sum(r.charged_nusd for r in rows),
        "prompt_tokens": sum(r.prompt_tokens for r in rows),
        "cached_tokens": sum(r.cached_tokens for r in rows),
        "cache_write_tokens": sum(r.cache_write_tokens for r in rows),
        "cache_write_1h_tokens": sum(r.cache_write_1h_tokens for r in rows),
        "errors": sum(r.status != "ok" for r in rows),
        "fallbacks": sum(r.attempts > 1 for r in rows),
    }


def totals_of(resp):
    t = resp.context["totals"]
    return {
        k: t[k]
        for k in (
            "requests",
            "charged_nusd",
            "prompt_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "errors",
            "fallbacks",
        )
    }


def test_a_viewer_sees_the_totals_of_their_organization_raw_and_rolled_up_alike(org, data):
    client = org.client_for(org.viewer)
    resp = client.get(URL, {"range": "7d"})
    assert resp.status_code == 200
    assert totals_of(resp) == sums(data["rows"])
    assert not any(r.request_id in resp.text for r in data["other"])
    chart = resp.context["chart"]
    assert sum(sum(v) for v in chart["spend"].values()) == sums(data["rows"])["charged_nusd"]
    assert sum(chart["requests"]) == len(data["rows"])

    rollup_due()  # now the closed hours and days come from rollups, the current hour raw
    late = usage_row(org.organization.pk, timezone.now(), api_key_id=data["key_a"].pk, charged_nusd=123_456)
    UsageRecord.objects.bulk_create([late])
    for range_ in ("7d", "30d", "24h"):
        resp = client.get(URL, {"range": range_})
        since = resp.context["rng"].start
        expected = sums([r for r in data["rows"] + [late] if r.created_at >= since])
        assert totals_of(resp) == expected, range_
        assert sum(sum(v) for v in resp.context["chart"]["spend"].values()) == expected["charged_nusd"]


def test_it_filters_by_key_route_model_and_status(org, data):
    client = org.client_for(org.member)
    key_b = data["key_b"].pk
    resp = client.get(URL, {"range": "7d", "key": key_b, "status": "ok"})
    assert totals_of(resp) == sums([r for r in data["rows"] if r.api_key_id == key_b and r.status == "ok"])
    resp = client.get(URL, {"range": "7d", "route": "(pinned)", "model": "deepseek/deepseek-chat"})
    assert totals_of(resp) == sums([r for r in data["rows"] if r.route == ""])
    by_key = {r["group"]: r["requests"] for r in resp.context["tables_list"][2][2]}
    assert sum(by_key.values()) == sum(1 for r in data["rows"] if r.route == "")


def test_another_organizations_ids_answer_404(org, other_org, data):
    client = org.client_for(org.owner)
    theirs = data["theirs"].pk
    for path in (URL, URL + "/requests", URL + "/export.csv"):
        assert client.get(path, {"key": theirs}).status_code == 404, path
    assert client.get(f"{URL}/requests/{data['other'][0].request_id}").status_code == 404
    assert client.get(f"{URL}/requests/{data['rows'][0].request_id}").status_code == 200
    # ... and the other organization's own members see theirs, not ours.
    resp = other_org.client_for(other_org.viewer).get(URL, {"range": "7d"})
    assert totals_of(resp) == sums(data["other"])


def test_it_refuses_a_bad_query_with_a_form_error(org, data):
    client = org.client_for(org.owner)
    resp = client.get(URL, {"range": "custom", "start": "2026-05-01"})
    assert resp.status_code == 400 and "needs both a start and an end" in resp.text
    resp = client.get(URL, {"range": "custom", "start": "2026-05-02", "end": "2026-05-01"})
    assert resp.status_code == 400 and "before the start" in resp.text
    assert client.get(URL, {"range": "forever"}).status_code == 400
    assert client.get(URL, {"key": "abc"}).status_code == 400
    resp = client.get(URL, {"baseline": "nobody/no-model"})
    assert resp.status_code == 400 and "no-model" in resp.text
    assert client.get(URL + "/export.csv", {"table": "secrets"}).status_code == 400


def test_a_custom_range_covers_whole_days(org, data):
    today = timezone.now().date()
    resp = org.client_for(org.owner).get(
        URL, {"range": "custom", "start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}
    )
    assert resp.status_code == 200
    day0 = resp.context["rng"].start
    assert totals_of(resp) == sums([r for r in data["rows"] if r.created_at >= day0])


def test_savings_against_the_baseline_match_a_hand_computed_example(org):
    key = apikey_create(organization=org.organization, name="k")[0]
    at = hour_floor(timezone.now()) - timedelta(hours=2)
    UsageRecord.objects.bulk_create(
        [
            usage_row(
                org.organization.pk,
                at,
                api_key_id=key.pk,
                route="auto-cheap",
                served_model="bytedance/doubao-pro-256k",
                prompt_tokens=600_000,
                cached_tokens=200_000,
                cache_write_tokens=0,
                completion_tokens=40_000,
                charged_nusd=300_000_000,
            ),
            usage_row(
                org.organization.pk,
                at,
                api_key_id=key.pk,
                route="auto-cheap",
                served_model="qwen/qwen-turbo",
                prompt_tokens=400_000,
                cached_tokens=0,
                cache_write_tokens=100_000,
                cache_write_1h_tokens=40_000,
                completion_tokens=60_000,
                charged_nusd=200_000_000,
            ),
        ]
    )
    # Claude Opus 4.6: $5 in, $0.50 cached, $6.25 cache write (5 minutes), $10 (1 hour), $25 out per
    # 1M tokens; 15% markup. 700k plain x $5 + 200k cached x $0.50 + 60k written for 5 minutes x
    # $6.25 + 40k for an hour x $10 + 100k out x $25 = $6.875; x 1.15 = $7.90625
    for rolled_up in (False, True):
        if rolled_up:
            rollup_due()
        resp = org.client_for(org.viewer).get(URL, {"range": "24h"})  # default baseline: auto-best's first model
        assert resp.context["baseline"].public_id == "anthropic/claude-opus-4.6"
        [row] = resp.context["savings"]
        assert "100000 cache writes (40000 for one hour)" in resp.text
        assert row["baseline_nusd"] == 7_906_250_000
        assert row["charged_nusd"] == 500_000_000
        assert row["saved_nusd"] == 7_406_250_000
        assert str(row["saved_pct"]) == "93.7"
        assert "93.7%" in resp.text

    # A pinned baseline: openai/gpt-4.1-mini or any other model the user picks.
    resp = org.client_for(org.viewer).get(URL, {"range": "24h", "baseline": "bytedance/doubao-pro-256k"})
    assert resp.context["baseline"].public_id == "bytedance/doubao-pro-256k"


def test_the_request_log_pages_newest_first_without_gaps_or_repeats(org, data):
    client = org.client_for(org.viewer)
    seen, url, params = [], URL + "/requests", {"range": "7d"}
    while True:
        resp = client.get(url, params)
        assert resp.status_code == 200
        seen += [r.request_id for r in resp.context["rows"]]
        if not resp.context["next_url"]:
            break
        url, params = resp.context["next_url"], None
    expected = sorted(data["rows"], key=lambda r: r.created_at, reverse=True)
    assert len(seen) == len(set(seen)) == len(expected)
    got = {r.request_id: r.created_at for r in UsageRecord.objects.filter(request_id__in=seen)}
    times = [got[i] for i in seen]
    assert times == sorted(times, reverse=True)


def test_a_request_detail_shows_attempts_tokens_prices_and_cost(org):
    row = usage_row(
        org.organization.pk,
        timezone.now(),
        request_id="req_detail0001",
        attempts=2,
        charged_nusd=1_234_567,
        attempt_log=[
            {
                "model": "deepseek/deepseek-chat",
                "provider": "deepseek",
                "status": "error",
                "error": "status_503",
                "ms": 12,
            },
            {"model": "qwen/qwen-plus", "provider": "qwen", "status": "ok", "ms": 340},
        ],
        prompt_tokens=1000,
        cached_tokens=300,
        completion_tokens=50,
        ttft_ms=210,
        input_price_usd_micro_per_mtok=270_000,
        output_price_usd_micro_per_mtok=1_100_000,
    )
    UsageRecord.objects.bulk_create([row])
    resp = org.client_for(org.viewer).get(f"{URL}/requests/req_detail0001")
    assert resp.status_code == 200
    text = resp.text
    for expected in (
        "req_detail0001",
        "deepseek/deepseek-chat",
        "status_503",
        "qwen/qwen-plus",
        "340 ms",
        "210 ms",
        "$0.001234567",
        "$0.27",
        "$1.10",
        "300 cached",
    ):
        assert expected in text, expected


def test_csv_exports_hold_the_tables_and_the_request_log(org, data):
    client = org.client_for(org.viewer)
    resp = client.get(URL + "/export.csv", {"range": "7d", "table": "route"})
    assert resp.status_code == 200 and resp["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(body(resp))))
    routes = {r.route or "(pinned)" for r in data["rows"]}
    assert {t["route"] for t in table} == routes
    for t in table:
        mine = [r for r in data["rows"] if (r.route or "(pinned)") == t["route"]]
        assert int(t["requests"]) == len(mine)
        assert t["charged_usd"] == usd_text(sum(r.charged_nusd for r in mine))

    resp = client.get(URL + "/export.csv", {"range": "7d", "table": "requests", "key": data["key_a"].pk})
    log = list(csv.DictReader(io.StringIO(body(resp))))
    mine = {r.request_id: r for r in data["rows"] if r.api_key_id == data["key_a"].pk}
    assert {line["request_id"] for line in log} == set(mine)
    for line in log[:50]:
        r = mine[line["request_id"]]
        assert line["charged_usd"] == usd_text(r.charged_nusd)
        assert int(line["cache_write_tokens"]) == r.cache_write_tokens
        assert line["api_key"].startswith("backend")


def test_signed_out_visitors_are_sent_to_sign_in():
    from django.test import Client

    resp = Client().get(URL)
    assert resp.status_code == 302 and "/accounts/login/" in resp["location"]


def test_a_request_detail_shows_the_routing_reason_when_the_row_has_one():
    from types import SimpleNamespace

    from analytics.views import routing_facts

    row = SimpleNamespace(routing_reason="cheapest capable for ~1k tokens", difficulty="easy", routing_tier=None)
    assert routing_facts(row) == [("Reason", "cheapest capable for ~1k tokens"), ("Difficulty", "easy")]
    assert routing_facts(SimpleNamespace()) == []
