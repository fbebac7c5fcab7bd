"""The routing policy is a pure function: no database, no servers."""

import pytest

from routing.catalog import ModelInfo, ProviderInfo, RouteInfo, Snapshot
from routing.errors import GatewayError
from routing.policy import plan
from routing.request import validate

P = ProviderInfo(slug="p", name="P", wire_format="openai", base_url="http://x", credential_env="P_KEY")


def model(public_id, *, ctx=100_000, out=8_000, tools=True, vision=False, json_mode=True):
    return ModelInfo(
        id=hash(public_id),
        public_id=public_id,
        upstream_id=public_id.split("/")[1],
        display_name=public_id,
        provider=P,
        input_price_usd_micro_per_mtok=1,
        output_price_usd_micro_per_mtok=1,
        cached_input_price_usd_micro_per_mtok=None,
        context_window=ctx,
        max_output_tokens=out,
        supports_tools=tools,
        supports_vision=vision,
        supports_json_mode=json_mode,
    )


SMALL = model("p/small", ctx=1_000, out=500, tools=False)
BIG = model("p/big", ctx=200_000, out=16_000, vision=True)
PLAIN = model("p/plain", json_mode=False)
SNAP = Snapshot(
    models={m.public_id: m for m in (SMALL, BIG, PLAIN)},
    by_upstream_id={"small": SMALL, "big": BIG, "plain": PLAIN},
    routes={"auto-x": RouteInfo(name="auto-x", goal="", description="", targets=(SMALL, BIG))},
)


def features(**body):
    body.setdefault("model", "auto-x")
    body.setdefault("messages", [{"role": "user", "content": "hello"}])
    return validate(body)


def test_it_keeps_route_order_when_every_target_fits():
    p = plan("auto-x", features(), SNAP)
    assert p.route == "auto-x"
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]


def test_it_skips_targets_whose_context_window_is_too_small():
    long_prompt = "word " * 2_000  # ~2,500 tokens by the estimate
    p = plan("auto-x", features(messages=[{"role": "user", "content": long_prompt}]), SNAP)
    assert [m.public_id for m in p.candidates] == ["p/big"]


def test_it_counts_max_tokens_against_the_window():
    p = plan("auto-x", features(max_tokens=990), SNAP)
    assert [m.public_id for m in p.candidates] == ["p/big"]


def test_it_skips_targets_without_tools_or_vision():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert [m.public_id for m in plan("auto-x", features(tools=tools), SNAP).candidates] == ["p/big"]
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]
    assert [m.public_id for m in plan("auto-x", features(messages=image), SNAP).candidates] == ["p/big"]


def test_tool_choice_none_does_not_need_tool_support():
    tools = [{"type": "function", "function": {"name": "f"}}]
    p = plan("auto-x", features(tools=tools, tool_choice="none"), SNAP)
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]


def test_it_says_why_when_no_target_can_serve():
    snap = Snapshot(
        models=SNAP.models,
        by_upstream_id={},
        routes={"auto-y": RouteInfo(name="auto-y", goal="", description="", targets=(SMALL, PLAIN))},
    )
    with pytest.raises(GatewayError) as exc:
        plan(
            "auto-y",
            features(
                model="auto-y",
                response_format={"type": "json_object"},
                tools=[{"type": "function", "function": {"name": "f"}}],
            ),
            snap,
        )
    assert exc.value.status == 400
    assert exc.value.code == "no_capable_model"
    assert "p/small does not support tools" in exc.value.message
    assert "p/plain does not support JSON mode" in exc.value.message


def test_a_pinned_model_bypasses_routing():
    p = plan("p/big", features(), SNAP)
    assert p.route is None and [m.public_id for m in p.candidates] == ["p/big"]


def test_a_bare_upstream_id_resolves_when_unambiguous():
    assert plan("big", features(), SNAP).candidates == (BIG,)
    ambiguous = Snapshot(models=SNAP.models, by_upstream_id={}, routes={})
    with pytest.raises(GatewayError) as exc:
        plan("big", features(), ambiguous)
    assert exc.value.status == 404 and exc.value.code == "model_not_found"


def test_an_unknown_model_is_404():
    with pytest.raises(GatewayError) as exc:
        plan("nope/nothing", features(), SNAP)
    assert (exc.value.status, exc.value.code, exc.value.param) == (404, "model_not_found", "model")


CHAINED = Snapshot(
    models=SNAP.models, by_upstream_id=SNAP.by_upstream_id, routes=SNAP.routes, fallbacks={"p": (PLAIN, BIG)}
)


def test_a_pinned_model_falls_back_through_its_family_chain():
    assert [m.public_id for m in plan("p/small", features(model="p/small"), CHAINED).candidates] == [
        "p/small",
        "p/plain",
        "p/big",
    ]


def test_fallbacks_never_pick_a_model_that_cannot_serve():
    rf = {"type": "json_object"}
    p = plan("p/small", features(model="p/small", response_format=rf), CHAINED)
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]


def test_a_pinned_model_that_cannot_serve_is_refused_not_replaced():
    with pytest.raises(GatewayError) as exc:
        plan("p/plain", features(model="p/plain", response_format={"type": "json_object"}), CHAINED)
    assert exc.value.code == "no_capable_model" and "JSON mode" in exc.value.message


def test_fallback_off_keeps_only_the_first_choice():
    assert [m.public_id for m in plan("p/small", features(model="p/small"), CHAINED, fallback=False).candidates] == [
        "p/small"
    ]


def test_the_callers_own_list_replaces_the_chains():
    p = plan("p/small", features(model="p/small"), CHAINED, extra_models=["p/big"])
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]
    with pytest.raises(GatewayError) as exc:
        plan("p/small", features(model="p/small"), CHAINED, extra_models=["p/nothing"])
    assert exc.value.code == "model_not_found"
