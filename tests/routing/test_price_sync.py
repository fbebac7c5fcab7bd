"""Price sync from a local HTTP server serving both public formats: exact conversion, small changes
applied, large ones held for an operator (approved or rejected in admin), pins respected, new
models proposed and never enabled, a failed or malformed source changing nothing, every run logged."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from routing.models import CatalogModel, PriceChange, PriceSyncRun, PriceVersion
from routing.pricesync.formats import (
    PayloadError,
    ValueProblem,
    load_json,
    parse_litellm,
    parse_openrouter,
    usd_per_token_to_micro_per_mtok,
)
from routing.pricesync.sync import run_source
from tests.routing.price_lists import LITELLM_RAW, PriceListServer, openrouter_payload

PRICE_FIELDS = (
    "input_price_usd_micro_per_mtok",
    "cached_input_price_usd_micro_per_mtok",
    "cache_write_price_usd_micro_per_mtok",
    "cache_write_1h_price_usd_micro_per_mtok",
    "output_price_usd_micro_per_mtok",
)


@pytest.fixture(scope="module")
def lists():
    server = PriceListServer()
    yield server
    server.stop()


@pytest.fixture
def catalog(live_db, db, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.AIPOWER_PRICE_SYNC_EMAILS = []
    return lambda public_id: CatalogModel.objects.get(public_id=public_id)


def snapshot_of_catalog() -> dict:
    return {
        m.public_id: (
            tuple(getattr(m, f) for f in PRICE_FIELDS),
            m.context_window,
            m.max_output_tokens,
            m.supports_tools,
            m.supports_vision,
            m.enabled,
        )
        for m in CatalogModel.objects.all()
    }


def test_it_converts_usd_per_token_to_micro_usd_per_million_exactly():
    assert usd_per_token_to_micro_per_mtok("0.000003") == 3_000_000
    assert usd_per_token_to_micro_per_mtok("0.00000015") == 150_000
    assert usd_per_token_to_micro_per_mtok("0") == 0
    # Through a float, 6e-08 USD per token would be 59999.99999999999 (int(): 59_999)
    assert int(6e-08 * 1e12) == 59_999
    assert usd_per_token_to_micro_per_mtok(load_json(b"6e-08")) == 60_000
    assert usd_per_token_to_micro_per_mtok(load_json(b"2.95e-07")) == 295_000
    assert usd_per_token_to_micro_per_mtok(Decimal("1.1e-7")) == 110_000
    assert usd_per_token_to_micro_per_mtok("0.0000000000005") == 0  # below the unit: half to even
    assert usd_per_token_to_micro_per_mtok("0.0000000000015") == 2
    assert usd_per_token_to_micro_per_mtok(" 0.00001 ") == 10_000_000
    assert usd_per_token_to_micro_per_mtok(0) == 0


@pytest.mark.parametrize("bad", ["abc", "-0.000001", "-1", "NaN", "Infinity", "", True, 1.5e-6, None, [1]])
def test_it_rejects_values_that_are_not_non_negative_decimals(bad):
    with pytest.raises(ValueProblem):
        usd_per_token_to_micro_per_mtok(bad)


def test_it_parses_both_documented_formats():
    entries = {e.source_id: e for e in parse_litellm(load_json(LITELLM_RAW.encode()))}
    assert "sample_spec" not in entries
    ds = entries["deepseek-chat"]
    assert (ds.provider, ds.bare_id, ds.mode) == ("deepseek", "deepseek-chat", "chat")
    assert ds.prices == {
        "input_price_usd_micro_per_mtok": 295_000,
        "output_price_usd_micro_per_mtok": 460_000,
        "cached_input_price_usd_micro_per_mtok": 28_000,
    }
    assert ds.limits == {"context_window": 128_000, "max_output_tokens": 8_192}
    assert entries["deepseek/deepseek-chat"].bare_id == "deepseek-chat"
    assert entries["claude-sonnet-4-20250514"].prices["cache_write_price_usd_micro_per_mtok"] == 3_750_000
    assert entries["claude-sonnet-4-20250514"].prices["cache_write_1h_price_usd_micro_per_mtok"] == 6_000_000
    assert "cache_write_1h_price_usd_micro_per_mtok" not in ds.prices  # the source gives none: unknown
    assert entries["claude-sonnet-4-20250514"].capabilities == {
        "supports_tools": True,
        "supports_vision": True,
        "supports_pdf_input": True,
    }

    routed = {e.source_id: e for e in parse_openrouter(json.loads(json.dumps(openrouter_payload())))}
    sonnet = routed["anthropic/claude-sonnet-4"]
    assert (sonnet.provider, sonnet.bare_id) == ("anthropic", "claude-sonnet-4")
    assert sonnet.prices == {
        "input_price_usd_micro_per_mtok": 3_000_000,
        "output_price_usd_micro_per_mtok": 150_000_000,
        "cached_input_price_usd_micro_per_mtok": 300_000,
        "cache_write_price_usd_micro_per_mtok": 3_750_000,
        "cache_write_1h_price_usd_micro_per_mtok": 6_000_000,
    }
    assert sonnet.limits == {"context_window": 200_000, "max_output_tokens": 64_000}
    assert sonnet.capabilities == {
        "supports_tools": True,
        "supports_vision": True,
        "supports_pdf_input": True,
        "supports_audio_input": False,
    }
    assert "not a decimal number" in routed["qwen/qwen-plus"].error
    assert "negative" in routed["openrouter/auto"].error


def test_it_reads_pdf_and_audio_input_where_the_lists_give_them():
    litellm = parse_litellm(
        {
            "gemini/gemini-2.5-flash": {
                "litellm_provider": "gemini",
                "supports_pdf_input": True,
                "supports_audio_input": True,
            },
            "deepseek-chat": {"litellm_provider": "deepseek", "supports_function_calling": True},
        }
    )
    assert litellm[0].capabilities == {"supports_pdf_input": True, "supports_audio_input": True}
    assert litellm[1].capabilities == {"supports_tools": True}  # not given: left as the catalog has it
    payload = openrouter_payload()
    payload["data"][0]["architecture"]["input_modalities"] = ["text", "image", "file", "audio", "video"]
    gemini = parse_openrouter(payload)[0]
    assert (gemini.capabilities["supports_pdf_input"], gemini.capabilities["supports_audio_input"]) == (True, True)


@pytest.mark.parametrize("payload", [[], {"data": "x"}, {"data": [{"name": "no id"}]}, "a string"])
def test_a_payload_of_the_wrong_shape_is_refused_whole(payload):
    with pytest.raises(PayloadError):
        (parse_openrouter if isinstance(payload, dict) else parse_litellm)(payload)


def test_a_litellm_sync_applies_small_changes_holds_large_ones_and_proposes_new_models(lists, catalog, mailoutbox):
    CatalogModel.objects.filter(public_id="qwen/qwen-turbo").update(price_pinned=True)
    before = snapshot_of_catalog()
    url = lists.serve("/litellm.json", LITELLM_RAW.encode())

    run = run_source(fmt="litellm", url=url, trigger="test")

    assert run.ok and run.error == "" and run.entries == 9
    lines = {line["model"]: line for line in PriceSyncRun.objects.get(pk=run.pk).report}
    # Small moves (under 3x) applied, as a new version in force now.
    ds = catalog("deepseek/deepseek-chat")
    assert (
        ds.input_price_usd_micro_per_mtok,
        ds.output_price_usd_micro_per_mtok,
        ds.cached_input_price_usd_micro_per_mtok,
    ) == (295_000, 460_000, 28_000)
    assert lines["deepseek/deepseek-chat"]["status"] == "applied"
    version = PriceVersion.objects.filter(model=ds).latest("id")
    assert (version.source, version.applied, version.input_price_usd_micro_per_mtok) == ("sync", True, 295_000)
    assert "litellm sync" in version.created_by
    # 10x, a crossing of zero and a shrinking limit are held; the catalog keeps its values.
    assert lines["openai/gpt-4o-mini"]["status"] == "held"
    assert "moves more than 3x" in lines["openai/gpt-4o-mini"]["reasons"][0]
    assert catalog("openai/gpt-4o-mini").input_price_usd_micro_per_mtok == 150_000
    assert "crosses zero" in " ".join(lines["zhipu/glm-4-flash"]["reasons"])
    assert catalog("zhipu/glm-4-flash").input_price_usd_micro_per_mtok == 0
    assert lines["anthropic/claude-sonnet-4"]["held"] == {"max_output_tokens": [64_000, 32_000]}
    assert catalog("anthropic/claude-sonnet-4").max_output_tokens == 64_000
    # The pinned model is not touched, though its price differs.
    assert lines["qwen/qwen-turbo"]["status"] == "pinned"
    assert before["qwen/qwen-turbo"] == snapshot_of_catalog()["qwen/qwen-turbo"]
    # Models the source does not list keep everything (nothing is ever deleted).
    assert lines["deepseek/deepseek-reasoner"]["status"] == "not listed"
    after = snapshot_of_catalog()
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"deepseek/deepseek-chat"} and set(after) == set(before)
    # A new chat model of a configured provider is proposed, not added; other vendors and modes are not.
    [proposal] = PriceChange.objects.filter(run=run, kind="new_model")
    assert (proposal.provider.slug, proposal.source_id, proposal.status) == (
        "deepseek",
        "deepseek-v4-preview",
        "proposed",
    )
    assert not CatalogModel.objects.filter(upstream_id="deepseek-v4-preview").exists()
    # The run log and the operators' email.
    assert (run.applied, run.held, run.proposed) == (1, 3, 1)
    assert PriceChange.objects.filter(run=run, status="held").count() == 3
    [mail] = mailoutbox
    assert mail.to == ["ops@example.com"] and "held 3 change(s)" in mail.subject
    assert "openai/gpt-4o-mini" in mail.body and "moves more than 3x" in mail.body

    # The same list again: nothing new to apply, the held changes are not held (or mailed) twice.
    again = run_source(fmt="litellm", url=url)
    assert (again.ok, again.applied, again.held, again.proposed) == (True, 0, 0, 0)
    assert len(mailoutbox) == 1
    assert {line["model"]: line["status"] for line in again.report}["openai/gpt-4o-mini"] == "held earlier"


@pytest.mark.parametrize("fmt", ["litellm", "openrouter"])
def test_a_one_hour_cache_write_price_the_catalog_lacks_is_synced_as_a_new_version(lists, catalog, fmt):
    # A Claude model without a 1-hour price (its 1-hour marks go as 5-minute ones) gets the source's.
    CatalogModel.objects.filter(public_id="anthropic/claude-sonnet-4").update(
        cache_write_1h_price_usd_micro_per_mtok=None
    )
    payload = LITELLM_RAW.encode() if fmt == "litellm" else openrouter_payload()
    run = run_source(fmt=fmt, url=lists.serve(f"/{fmt}-1h.json", payload))

    sonnet = catalog("anthropic/claude-sonnet-4")
    assert sonnet.cache_write_1h_price_usd_micro_per_mtok == 6_000_000
    [line] = [line for line in run.report if line["model"] == "anthropic/claude-sonnet-4"]
    assert line["applied"]["cache_write_1h_price_usd_micro_per_mtok"] == [None, 6_000_000]
    version = PriceVersion.objects.filter(model=sonnet).latest("id")
    assert (version.source, version.applied, version.cache_write_1h_price_usd_micro_per_mtok) == (
        "sync",
        True,
        6_000_000,
    )
    assert version.cache_write_price_usd_micro_per_mtok == 3_750_000  # the other prices kept


def test_an_operator_approves_and_rejects_held_changes_in_admin(lists, catalog, admin_client, mailoutbox):
    url = lists.serve("/litellm.json", LITELLM_RAW.encode())
    run = run_source(fmt="litellm", url=url)
    held = {c.model.public_id: c for c in PriceChange.objects.filter(run=run, status="held")}
    listing = admin_client.get("/admin/routing/pricechange/?status__exact=held")
    assert listing.status_code == 200 and b"gpt-4o-mini" in listing.content
    assert admin_client.get("/admin/routing/pricesyncrun/").status_code == 200
    run_page = admin_client.get(f"/admin/routing/pricesyncrun/{run.pk}/change/")
    assert run_page.status_code == 200 and b"moves more than 3x" in run_page.content

    response = admin_client.post(
        "/admin/routing/pricechange/",
        {
            "action": "approve",
            "_selected_action": [held["openai/gpt-4o-mini"].pk, held["anthropic/claude-sonnet-4"].pk],
        },
    )
    assert response.status_code == 302
    mini = catalog("openai/gpt-4o-mini")
    assert mini.input_price_usd_micro_per_mtok == 1_500_000
    assert catalog("anthropic/claude-sonnet-4").max_output_tokens == 32_000
    version = PriceVersion.objects.filter(model=mini).latest("id")
    assert version.input_price_usd_micro_per_mtok == 1_500_000 and "admin" in version.created_by
    approved = PriceChange.objects.get(pk=held["openai/gpt-4o-mini"].pk)
    assert (approved.status, approved.decided_by) == ("approved", "admin")

    admin_client.post(
        "/admin/routing/pricechange/", {"action": "reject", "_selected_action": [held["zhipu/glm-4-flash"].pk]}
    )
    assert PriceChange.objects.get(pk=held["zhipu/glm-4-flash"].pk).status == "rejected"
    assert catalog("zhipu/glm-4-flash").input_price_usd_micro_per_mtok == 0
    # A decided change cannot be decided again; a rejected one is not held again by the next run.
    admin_client.post(
        "/admin/routing/pricechange/", {"action": "approve", "_selected_action": [held["zhipu/glm-4-flash"].pk]}
    )
    assert catalog("zhipu/glm-4-flash").input_price_usd_micro_per_mtok == 0
    again = run_source(fmt="litellm", url=url)
    assert again.held == 0 and catalog("zhipu/glm-4-flash").input_price_usd_micro_per_mtok == 0
    # Sync rows cannot be edited or deleted in admin.
    assert admin_client.post(f"/admin/routing/pricechange/{approved.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PriceChange.objects.filter(pk=approved.pk).exists()


def test_an_approved_proposal_adds_the_model_disabled(lists, catalog, admin_client):
    run = run_source(fmt="litellm", url=lists.serve("/litellm.json", LITELLM_RAW.encode()))
    proposal = PriceChange.objects.get(run=run, kind="new_model")
    admin_client.post("/admin/routing/pricechange/", {"action": "approve", "_selected_action": [proposal.pk]})
    added = catalog("deepseek/deepseek-v4-preview")
    assert added.enabled is False and added.litellm_id == "deepseek-v4-preview"
    assert (added.input_price_usd_micro_per_mtok, added.output_price_usd_micro_per_mtok) == (400_000, 1_200_000)
    assert (added.context_window, added.max_output_tokens, added.supports_tools) == (256_000, 32_768, True)
    assert PriceVersion.objects.filter(model=added).count() == 1


def test_an_openrouter_sync_follows_each_models_source_id(lists, catalog):
    CatalogModel.objects.filter(public_id="deepseek/deepseek-chat").update(openrouter_id="deepseek/deepseek-chat-v3")
    CatalogModel.objects.filter(public_id="anthropic/claude-sonnet-4").update(openrouter_id="anthropic/claude-sonnet-4")
    CatalogModel.objects.filter(public_id="qwen/qwen-plus").update(openrouter_id="qwen/qwen-plus")
    before = snapshot_of_catalog()

    run = run_source(fmt="openrouter", url=lists.serve("/api/v1/models", openrouter_payload()))

    assert run.ok
    lines = {line["model"]: line for line in run.report}
    ds = catalog("deepseek/deepseek-chat")
    assert (
        ds.input_price_usd_micro_per_mtok,
        ds.output_price_usd_micro_per_mtok,
        ds.cached_input_price_usd_micro_per_mtok,
        ds.context_window,
        ds.max_output_tokens,
    ) == (300_000, 450_000, 30_000, 163_840, 16_384)
    assert lines["anthropic/claude-sonnet-4"]["held"] == {"output_price_usd_micro_per_mtok": [15_000_000, 150_000_000]}
    assert lines["moonshot/kimi-k2"]["status"] == "unchanged"  # found by its seeded OpenRouter id
    assert lines["qwen/qwen-plus"]["status"] == "error" and "not a decimal" in lines["qwen/qwen-plus"]["reasons"][0]
    assert before["qwen/qwen-plus"] == snapshot_of_catalog()["qwen/qwen-plus"]
    assert [c.source_id for c in PriceChange.objects.filter(run=run, kind="new_model")] == ["z-ai/glm-5"]
    assert PriceChange.objects.get(run=run, kind="new_model").provider.slug == "zhipu"


@pytest.mark.parametrize(
    "status, body, why",
    [
        (503, b"upstream down", "answered HTTP 503"),
        (200, b"<html>not json</html>", "not JSON"),
        (200, b'{"data": {"not": "a list"}}', 'expected {"data": [...]}'),
        (200, b'{"data": []}', "lists no models"),
    ],
)
def test_a_failed_or_malformed_source_changes_nothing_and_says_why(lists, catalog, mailoutbox, status, body, why):
    before = snapshot_of_catalog()
    versions = PriceVersion.objects.count()
    run = run_source(fmt="openrouter", url=lists.serve("/broken", body, status=status))
    assert not run.ok and why in run.error
    assert PriceSyncRun.objects.get(pk=run.pk).error == run.error
    assert snapshot_of_catalog() == before and PriceVersion.objects.count() == versions
    assert not PriceChange.objects.filter(run=run).exists() and not mailoutbox


def test_an_unreachable_source_changes_nothing(catalog):
    from tests.servers import free_port

    before = snapshot_of_catalog()
    run = run_source(fmt="litellm", url=f"http://127.0.0.1:{free_port()}/prices.json")
    assert not run.ok and "could not fetch" in run.error and snapshot_of_catalog() == before


def test_the_command_prints_per_model_what_changed_and_why(lists, catalog, capsys):
    url = lists.serve("/litellm.json", LITELLM_RAW.encode())
    before = snapshot_of_catalog()
    call_command("sync_prices", "--format", "litellm", "--url", url, "--dry-run")
    out = capsys.readouterr().out
    assert "dry run: nothing saved" in out
    assert (
        "deepseek/deepseek-chat [deepseek-chat]: applied; applied: input_price_usd_micro_per_mtok 280000 -> 295000"
    ) in out
    assert (
        "openai/gpt-4o-mini [gpt-4o-mini]: held; held: input_price_usd_micro_per_mtok 150000 -> 1500000 "
        "(why: input_price_usd_micro_per_mtok moves more than 3x (150000 -> 1500000))" in out
    )
    assert "anthropic/claude-sonnet-4 [claude-sonnet-4-20250514]: held; held: max_output_tokens 64000 -> 32000" in out
    assert "deepseek/deepseek-v4-preview [deepseek-v4-preview]: proposed (new model)" in out
    assert snapshot_of_catalog() == before
    assert not PriceChange.objects.filter(run__url=url).exists()
    assert PriceSyncRun.objects.filter(url=url, dry_run=True).count() == 1

    call_command("sync_prices", "--format", "litellm", "--url", url)
    assert "2 models changed, 3 held for review, 1 new models proposed" in capsys.readouterr().out
    assert catalog("deepseek/deepseek-chat").input_price_usd_micro_per_mtok == 295_000

    with pytest.raises(CommandError):
        call_command("sync_prices", "--format", "openrouter", "--url", lists.serve("/x", b"nope"))
    assert "FAILED, nothing changed: not JSON" in capsys.readouterr().out


def test_the_command_syncs_every_configured_source_and_the_factor_is_a_setting(
    lists, catalog, settings, capsys, mailoutbox
):
    settings.AIPOWER_PRICE_SYNC_EMAILS = ["prices@example.com"]
    settings.AIPOWER_PRICE_SOURCES = [
        f"litellm={lists.serve('/litellm.json', LITELLM_RAW.encode())}",
        f"openrouter={lists.serve('/api/v1/models', openrouter_payload())}",
    ]
    settings.AIPOWER_PRICE_SYNC_MAX_FACTOR = "20"
    call_command("sync_prices")
    out = capsys.readouterr().out
    assert "litellm http://" in out and "openrouter http://" in out
    assert catalog("openai/gpt-4o-mini").input_price_usd_micro_per_mtok == 1_500_000  # 10x: within 20x
    assert catalog("zhipu/glm-4-flash").input_price_usd_micro_per_mtok == 0  # crossing zero: held whatever the factor
    assert {r.format for r in PriceSyncRun.objects.filter(trigger="command", ok=True)} == {"litellm", "openrouter"}
    assert [m.to for m in mailoutbox] == [["prices@example.com"]] * len(mailoutbox) and mailoutbox


LONG = {  # Gemini 2.5 Pro's long-prompt tier, micro-USD per 1M tokens (above 200K prompt tokens)
    "long_prompt_threshold_tokens": 200_000,
    "long_input_price_usd_micro_per_mtok": 2_500_000,
    "long_cached_input_price_usd_micro_per_mtok": 250_000,
    "long_output_price_usd_micro_per_mtok": 15_000_000,
}
GEMINI_PRO_LITELLM = """{
  "gemini-2.5-pro": {
    "max_input_tokens": 1048576, "max_output_tokens": 65535,
    "input_cost_per_token": 1.25e-06, "input_cost_per_token_above_200k_tokens": 2.5e-06,
    "output_cost_per_token": 1e-05, "output_cost_per_token_above_200k_tokens": 1.5e-05,
    "cache_read_input_token_cost": 1.25e-07, "cache_read_input_token_cost_above_200k_tokens": 2.5e-07,
    "litellm_provider": "gemini", "mode": "chat"
  },
  "qwen-plus-banded": {
    "input_cost_per_token": 4e-07, "input_cost_per_token_above_128k_tokens": 1.2e-06,
    "input_cost_per_token_above_256k_tokens": 2.4e-06, "output_cost_per_token": 1.2e-06,
    "litellm_provider": "dashscope", "mode": "chat"
  }
}"""  # the second has two bands: the catalog keeps one tier, so neither is taken (its normal prices are)
GEMINI_PRO_OPENROUTER = {
    "data": [
        {
            "id": "google/gemini-2.5-pro",
            "context_length": 1048576,
            "pricing": {
                "prompt": "0.00000125",
                "completion": "0.00001",
                "input_cache_read": "0.000000125",
                "overrides": [
                    # prompts of at least 200,001 tokens: more than 200,000
                    {
                        "min_prompt_tokens": 200001,
                        "prompt": "0.0000025",
                        "completion": "0.000015",
                        "input_cache_read": "0.00000025",
                    },
                    {"utc_start": "02:00", "utc_end": "06:00", "prompt": "0.000001"},  # not a prompt-length tier
                ],
            },
        }
    ]
}


def test_it_reads_long_prompt_prices_from_both_formats():
    [pro, banded] = parse_litellm(load_json(GEMINI_PRO_LITELLM.encode()))
    assert pro.error == "" and {k: pro.prices[k] for k in LONG} == LONG
    assert pro.prices["input_price_usd_micro_per_mtok"] == 1_250_000
    assert banded.error == "" and not any(k.startswith("long_") for k in banded.prices)
    assert banded.prices["input_price_usd_micro_per_mtok"] == 400_000
    [entry] = parse_openrouter(load_json(json.dumps(GEMINI_PRO_OPENROUTER).encode()))
    assert entry.error == "" and {k: entry.prices[k] for k in LONG} == LONG
    # A one-hour cache write price is not a prompt-length tier.
    [sonnet] = [e for e in parse_litellm(load_json(LITELLM_RAW.encode())) if e.source_id == "claude-sonnet-4-20250514"]
    assert sonnet.prices["cache_write_1h_price_usd_micro_per_mtok"] == 6_000_000
    assert not any(k.startswith("long_") for k in sonnet.prices)


@pytest.mark.parametrize("fmt", ["litellm", "openrouter"])
def test_a_long_prompt_tier_the_catalog_lacks_is_synced_as_a_new_version(lists, catalog, fmt):
    gone = dict.fromkeys(LONG)
    CatalogModel.objects.filter(public_id="google/gemini-2.5-pro").update(**gone)
    payload = GEMINI_PRO_LITELLM if fmt == "litellm" else json.dumps(GEMINI_PRO_OPENROUTER)
    run = run_source(fmt=fmt, url=lists.serve(f"/{fmt}-long.json", payload.encode()))

    pro = catalog("google/gemini-2.5-pro")
    assert {k: getattr(pro, k) for k in LONG} == LONG
    [line] = [line for line in run.report if line["model"] == "google/gemini-2.5-pro"]
    assert line["applied"]["long_input_price_usd_micro_per_mtok"] == [None, 2_500_000]
    version = PriceVersion.objects.filter(model=pro).latest("id")
    assert (version.source, version.applied) == ("sync", True)
    assert {k: getattr(version, k) for k in LONG} == LONG
    assert version.input_price_usd_micro_per_mtok == 1_250_000  # the other prices kept
