"""Parsers for the public price lists, into one Entry shape.

LiteLLM's `model_prices_and_context_window.json`: an object keyed by model name, each value with
`input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`,
`cache_creation_input_token_cost` (5-minute cache writes), `cache_creation_input_token_cost_above_1hr`
(1-hour cache writes; USD per token, JSON numbers), `max_input_tokens`, `max_output_tokens`,
`litellm_provider`, `mode` and `supports_*` flags (function calling, vision, PDF input, audio
input); a `sample_spec` entry documents the shape. Long-prompt prices are the same names with
`_above_<N>k_tokens` (`input_cost_per_token_above_200k_tokens`, `output_cost_per_token_above_272k_tokens`,
`cache_read_input_token_cost_above_200k_tokens`, ...): above N thousand prompt tokens.

OpenRouter's `GET /api/v1/models`: `{"data": [...]}`, each with `id` ("vendor/model"),
`context_length`, `pricing.prompt` / `completion` / `input_cache_read` / `input_cache_write` /
`input_cache_write_1h` (strings, USD per token; the last only where a vendor prices 1-hour cache
writes apart, as Anthropic does), `top_provider.max_completion_tokens`, `architecture.input_modalities`
("image", "file" for PDFs, "audio") and `supported_parameters`. `pricing.overrides` lists conditional
prices: one whose only condition is `min_prompt_tokens` is a long-prompt tier (prompts of at least
that many tokens, so the threshold is one less), with the price keys it overrides.

A long-prompt tier is read where the source gives exactly one threshold for the model (the catalog
keeps one tier per model; prices by more bands are left for an operator).

Numbers are read as Decimal (never float) and converted exactly to integer micro-USD per one
million tokens. A payload of the wrong shape raises PayloadError (the whole run changes
nothing); a bad value in one entry marks that entry with an error.
"""

import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from billing.pricing import LONG_PRICES, THRESHOLD

MICRO_PER_MTOK = Decimal(10) ** 12  # USD per token -> micro-USD per 1M tokens


class PayloadError(Exception):
    """The payload is not the format it claims to be: nothing of it may be used."""


class ValueProblem(Exception):
    pass


@dataclass
class Entry:
    source_id: str  # the id the source gives the model
    provider: str  # the source's name for the vendor
    bare_id: str  # the model's id at its vendor, as far as the source tells
    mode: str = "chat"
    prices: dict = field(default_factory=dict)  # PriceVersion field -> micro-USD per 1M tokens (absent: unknown)
    limits: dict = field(default_factory=dict)  # context_window / max_output_tokens -> tokens
    capabilities: dict = field(default_factory=dict)  # CAPABILITY_FIELDS (guardrails.py) -> bool
    display_name: str = ""
    error: str = ""  # why this entry cannot be used


def usd_per_token_to_micro_per_mtok(value) -> int:
    """'0.000003' (USD per token) -> 3_000_000 (micro-USD per 1M tokens), exactly. Rounds half to
    even below one micro-USD per million tokens, the catalog's unit."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueProblem(f"price {value!r} is not a decimal number")
    try:
        d = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueProblem(f"price {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueProblem(f"price {value!r} is not a finite number")
    if d < 0:
        raise ValueProblem(f"price {value!r} is negative")
    return int((d * MICRO_PER_MTOK).to_integral_value(rounding=ROUND_HALF_EVEN))


def _tokens(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValueProblem(f"{what} {value!r} is not a whole number")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueProblem(f"{what} {value!r} is not a whole number") from None
    if not d.is_finite() or d != d.to_integral_value() or d <= 0:
        raise ValueProblem(f"{what} {value!r} is not a positive whole number")
    return int(d)


def load_json(raw: bytes):
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=lambda c: c)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None


LITELLM_PRICES = {
    "input_cost_per_token": "input_price_usd_micro_per_mtok",
    "output_cost_per_token": "output_price_usd_micro_per_mtok",
    "cache_read_input_token_cost": "cached_input_price_usd_micro_per_mtok",
    "cache_creation_input_token_cost": "cache_write_price_usd_micro_per_mtok",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h_price_usd_micro_per_mtok",
}


_LITELLM_LONG = re.compile(r"^(?P<name>[a-z_]+)_above_(?P<k>[0-9]+)k_tokens$")


def _litellm_long(spec: dict) -> dict:
    """The long-prompt threshold and prices of a LiteLLM entry (PriceVersion field -> value)."""
    found: dict[int, dict] = {}
    for key, value in spec.items():
        match = _LITELLM_LONG.match(key)
        if match is None or value is None or match["name"] not in LITELLM_PRICES:
            continue
        target = LONG_PRICES.get(LITELLM_PRICES[match["name"]])
        if target is not None:
            found.setdefault(int(match["k"]) * 1000, {})[target] = usd_per_token_to_micro_per_mtok(value)
    if len(found) != 1:
        return {}
    ((threshold, prices),) = found.items()
    return {THRESHOLD: threshold, **prices}


def parse_litellm(payload) -> list[Entry]:
    if not isinstance(payload, dict) or not payload:
        raise PayloadError("expected a JSON object keyed by model name")
    entries = []
    for key, spec in payload.items():
        if key == "sample_spec":
            continue
        if not isinstance(spec, dict):
            raise PayloadError(f"entry {key!r} is not an object")
        provider = spec.get("litellm_provider")
        provider = provider if isinstance(provider, str) else ""
        prefix = provider + "/"
        bare = key[len(prefix) :] if provider and key.startswith(prefix) else key
        entry = Entry(source_id=key, provider=provider, bare_id=bare, mode=str(spec.get("mode") or "chat"))
        try:
            for name, target in LITELLM_PRICES.items():
                if spec.get(name) is not None:
                    entry.prices[target] = usd_per_token_to_micro_per_mtok(spec[name])
            entry.prices.update(_litellm_long(spec))
            if spec.get("max_input_tokens") is not None:
                entry.limits["context_window"] = _tokens(spec["max_input_tokens"], "max_input_tokens")
            if spec.get("max_output_tokens") is not None:
                entry.limits["max_output_tokens"] = _tokens(spec["max_output_tokens"], "max_output_tokens")
            for name, target in (
                ("supports_function_calling", "supports_tools"),
                ("supports_vision", "supports_vision"),
                ("supports_pdf_input", "supports_pdf_input"),
                ("supports_audio_input", "supports_audio_input"),
            ):
                if isinstance(spec.get(name), bool):
                    entry.capabilities[target] = spec[name]
        except ValueProblem as exc:
            entry.error = str(exc)
        entries.append(entry)
    return entries


OPENROUTER_PRICES = {
    "prompt": "input_price_usd_micro_per_mtok",
    "completion": "output_price_usd_micro_per_mtok",
    "input_cache_read": "cached_input_price_usd_micro_per_mtok",
    "input_cache_write": "cache_write_price_usd_micro_per_mtok",
    "input_cache_write_1h": "cache_write_1h_price_usd_micro_per_mtok",
}


def _openrouter_long(pricing: dict) -> dict:
    """The long-prompt threshold and prices of an OpenRouter pricing object (PriceVersion field -> value)."""
    overrides = pricing.get("overrides")
    if not isinstance(overrides, list):
        return {}
    tiers = [
        o
        for o in overrides
        if isinstance(o, dict)
        and o.get("min_prompt_tokens") is not None
        and not any(k.startswith(("min_", "max_", "utc_")) for k in o if k != "min_prompt_tokens")
    ]
    if len(tiers) != 1:
        return {}
    tier = tiers[0]
    found = {THRESHOLD: _tokens(tier["min_prompt_tokens"], "min_prompt_tokens") - 1}
    for name, target in OPENROUTER_PRICES.items():
        if tier.get(name) is not None and target in LONG_PRICES:
            found[LONG_PRICES[target]] = usd_per_token_to_micro_per_mtok(tier[name])
    return found


def parse_openrouter(payload) -> list[Entry]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise PayloadError('expected {"data": [...]}')
    entries = []
    for item in payload["data"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise PayloadError(f"a model without an id: {str(item)[:80]}")
        ident = item["id"]
        provider, _, bare = ident.partition("/")
        entry = Entry(
            source_id=ident,
            provider=provider if bare else "",
            bare_id=bare or ident,
            display_name=str(item.get("name") or "")[:120],
        )
        try:
            pricing = item.get("pricing")
            if not isinstance(pricing, dict):
                raise ValueProblem("no pricing object")
            for name, target in OPENROUTER_PRICES.items():
                if pricing.get(name) is not None:
                    entry.prices[target] = usd_per_token_to_micro_per_mtok(pricing[name])
            entry.prices.update(_openrouter_long(pricing))
            if item.get("context_length") is not None:
                entry.limits["context_window"] = _tokens(item["context_length"], "context_length")
            top = item.get("top_provider")
            if isinstance(top, dict) and top.get("max_completion_tokens") is not None:
                entry.limits["max_output_tokens"] = _tokens(top["max_completion_tokens"], "max_completion_tokens")
            params = item.get("supported_parameters")
            if isinstance(params, list):
                entry.capabilities["supports_tools"] = "tools" in params
            arch = item.get("architecture")
            if isinstance(arch, dict) and isinstance(arch.get("input_modalities"), list):
                modalities = arch["input_modalities"]
                entry.capabilities["supports_vision"] = "image" in modalities
                entry.capabilities["supports_pdf_input"] = "file" in modalities
                entry.capabilities["supports_audio_input"] = "audio" in modalities
        except ValueProblem as exc:
            entry.error = str(exc)
        entries.append(entry)
    return entries


PARSERS = {"litellm": parse_litellm, "openrouter": parse_openrouter}
