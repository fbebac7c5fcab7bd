"""Every seeded model that OpenRouter lists is matched by an OpenRouter price sync: by the seeded
`openrouter_id` where OpenRouter's id is not <provider>/<upstream id>, by that default otherwise.
The payload is in OpenRouter's format, served over HTTP as the real list is."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps

from routing import seed
from routing.models import CatalogModel
from routing.pricesync.sync import run_source
from tests.routing.price_lists import PriceListServer

# Seeded model -> its id in OpenRouter's model list (openrouter.ai's model pages and API answers).
LISTED = {
    "openai/gpt-5.4": "openai/gpt-5.4",
    "openai/gpt-4o-mini": "openai/gpt-4o-mini",
    "anthropic/claude-sonnet-4": "anthropic/claude-sonnet-4",
    "anthropic/claude-opus-4.6": "anthropic/claude-opus-4.6",
    "anthropic/claude-haiku-4.5": "anthropic/claude-haiku-4.5",
    "google/gemini-2.5-pro": "google/gemini-2.5-pro",
    "google/gemini-2.5-flash": "google/gemini-2.5-flash",
    "deepseek/deepseek-chat": "deepseek/deepseek-v3.2",
    "qwen/qwen-turbo": "qwen/qwen-turbo",
    "qwen/qwen-plus": "qwen/qwen-plus",
    "alibaba/qwen-max": "qwen/qwen-max",
    "moonshot/kimi-k2": "moonshotai/kimi-k2-0905",
    "minimax/minimax-m2": "minimax/minimax-m2",
}
# Listed by OpenRouter and close to a seeded model's id, but other models: never matched to ours.
NEIGHBOURS = [
    "anthropic/claude-opus-4.6-fast",
    "deepseek/deepseek-chat",
    "moonshotai/kimi-k2",
    "qwen/qwen-max-2025-01-25",
    "z-ai/glm-4.7-flash",
]

PRICES = {
    "prompt": "input_price_usd_micro_per_mtok",
    "completion": "output_price_usd_micro_per_mtok",
    "input_cache_read": "cached_input_price_usd_micro_per_mtok",
    "input_cache_write": "cache_write_price_usd_micro_per_mtok",
}


def usd_per_token(micro_per_mtok: int) -> str:
    return str(Decimal(micro_per_mtok) / 10**12)


def entry(ident: str, row: dict) -> dict:
    """An OpenRouter model list entry at the seed's prices and limits."""
    return {
        "id": ident,
        "canonical_slug": ident,
        "name": row["display_name"],
        "context_length": row["context_window"],
        "architecture": {
            "input_modalities": ["text"]
            + ["image"] * row["supports_vision"]
            + ["file"] * row["supports_pdf_input"]
            + ["audio"] * row["supports_audio_input"]
        },
        "pricing": {k: usd_per_token(row[f]) for k, f in PRICES.items() if row[f] is not None},
        "top_provider": {"context_length": row["context_window"], "max_completion_tokens": row["max_output_tokens"]},
        "supported_parameters": ["tools", "tool_choice", "max_tokens"] if row["supports_tools"] else ["max_tokens"],
    }


@pytest.fixture
def server():
    s = PriceListServer()
    yield s
    s.stop()


def test_an_openrouter_sync_matches_every_seeded_model_openrouter_lists(live_db, db, server, settings):
    settings.AIPOWER_PRICE_SYNC_EMAILS = []
    seeded = {row["public_id"]: row for row in seed.MODELS}
    assert set(LISTED) <= set(seeded)
    payload = {"data": [entry(ident, seeded[public]) for public, ident in LISTED.items()]}
    payload["data"] += [entry(ident, seeded["openai/gpt-4o-mini"]) for ident in NEIGHBOURS]

    run = run_source(fmt="openrouter", url=server.serve("/api/v1/models", payload))

    assert run.ok, run.error
    # (Proposals of new models are reported by the name they would get: leave them out.)
    lines = {line["model"]: line for line in run.report if not line["status"].startswith("proposed")}
    assert set(lines) == set(seeded)
    matched = {m: line["source_id"] for m, line in lines.items() if line["status"] != "not listed"}
    assert matched == LISTED
    assert all(lines[m]["status"] == "unchanged" for m in LISTED), {m: lines[m] for m in LISTED}
    assert {m for m, line in lines.items() if line["status"] == "not listed"} == set(seeded) - set(LISTED)


def test_the_data_migration_gives_an_existing_catalog_the_seeded_ids_and_keeps_the_operators(live_db, db):
    migration = importlib.import_module("routing.migrations.0006_seed_openrouter_ids")
    CatalogModel.objects.update(openrouter_id="")
    CatalogModel.objects.filter(public_id="minimax/minimax-m2").update(openrouter_id="minimax/minimax-m2-her")

    migration.seed_openrouter_ids(apps, None)

    ids = dict(CatalogModel.objects.values_list("public_id", "openrouter_id"))
    assert ids["anthropic/claude-sonnet-4"] == "anthropic/claude-sonnet-4"
    assert ids["moonshot/kimi-k2"] == "moonshotai/kimi-k2-0905"
    assert ids["alibaba/qwen-max"] == "qwen/qwen-max"
    assert ids["minimax/minimax-m2"] == "minimax/minimax-m2-her"  # set by the operator: kept
    assert ids["openai/gpt-4o-mini"] == ""  # OpenRouter's id is the default
