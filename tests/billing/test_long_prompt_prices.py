"""Long-prompt prices: GPT-5.4 above 272K prompt tokens and Gemini 2.5 Pro above 200K bill a whole
request at their long prices. Through the gateway, with the official SDK and the provider simulator
(`x-sim-prompt-tokens` makes it report a prompt that long without the test sending one; the
request's own text is long enough that its prompt bound, what the hold covers, is above the
threshold, as a real long prompt's is)."""

import dataclasses
import time

import openai
import pytest

from billing.models import LedgerEntry
from billing.pricing import cost_of, is_long, prices_at, worst_case_nusd
from routing import goals, seed
from routing.catalog import RouteInfo, load_snapshot, prices_of
from routing.credit import affordable_output, prompt_bound, worst_case
from routing.explain import plan_report
from routing.policy import plan
from routing.request import Features, validate
from tests.billing.conftest import fund, state

GPT, GEMINI = "openai/gpt-5.4", "google/gemini-2.5-pro"
# The seed's prices, micro-USD per 1M tokens: (threshold, normal in/out/cached, long in/out/cached)
SEEDED = {
    GPT: (272_000, (2_500_000, 15_000_000, 250_000), (5_000_000, 22_500_000, 500_000)),
    GEMINI: (200_000, (1_250_000, 10_000_000, 125_000), (2_500_000, 15_000_000, 250_000)),
}
MODELS = pytest.mark.parametrize("model", [GPT, GEMINI], ids=["gpt-5.4", "gemini-2.5-pro"])
STREAMING = pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
MARKUP = 11_500  # 1 + the default 15%, in basis points


def charge(pico: int) -> int:
    """A cost in pico-USD, charged with the markup, rounded up once (billing/pricing.py)."""
    return -(-pico * MARKUP // (1000 * 10_000))


def _features(prompt_tokens: int, *, bound: int | None = None) -> Features:
    """A plain text request estimated at `prompt_tokens` (held for `bound`), max_tokens 1000."""
    return Features(
        prompt_tokens=prompt_tokens,
        prompt_tokens_bound=prompt_tokens * 4 if bound is None else bound,
        max_tokens=1000,
        tools=False,
        vision=False,
        json_mode=False,
        stream=False,
        include_usage=False,
    )


def long_body(model: str, *, max_tokens: int = 100, stream: bool = False) -> dict:
    """A request whose prompt bound is above the model's threshold: more bytes than it has tokens."""
    threshold = SEEDED[model][0]
    text = "Read this. " * (threshold // 11 + 1000)
    body = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    assert prompt_bound(validate(dict(body)), seed.snapshot().models[model]) > threshold
    return body


def settled(org_id, live_db):
    time.sleep(0.3)
    with live_db.unblock():
        return state(org_id)


# --- cost_of at the boundary ------------------------------------------------------------------------


@MODELS
def test_exactly_at_the_threshold_is_the_normal_price_and_one_more_token_the_long_price(model):
    m = seed.snapshot().models[model]
    threshold, (inp, out, cached), (long_in, long_out, long_cached) = SEEDED[model]
    assert m.long_prompt_threshold_tokens == threshold

    def cost(prompt: int, cached_tokens: int = 0) -> int:
        return cost_of(
            prompt_tokens=prompt, cached_tokens=cached_tokens, completion_tokens=1000, markup_bp=1500, **prices_of(m)
        ).charged_nusd

    assert cost(threshold) == charge(threshold * inp + 1000 * out)
    assert cost(threshold + 1) == charge((threshold + 1) * long_in + 1000 * long_out)
    # Cached tokens count in the prompt (the vendors' "input"), and are billed at the long cached price.
    assert cost(threshold + 1, cached_tokens=threshold) == charge(threshold * long_cached + long_in + 1000 * long_out)
    assert cost(threshold, cached_tokens=threshold) == charge(threshold * cached + 1000 * out)
    assert not is_long(threshold, threshold) and is_long(threshold + 1, threshold)


def test_a_cache_written_prompt_counts_and_an_empty_long_price_is_the_normal_one():
    prices = {
        "input_price_usd_micro_per_mtok": 3_000_000,
        "output_price_usd_micro_per_mtok": 15_000_000,
        "cached_input_price_usd_micro_per_mtok": 300_000,
        "cache_write_price_usd_micro_per_mtok": 3_750_000,
        "long_prompt_threshold_tokens": 1000,
        "long_input_price_usd_micro_per_mtok": 6_000_000,
        "long_output_price_usd_micro_per_mtok": None,  # not tiered: the output price
        "long_cache_write_price_usd_micro_per_mtok": 7_500_000,
    }
    # 600 plain + 401 written to the cache: 1001 prompt tokens, above the threshold.
    c = cost_of(
        prompt_tokens=1001, cached_tokens=0, cache_write_tokens=401, completion_tokens=10, markup_bp=0, **prices
    )
    assert c.upstream_nusd == -(-(600 * 6_000_000 + 401 * 7_500_000 + 10 * 15_000_000) // 1000)
    # Without a threshold the long prices are never used.
    flat = {**prices, "long_prompt_threshold_tokens": None}
    c = cost_of(prompt_tokens=1001, cached_tokens=0, cache_write_tokens=401, completion_tokens=10, markup_bp=0, **flat)
    assert c.upstream_nusd == -(-(600 * 3_000_000 + 401 * 3_750_000 + 10 * 15_000_000) // 1000)


# --- holds --------------------------------------------------------------------------------------------


@MODELS
def test_the_hold_uses_the_long_prices_when_the_prompt_bound_is_above_the_threshold(model):
    m = seed.snapshot().models[model]
    threshold, (inp, out, _), (long_in, long_out, _) = SEEDED[model]

    assert worst_case(m, _features(threshold // 4, bound=threshold), 1500) == charge(threshold * inp + 1000 * out)
    assert worst_case(m, _features(threshold // 4, bound=threshold + 1), 1500) == charge(
        (threshold + 1) * long_in + 1000 * long_out
    )
    # What the balance affords is computed at the same prices: the worst case of that many output
    # tokens fits, one more does not.
    room = charge((threshold + 1) * long_in + 1000 * long_out)
    assert affordable_output(room, m, threshold + 1, 1500) == 1000
    assert affordable_output(room - 1, m, threshold + 1, 1500) == 999
    # At the normal prices the hold would be smaller: a flat hold would under-charge.
    flat = worst_case_nusd(
        prompt_tokens=threshold + 1,
        max_tokens=1000,
        model_max_output=m.max_output_tokens,
        input_price_usd_micro_per_mtok=inp,
        output_price_usd_micro_per_mtok=out,
        markup_bp=1500,
    )
    assert flat < room * 2 // 3


# --- through the gateway ------------------------------------------------------------------------------


@MODELS
@STREAMING
def test_a_long_prompt_is_charged_at_the_long_prices_and_one_at_the_threshold_at_the_normal_ones(
    gateway, tenant, live_db, usage, model, streaming
):
    with live_db.unblock():
        fund(tenant.organization.pk, 100 * 10**9)
        m = load_snapshot().models[model]
    threshold = m.long_prompt_threshold_tokens
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0, timeout=60)
    body = long_body(model, stream=streaming)
    for prompt, tier in (
        (threshold + 1, prices_at(threshold + 1, prices_of(m))),
        (threshold, prices_at(0, prices_of(m))),
    ):
        headers = {"x-sim-prompt-tokens": str(prompt), "x-sim-output-tokens": "40", "x-aipower-fallback": "off"}
        if streaming:
            with client.chat.completions.with_streaming_response.create(**body, extra_headers=headers) as raw:
                chunks = list(raw.parse())
                request_id = raw.headers["x-request-id"]
            [reported] = [c.usage for c in chunks if c.usage is not None]
        else:
            raw = client.chat.completions.with_raw_response.create(**body, extra_headers=headers)
            reported, request_id = raw.parse().usage, raw.headers["x-request-id"]
        assert reported.prompt_tokens == prompt
        [row] = usage(request_id)
        assert row.status == "ok" and row.served_model == model and row.prompt_tokens == prompt
        pico = (
            prompt * tier["input_price_usd_micro_per_mtok"]
            + row.completion_tokens * tier["output_price_usd_micro_per_mtok"]
        )
        assert row.upstream_cost_nusd == -(-pico // 1000)
        assert row.charged_nusd == charge(pico)
        # The row keeps the prices it was billed at.
        assert row.input_price_usd_micro_per_mtok == tier["input_price_usd_micro_per_mtok"]
        assert row.output_price_usd_micro_per_mtok == tier["output_price_usd_micro_per_mtok"]
    long_in, short_in = SEEDED[model][2][0], SEEDED[model][1][0]
    assert long_in == 2 * short_in


@MODELS
@STREAMING
def test_the_hold_covers_a_long_prompt_exactly(gateway, tenant, live_db, usage, model, streaming):
    with live_db.unblock():
        m = load_snapshot().models[model]
    threshold, _, (long_in, long_out, _) = SEEDED[model]
    body = long_body(model, max_tokens=100, stream=streaming)
    bound = prompt_bound(validate(dict(body)), m)
    worst = charge(bound * long_in + 100 * long_out)  # by hand, from the seed's long prices
    assert worst_case(m, validate(dict(body)), 1500) == worst
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0, timeout=60)
    headers = {"x-sim-prompt-tokens": str(bound), "x-sim-output-tokens": "100", "x-aipower-fallback": "off"}

    def call():
        if streaming:
            with client.chat.completions.with_streaming_response.create(**body, extra_headers=headers) as raw:
                list(raw.parse())
                return raw.headers["x-request-id"]
        return client.chat.completions.with_raw_response.create(**body, extra_headers=headers).headers["x-request-id"]

    with live_db.unblock():
        fund(tenant.organization.pk, worst - 1)  # one nano-dollar short
    with pytest.raises(openai.APIStatusError) as refused:
        call()
    assert refused.value.status_code == 402 and refused.value.code == "insufficient_quota"
    with live_db.unblock():
        assert not LedgerEntry.objects.filter(request_id=refused.value.response.headers["x-request-id"]).exists()

    with live_db.unblock():
        fund(tenant.organization.pk, 1)  # just enough
    request_id = call()
    [row] = usage(request_id)
    # The upstream reports the whole bound as prompt (the most it can) and the 100 tokens asked:
    # the charge is the whole worst case, at the long prices, not capped below it.
    assert row.status == "ok" and (row.prompt_tokens, row.completion_tokens) == (bound, 100) and bound > threshold
    assert row.charged_nusd == charge(bound * long_in + 100 * long_out) == worst
    assert settled(tenant.organization.pk, live_db)["balance"] == 0


# --- routing estimates ------------------------------------------------------------------------------


@MODELS
def test_the_routers_estimate_uses_the_tier_of_the_estimated_prompt(model):
    m = seed.snapshot().models[model]
    threshold, (inp, out, _), (long_in, long_out, _) = SEEDED[model]
    assert goals.estimated_cost_nusd(m, _features(threshold)) == (threshold * inp + 1000 * out) // 1000
    assert (
        goals.estimated_cost_nusd(m, _features(threshold + 1)) == ((threshold + 1) * long_in + 1000 * long_out) // 1000
    )


def test_cheapest_for_this_request_weighs_the_long_prompt_price():
    snap = seed.snapshot()
    pro = snap.models[GEMINI]  # $1.25 in, $2.50 above 200K
    # A 1M-window model at a flat $2 in / $10 out: dearer than Gemini 2.5 Pro for a short prompt,
    # cheaper above Gemini's threshold.
    flat = dataclasses.replace(
        snap.models["qwen/qwen-turbo"],
        input_price_usd_micro_per_mtok=2_000_000,
        output_price_usd_micro_per_mtok=10_000_000,
        cached_input_price_usd_micro_per_mtok=None,
    )
    route = RouteInfo(name="probe-cheap", goal="cheapest", description="", targets=(pro, flat), policy="cheapest")
    snap = dataclasses.replace(snap, routes={**snap.routes, route.name: route})
    short, long = plan(route.name, _features(150_000), snap), plan(route.name, _features(250_000), snap)
    assert [c.public_id for c in short.candidates[:2]] == [GEMINI, flat.public_id]
    assert [c.public_id for c in long.candidates[:2]] == [flat.public_id, GEMINI]
    # /v1/route/explain reports the same estimates: Gemini's at its long prices.
    report = plan_report(long, _features(250_000), requested=route.name, markup_bp=0)
    by_model = {c["model"]: c["estimated_cost_nusd"] for c in report["candidates"]}
    assert by_model[GEMINI] == (250_000 * 2_500_000 + 1000 * 15_000_000) // 1000
