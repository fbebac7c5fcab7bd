"""Versioned prices: an admin edit is a version, a change can be scheduled, the gateway bills a
request at the price in force when it started, and the history is public (page and API)."""

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import openai
import pytest
from django.test import Client
from django.utils import timezone

from billing.pricing import NO_LONG_PRICES, cost_of
from routing.catalog import load_snapshot
from routing.models import CatalogModel, PriceVersion, Provider
from routing.prices import price_version_create, price_versions_apply_due
from routing.selectors import price_history


def dollars(micro: int | None) -> str:
    return "" if micro is None else str(Decimal(micro) / 1_000_000)


def probe_model(**prices) -> CatalogModel:
    """A model of the tests' own (the simulator serves any upstream id), with its first version."""
    tag = uuid.uuid4().hex[:8]
    m = CatalogModel.objects.create(
        provider=Provider.objects.get(slug="deepseek"),
        upstream_id=f"price-probe-{tag}",
        public_id=f"deepseek/price-probe-{tag}",
        display_name=f"Price probe {tag}",
        context_window=128_000,
        max_output_tokens=8_192,
        input_price_usd_micro_per_mtok=prices.get("input", 1_000_000),
        output_price_usd_micro_per_mtok=prices.get("output", 2_000_000),
    )
    price_version_create(model=m, prices={}, source=PriceVersion.Source.SEED, created_by="test")
    return m


def test_an_admin_price_edit_is_a_new_version(admin_client, live_db):
    m = CatalogModel.objects.get(public_id="deepseek/deepseek-reasoner")
    form = {
        f: getattr(m, f)
        for f in (
            "upstream_id",
            "public_id",
            "display_name",
            "context_window",
            "max_output_tokens",
            "price_source",
            "typical_output_tokens",
        )
    }
    # The admin form takes dollars per 1M tokens (stored as micro-USD).
    form.update(
        provider=m.provider_id,
        input_price_usd_micro_per_mtok=dollars(m.input_price_usd_micro_per_mtok),
        cached_input_price_usd_micro_per_mtok=dollars(m.cached_input_price_usd_micro_per_mtok),
        quirks="{}",
        enabled="on",
        supports_streaming="on",
        output_price_usd_micro_per_mtok="0.777",
        kind="chat",
    )
    assert admin_client.post(f"/admin/routing/catalogmodel/{m.pk}/change/", form).status_code == 302
    version = PriceVersion.objects.filter(model=m).latest("id")
    assert (version.output_price_usd_micro_per_mtok, version.source, version.created_by, version.applied) == (
        777_000,
        "admin",
        "admin",
        True,
    )
    assert version.input_price_usd_micro_per_mtok == m.input_price_usd_micro_per_mtok
    # An edit that leaves the prices alone records no version.
    form.update(output_price_usd_micro_per_mtok="0.777", display_name="DeepSeek R")
    admin_client.post(f"/admin/routing/catalogmodel/{m.pk}/change/", form)
    assert PriceVersion.objects.filter(model=m).latest("id").pk == version.pk
    page = admin_client.get(f"/admin/routing/catalogmodel/{m.pk}/change/")
    assert b"Price history" in page.content and b"$0.777" in page.content
    assert b'<table class="grid price-history">' in page.content
    assert f"/admin/routing/priceversion/add/?model={m.pk}".encode() in page.content
    form_page = admin_client.get(f"/admin/routing/priceversion/add/?model={m.pk}")
    assert f'<option value="{m.pk}" selected>'.encode() in form_page.content


def test_an_operator_schedules_a_price_and_the_snapshot_switches_at_its_time(admin_client, live_db):
    m = probe_model()
    when = timezone.now() + timedelta(hours=1)
    assert admin_client.get("/admin/routing/priceversion/add/").status_code == 200
    response = admin_client.post(
        "/admin/routing/priceversion/add/",
        {
            "model": m.pk,
            "effective_at_0": when.strftime("%Y-%m-%d"),
            "effective_at_1": when.strftime("%H:%M:%S"),
            "input_price_usd_micro_per_mtok": 3_000_000,
            "output_price_usd_micro_per_mtok": 4_000_000,
            "note": "list price",
        },
    )
    assert response.status_code == 302
    scheduled = PriceVersion.objects.filter(model=m).latest("id")
    assert (scheduled.applied, scheduled.source, scheduled.created_by) == (False, "admin", "admin")
    m.refresh_from_db()
    assert m.input_price_usd_micro_per_mtok == 1_000_000  # not yet
    snap = load_snapshot()
    assert snap.models[m.public_id].input_price_usd_micro_per_mtok == 1_000_000
    assert snap.next_price_change_at == pytest.approx(scheduled.effective_at.timestamp())
    assert [p.state for p in price_history(m)] == ["scheduled", "in force"]

    PriceVersion.objects.filter(pk=scheduled.pk).update(effective_at=timezone.now())
    snap = load_snapshot()  # in force, though not yet copied to the model: the snapshot bills at it
    assert (
        snap.models[m.public_id].input_price_usd_micro_per_mtok,
        snap.models[m.public_id].output_price_usd_micro_per_mtok,
    ) == (3_000_000, 4_000_000)
    assert price_versions_apply_due() >= 1
    m.refresh_from_db()
    assert (m.input_price_usd_micro_per_mtok, m.output_price_usd_micro_per_mtok) == (3_000_000, 4_000_000)
    assert [p.state for p in price_history(m)] == ["in force", "past"]
    # A price cannot be back-dated (the past was billed as it was): an earlier time means now.
    before = timezone.now()
    backdated = price_version_create(
        model=m,
        prices={"input_price_usd_micro_per_mtok": 2_000_000},
        source="admin",
        effective_at=before - timedelta(days=1),
    )
    assert backdated.effective_at >= before and backdated.applied
    assert [(p.state, p.input_price_usd_micro_per_mtok) for p in price_history(m)][:2] == [
        ("in force", 2_000_000),
        ("past", 3_000_000),
    ]
    # Versions are history: not edited or deleted in admin.
    assert admin_client.post(f"/admin/routing/priceversion/{scheduled.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (
        admin_client.post(
            f"/admin/routing/priceversion/{scheduled.pk}/change/", {"input_price_usd_micro_per_mtok": 1}
        ).status_code
        == 403
    )


def test_the_price_history_is_public_on_a_page_and_in_the_api(live_db, db):
    m = probe_model(input=1_250_000, output=10_000_000)
    price_version_create(
        model=m, prices={"input_price_usd_micro_per_mtok": 1_500_000}, source="sync", created_by="test"
    )
    price_version_create(
        model=m,
        prices={"output_price_usd_micro_per_mtok": 12_000_000},
        source="admin",
        effective_at=timezone.now() + timedelta(days=7),
    )
    provider, name = m.public_id.split("/")
    anonymous = Client()
    page = anonymous.get(f"/models/{provider}/{name}/prices")
    assert page.status_code == 200
    text = page.content.decode()
    assert "$1.25" in text and "$1.50" in text and "$12.00" in text and "scheduled" in text and "in force" in text

    api = anonymous.get(f"/api/models/{provider}/{name}/prices/")
    assert api.status_code == 200
    body = api.json()
    assert body["model"] == m.public_id
    assert [
        (p["input_price_usd_micro_per_mtok"], p["output_price_usd_micro_per_mtok"], p["source"], p["state"])
        for p in body["prices"]
    ] == [
        (1_500_000, 12_000_000, "admin", "scheduled"),
        (1_500_000, 10_000_000, "sync", "in force"),
        (1_250_000, 10_000_000, "seed", "past"),
    ]
    assert b"/api/models/{provider}/{model}/prices/" in anonymous.get("/api/schema/").content

    bare = CatalogModel.objects.create(
        provider=m.provider,
        upstream_id=f"{m.upstream_id}-bare",
        public_id=f"{m.public_id}-bare",
        display_name="no versions",
        input_price_usd_micro_per_mtok=9,
        output_price_usd_micro_per_mtok=10,
        context_window=1000,
        max_output_tokens=100,
    )
    [only] = anonymous.get(f"/api/models/{provider}/{name}-bare/prices/").json()["prices"]
    assert (only["effective_at"], only["input_price_usd_micro_per_mtok"], only["state"]) == (None, 9, "in force")
    assert anonymous.get(f"/models/{provider}/{name}-bare/prices").status_code == 200

    CatalogModel.objects.filter(pk__in=[m.pk, bare.pk]).update(enabled=False)
    assert anonymous.get(f"/models/{provider}/{name}/prices").status_code == 404
    assert anonymous.get(f"/api/models/{provider}/{name}/prices/").status_code == 404
    assert anonymous.get("/api/models/nobody/nothing/prices/").status_code == 404


def test_a_request_in_flight_across_a_price_change_is_billed_at_the_price_when_it_started(
    live_db, own_gateways, tenant, usage
):
    with live_db.unblock():
        m = probe_model(input=1_000_000, output=2_000_000)
        change_at = timezone.now() + timedelta(seconds=8)
        price_version_create(
            model=m,
            source="admin",
            created_by="test",
            effective_at=change_at,
            prices={"input_price_usd_micro_per_mtok": 5_000_000, "output_price_usd_micro_per_mtok": 11_000_000},
        )
    # A catalog cache far longer than the test: only the scheduled change can switch the price.
    gw = own_gateways(AIPOWER_CATALOG_CACHE_SECONDS=600)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0, timeout=60) as client:
        assert m.public_id in [x.id for x in client.models.list()]  # the snapshot, with the schedule, is loaded
        remaining = change_at.timestamp() - time.time()
        assert remaining > 1, "the gateway took too long to start for this test's schedule"
        started = time.time()
        raw = client.chat.completions.with_raw_response.create(
            model=m.public_id,
            messages=[{"role": "user", "content": "Count slowly."}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-sim-chunks": "20", "x-sim-stream-ms": str(int((remaining + 1.5) * 1000))},
        )
        slow_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
        finished = time.time()
        assert started < change_at.timestamp() < finished  # in flight across the change
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

        after = client.chat.completions.with_raw_response.create(
            model=m.public_id, messages=[{"role": "user", "content": "Hi"}]
        )
        after_id = after.headers["x-request-id"]

    [slow] = usage(slow_id)
    [late] = usage(after_id)
    assert (slow.input_price_usd_micro_per_mtok, slow.output_price_usd_micro_per_mtok) == (1_000_000, 2_000_000)
    assert (late.input_price_usd_micro_per_mtok, late.output_price_usd_micro_per_mtok) == (5_000_000, 11_000_000)
    for row, (inp, out) in ((slow, (1_000_000, 2_000_000)), (late, (5_000_000, 11_000_000))):
        expected = cost_of(
            prompt_tokens=row.prompt_tokens,
            cached_tokens=row.cached_tokens,
            completion_tokens=row.completion_tokens,
            input_price_usd_micro_per_mtok=inp,
            output_price_usd_micro_per_mtok=out,
            cached_input_price_usd_micro_per_mtok=None,
            markup_bp=row.markup_bp,
        )
        assert (row.upstream_cost_nusd, row.charged_nusd) == (expected.upstream_nusd, expected.charged_nusd)
    with live_db.unblock():
        from billing.models import LedgerEntry

        charged = LedgerEntry.objects.get(request_id=slow_id)
        assert -charged.amount_nusd == slow.charged_nusd
        CatalogModel.objects.filter(pk=m.pk).update(enabled=False)  # out of later tests' way


def test_a_usage_row_is_billed_at_every_price_kind_of_its_model(live_db):
    """Each price kind has one name wherever a price is kept (the catalog model, its versions, the
    snapshot, the usage row), and a usage row keeps the served model's value of every kind."""
    from dataclasses import fields

    from accounts.keys import KeyIdentity
    from analytics.models import UsageRecord
    from routing.adapters import Usage
    from routing.catalog import PRICE_FIELDS, RATE_FIELDS, ModelInfo
    from routing.gateway import Call

    def price_names(names) -> set[str]:
        return {n for n in names if n.endswith(("_price_usd_micro_per_mtok", "_threshold_tokens"))}

    for model in (CatalogModel, PriceVersion):
        assert price_names(f.name for f in model._meta.fields) == set(PRICE_FIELDS), model
    assert price_names(f.name for f in fields(ModelInfo)) == set(PRICE_FIELDS)
    # A usage row keeps the prices of each kind its request was billed at (the long-prompt tier's or not).
    assert price_names(f.name for f in UsageRecord._meta.fields) == set(RATE_FIELDS)

    kinds = {  # a different price for each kind, so that no two can be swapped unnoticed
        "input_price_usd_micro_per_mtok": 1_100_000,
        "cached_input_price_usd_micro_per_mtok": 330_000,
        "cache_write_price_usd_micro_per_mtok": 1_440_000,
        "cache_write_1h_price_usd_micro_per_mtok": 2_310_000,
        "output_price_usd_micro_per_mtok": 2_200_000,
    }
    assert set(kinds) == set(RATE_FIELDS)
    with live_db.unblock():
        m = probe_model()
        price_version_create(model=m, prices=kinds, source="admin", created_by="test")
        served = load_snapshot().models[m.public_id]
        m.refresh_from_db()
        CatalogModel.objects.filter(pk=m.pk).update(enabled=False)  # out of later tests' way

    call = Call(
        request_id="req_billed_prices",
        started=time.perf_counter(),
        key=KeyIdentity(key_id=1, organization_id=1, expires_at=None),
        served=served,
    )
    row = call.usage_row(status="ok", http_status=200, usage=Usage(prompt_tokens=10, completion_tokens=5))
    for kind in RATE_FIELDS:
        assert row[kind] == getattr(m, kind) == getattr(served, kind) == kinds[kind], kind
    UsageRecord(**row)  # the row's fields are the usage record's

    call.served = None  # nothing served (every upstream failed): no price
    row = call.usage_row(status="upstream_error", http_status=502, usage=Usage())
    assert [row[kind] for kind in RATE_FIELDS] == [None] * len(RATE_FIELDS)


def test_the_data_migration_gives_an_existing_catalogs_claude_models_the_one_hour_price(db):
    import importlib

    from django.apps import apps

    from routing.services import catalog_load_seed

    catalog_load_seed()
    migration = importlib.import_module("routing.migrations.0008_cache_write_1h_price")
    claude = ("anthropic/claude-sonnet-4", "anthropic/claude-haiku-4.5", "anthropic/claude-opus-4.6")
    # A catalog from before the price existed; the operator repriced Opus (their 1-hour price is theirs to set).
    CatalogModel.objects.filter(public_id__in=claude).update(cache_write_1h_price_usd_micro_per_mtok=None)
    CatalogModel.objects.filter(public_id="anthropic/claude-opus-4.6").update(input_price_usd_micro_per_mtok=4_000_000)

    migration.seed_1h_prices(apps, None)

    prices = dict(
        CatalogModel.objects.filter(public_id__in=claude).values_list(
            "public_id", "cache_write_1h_price_usd_micro_per_mtok"
        )
    )
    assert prices == {
        "anthropic/claude-sonnet-4": 6_000_000,
        "anthropic/claude-haiku-4.5": 2_000_000,
        "anthropic/claude-opus-4.6": None,
    }
    sonnet = CatalogModel.objects.get(public_id="anthropic/claude-sonnet-4")
    version = PriceVersion.objects.filter(model=sonnet).latest("id")
    assert version.prices() == {
        "input_price_usd_micro_per_mtok": 3_000_000,
        "cached_input_price_usd_micro_per_mtok": 300_000,
        "cache_write_price_usd_micro_per_mtok": 3_750_000,
        "cache_write_1h_price_usd_micro_per_mtok": 6_000_000,
        "output_price_usd_micro_per_mtok": 15_000_000,
        **NO_LONG_PRICES,  # Claude has one price at any prompt length
    }
    assert (version.source, version.applied, version.created_by) == ("seed", True, "migration")
    versions = PriceVersion.objects.count()
    migration.seed_1h_prices(apps, None)  # run again: nothing more
    assert PriceVersion.objects.count() == versions


def test_the_data_migration_gives_an_existing_catalogs_seed_models_their_long_prompt_prices(db):
    import importlib

    from django.apps import apps

    from routing.services import catalog_load_seed

    catalog_load_seed()
    migration = importlib.import_module("routing.migrations.0009_long_prompt_prices")
    tiered = ("openai/gpt-5.4", "google/gemini-2.5-pro")
    # A catalog from before the tier existed; the operator repriced Gemini 2.5 Pro (its tier is theirs to set).
    CatalogModel.objects.filter(public_id__in=tiered).update(**NO_LONG_PRICES)
    CatalogModel.objects.filter(public_id="google/gemini-2.5-pro").update(input_price_usd_micro_per_mtok=1_000_000)

    migration.seed_long_prices(apps, None)

    gpt = CatalogModel.objects.get(public_id="openai/gpt-5.4")
    assert gpt.long_prompt_threshold_tokens == 272_000
    assert (gpt.long_input_price_usd_micro_per_mtok, gpt.long_output_price_usd_micro_per_mtok) == (
        5_000_000,
        22_500_000,
    )
    assert CatalogModel.objects.get(public_id="google/gemini-2.5-pro").long_prompt_threshold_tokens is None
    assert CatalogModel.objects.get(public_id="deepseek/deepseek-chat").long_prompt_threshold_tokens is None
    version = PriceVersion.objects.filter(model=gpt).latest("id")
    assert version.prices() == {
        "input_price_usd_micro_per_mtok": 2_500_000,
        "cached_input_price_usd_micro_per_mtok": 250_000,
        "cache_write_price_usd_micro_per_mtok": None,
        "cache_write_1h_price_usd_micro_per_mtok": None,
        "output_price_usd_micro_per_mtok": 15_000_000,
        "long_prompt_threshold_tokens": 272_000,
        "long_input_price_usd_micro_per_mtok": 5_000_000,
        "long_cached_input_price_usd_micro_per_mtok": 500_000,
        "long_cache_write_price_usd_micro_per_mtok": None,
        "long_output_price_usd_micro_per_mtok": 22_500_000,
    }
    assert (version.source, version.applied, version.created_by) == ("seed", True, "migration")
    versions = PriceVersion.objects.count()
    migration.seed_long_prices(apps, None)  # run again: nothing more
    assert PriceVersion.objects.count() == versions
