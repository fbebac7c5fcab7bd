"""Each route's goal orders its pool per request: pure functions over the seed catalog and
hand-made ones (no database, no servers)."""

import dataclasses
from itertools import pairwise

import pytest

from routing import seed
from routing.catalog import ModelInfo, ProviderInfo, RouteInfo, Snapshot
from routing.errors import GatewayError
from routing.goals import LiveStats, effective_threshold, estimated_cost_nusd
from routing.policy import plan
from routing.request import validate

SNAP = seed.snapshot()
P = ProviderInfo(slug="p", name="P", wire_format="openai", base_url="http://x", credential_env="P_KEY")


def model(public_id, *, inp=1, out=1, ctx=100_000, overall=None, coding=None, typical=500, max_out=8_000):
    return ModelInfo(
        id=hash(public_id),
        public_id=public_id,
        upstream_id=public_id.split("/")[1],
        display_name=public_id,
        provider=P,
        input_price_usd_micro_per_mtok=inp,
        output_price_usd_micro_per_mtok=out,
        cached_input_price_usd_micro_per_mtok=None,
        context_window=ctx,
        max_output_tokens=max_out,
        quality_overall=overall,
        quality_coding=coding,
        typical_output_tokens=typical,
    )


def snap_with(policy, *models, **options):
    route = RouteInfo(
        name="r",
        goal="",
        description="",
        targets=tuple(models),
        policy=policy,
        tiers=options.pop("tiers", ()),
        **options,
    )
    return Snapshot(models={m.public_id: m for m in models}, by_upstream_id={}, routes={"r": route})


def ask(route, content="hello", snap=SNAP, **body):
    body.setdefault("messages", [{"role": "user", "content": content}])
    body["model"] = route
    kwargs = {k: body.pop(k) for k in ("stats", "quality") if k in body}
    return plan(route, validate(body), snap, messages=body["messages"], **kwargs)


def ids(p):
    return [m.public_id for m in p.candidates]


# --- auto-cheap ---------------------------------------------------------------------------------


def test_it_picks_the_cheapest_capable_model_of_the_seed_not_the_first_listed():
    p = ask("auto-cheap")
    assert ids(p)[0] == "qwen/qwen-turbo"  # $0.05 / $0.20, listed after Doubao Pro ($0.69 / $1.25)
    assert p.reason.startswith("cheapest for ~")
    f = validate({"model": "auto-cheap", "messages": [{"role": "user", "content": "hello"}]})
    pool = SNAP.routes["auto-cheap"].targets
    assert estimated_cost_nusd(p.candidates[0], f) == min(estimated_cost_nusd(m, f) for m in pool)


def test_cheapest_prices_the_estimated_prompt_and_the_expected_output():
    reader = model("p/reader", inp=100, out=10_000)  # cheap to read, dear to write
    writer = model("p/writer", inp=2_000, out=100)  # dear to read, cheap to write
    snap = snap_with("cheapest", reader, writer)
    long_prompt = "word " * 20_000
    assert ids(ask("r", long_prompt, snap, max_tokens=10))[0] == "p/reader"
    assert ids(ask("r", "hi", snap, max_tokens=4_000))[0] == "p/writer"
    # No max_tokens: the model's typical answer length counts.
    assert ids(ask("r", "hi", snap))[0] == "p/writer"
    short_answers = dataclasses.replace(writer, typical_output_tokens=1, output_price_usd_micro_per_mtok=10**9)
    assert ids(ask("r", "hi", snap_with("cheapest", reader, short_answers)))[0] == "p/reader"


def test_cheapest_keeps_the_pool_order_for_equal_prices():
    a, b = model("p/a"), model("p/b")
    assert ids(ask("r", snap=snap_with("cheapest", a, b))) == ["p/a", "p/b"]
    assert ids(ask("r", snap=snap_with("cheapest", b, a))) == ["p/b", "p/a"]


# --- auto-fast ----------------------------------------------------------------------------------

A, B, C = model("p/a"), model("p/b"), model("p/c")
FAST = snap_with("fastest", A, B, C)


def test_fast_keeps_the_static_order_without_latency_data():
    p = ask("r", snap=FAST)
    assert ids(p) == ["p/a", "p/b", "p/c"] and "static order" in p.reason


def test_fast_puts_the_lowest_measured_p50_first():
    p = ask("r", snap=FAST, stats=LiveStats(ttft_p50_ms={"p/a": 900.0, "p/b": 300.0, "p/c": 120.0}))
    assert ids(p) == ["p/c", "p/b", "p/a"]
    assert p.reason == "lowest time to first token: p/c p50 120 ms"


def test_fast_treats_small_differences_as_noise():
    p = ask("r", snap=FAST, stats=LiveStats(ttft_p50_ms={"p/a": 130.0, "p/b": 110.0, "p/c": 105.0}, bucket_ms=50))
    assert ids(p) == ["p/a", "p/b", "p/c"]


def test_fast_moves_away_from_a_slow_measured_model_to_unmeasured_ones():
    p = ask("r", snap=FAST, stats=LiveStats(ttft_p50_ms={"p/a": 2_000.0}, unmeasured_ms=500))
    assert ids(p) == ["p/b", "p/c", "p/a"]


def test_fast_probes_the_model_it_was_told_to_measure():
    p = ask("r", snap=FAST, stats=LiveStats(ttft_p50_ms={"p/a": 10.0, "p/b": 2_000.0}, explore="p/b"))
    assert ids(p)[0] == "p/b" and p.reason == "probing the latency of p/b"


# --- auto-free, auto-best, auto-code --------------------------------------------------------------


def test_free_keeps_only_models_under_the_cap_cheapest_first():
    free, near, dear = model("p/free", inp=0, out=0), model("p/near", inp=50, out=100), model("p/dear", inp=10**6)
    p = ask("r", snap=snap_with("free", near, dear, free, price_cap_usd_micro_per_mtok=200))
    assert ids(p) == ["p/free", "p/near"]
    assert [pid for pid, _ in p.skipped] == ["p/dear"]
    with pytest.raises(GatewayError) as exc:
        ask("r", snap=snap_with("free", dear, price_cap_usd_micro_per_mtok=200))
    assert exc.value.code == "no_capable_model" and "over the cap" in exc.value.message
    assert ids(ask("auto-free"))[0] == "zhipu/glm-4-flash"


def test_best_and_code_follow_the_quality_ranks():
    a = model("p/a", overall=70, coding=95)
    b = model("p/b", overall=90, coding=60)
    unranked = model("p/u")
    assert ids(ask("r", snap=snap_with("best", unranked, a, b))) == ["p/b", "p/a", "p/u"]
    assert ids(ask("r", snap=snap_with("code", unranked, a, b))) == ["p/a", "p/b", "p/u"]
    assert ids(ask("auto-best"))[0] == "anthropic/claude-opus-4.6"
    p = ask("auto-code")
    assert ids(p)[0] == "anthropic/claude-sonnet-4" and "coding quality rank" in p.reason


# --- every route: long prompts --------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(SNAP.routes))
def test_a_prompt_too_long_for_the_first_choice_goes_to_a_larger_window(route):
    short = ask(route)
    huge = "lorem ipsum " * 100_000  # ~300k tokens by the estimate
    p = ask(route, huge)
    f = validate({"model": route, "messages": [{"role": "user", "content": huge}]})
    assert f.prompt_tokens > 290_000
    assert p.candidates and all(m.context_window >= f.prompt_tokens for m in p.candidates)
    if short.candidates[0].context_window < f.prompt_tokens:
        assert p.candidates[0] != short.candidates[0]
        assert "larger context window" in p.reason


# --- auto: tiers by difficulty ----------------------------------------------------------------------

EASY = "hi"
HARD = (
    "Prove that for every prime p > 3, p^2 - 1 is divisible by 24, then derive a closed form for the "
    "sum of the first n cubes and show each step of the induction rigorously."
)


def test_auto_picks_a_tier_by_difficulty_and_says_why():
    easy, hard = ask("auto", EASY), ask("auto", HARD, quality=0.9)
    assert easy.tier == "economy" and easy.candidates[0].public_id == "deepseek/deepseek-chat"
    assert easy.reason.startswith(f"difficulty {easy.difficulty:.2f} < ")
    assert 0.0 <= easy.difficulty <= 1.0 and 0.0 <= hard.difficulty <= 1.0
    assert hard.tier == "premium" and hard.candidates[0].public_id == "openai/gpt-5.4"
    assert " >= " in hard.reason and hard.reason.endswith("; quality 0.9")


def test_code_prompts_at_premium_level_go_to_the_code_tier():
    p = ask(
        "auto",
        "Write a Python function that parses this JSON and fix the bug:\n```python\ndef f(x):\n    return x[0]\n```",
        quality=1.0,
    )
    assert p.tier == "code" and p.candidates[0].public_id == "anthropic/claude-sonnet-4"
    assert "code detected" in p.reason


def test_the_threshold_moves_monotonically_with_quality():
    route = SNAP.routes["auto"]
    qs = [i / 20 for i in range(21)]
    ts = [effective_threshold(route, q) for q in qs]
    assert all(a >= b for a, b in pairwise(ts))
    assert ts[0] > 1.0 and ts[-1] == 0.0 and ts[10] == route.premium_threshold


PROMPTS = [
    EASY,
    HARD,
    "What is the capital of France?",
    "Write a haiku about autumn.",
    "Explain the difference between TCP and UDP in detail, with examples.",
    "Summarize the causes of the First World War.",
    "写一首关于春天的诗",
    "¿Cuál es la raíz cuadrada de 144?",
    "def f(x): return x + 1  # why does this fail?",
    "Translate 'good morning' into German.",
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_higher_quality_never_picks_a_cheaper_tier(prompt):
    rank = {"economy": 0, "premium": 1, "code": 1}
    cost = []
    tiers = []
    for q in [i / 10 for i in range(11)]:
        p = ask("auto", prompt, quality=q)
        tiers.append(rank[p.tier])
        f = validate({"model": "auto", "messages": [{"role": "user", "content": prompt}]})
        cost.append(estimated_cost_nusd(p.candidates[0], f))
    assert tiers == sorted(tiers)
    assert cost == sorted(cost)
    assert tiers[0] == 0 and tiers[-1] == 1


BAD = {
    "empty content": [{"role": "user", "content": ""}],
    "whitespace": [{"role": "user", "content": "   \n "}],
    "image only": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
    "tool only": [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ],
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_prompts_with_nothing_to_assess_fall_back_to_the_route_default_and_say_so(name):
    snap = SNAP
    if name == "image only":  # the default pool's first models must take images for this one
        auto = SNAP.routes["auto"]
        keep = [(m, t) for m, t in zip(auto.targets, auto.tiers, strict=True) if m.supports_vision]
        auto = dataclasses.replace(auto, targets=tuple(m for m, _ in keep), tiers=tuple(t for _, t in keep))
        snap = dataclasses.replace(SNAP, routes={**SNAP.routes, "auto": auto})
    p = plan("auto", validate({"model": "auto", "messages": BAD[name]}), snap, messages=BAD[name])
    assert p.difficulty is None and p.tier == ""
    assert p.reason.endswith(": route default")
    capable_pool = [m for m in snap.routes["auto"].targets if m in p.candidates]
    assert list(p.candidates[: len(capable_pool)]) == capable_pool


@pytest.mark.parametrize(
    "prompt",
    ["Γειά σου, τι κάνεις;", "مرحبا كيف حالك", "🙂" * 50, "\x00\x01 strange bytes", "a" * 2_000_000, "word " * 400_000],
)
def test_any_language_or_size_scores_without_failing(prompt):
    p = ask("auto", prompt)
    assert p.difficulty is not None and 0.0 <= p.difficulty <= 1.0
    assert p.candidates and p.reason.startswith("difficulty ")


def test_a_tier_with_no_capable_model_gives_way_and_says_so():
    economy = model("p/economy")
    premium = dataclasses.replace(model("p/premium"), supports_tools=False)
    snap = snap_with("tiered", economy, premium, tiers=("economy", "premium"), premium_threshold=0.5)
    tools = [{"type": "function", "function": {"name": "f"}}]
    p = ask("r", HARD, snap, quality=1.0, tools=tools)
    assert ids(p) == ["p/economy"] and p.tier == "economy"
    assert "economy tier" in p.reason and "no capable premium model" in p.reason
    assert ask("r", HARD, snap, quality=1.0).tier == "premium"
