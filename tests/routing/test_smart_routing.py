"""Smart routes through a real gateway with the openai SDK: each goal's choice, the reason on
every routed answer and its usage row, long prompts, the quality trade-off, prompts with nothing
to assess, and POST /v1/route/explain (no upstream call, no charge)."""

import httpx
import openai
import pytest

from accounts.models import ApiKey

HELLO = [{"role": "user", "content": "hello"}]
HARD = [
    {
        "role": "user",
        "content": "Prove that for every prime p > 3, p^2 - 1 is divisible by 24, then derive a "
        "closed form for the sum of the first n cubes and show each induction step.",
    }
]


def create(client, **kwargs):
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    return raw.parse(), raw.headers


@pytest.mark.parametrize(
    "route, served, reason",
    [
        ("auto", "deepseek/deepseek-chat", "economy tier"),
        ("auto-cheap", "qwen/qwen-turbo", "cheapest for ~"),
        ("auto-code", "anthropic/claude-sonnet-4", "highest coding quality rank"),
        ("auto-best", "anthropic/claude-opus-4.6", "highest overall quality rank"),
        ("auto-free", "zhipu/glm-4-flash", "free: zhipu/glm-4-flash"),
    ],
)
def test_it_routes_by_goal_and_says_why_in_the_header_and_the_usage_row(client, usage, route, served, reason):
    reply, headers = create(client, model=route, messages=HELLO)
    assert reply.model == served
    assert reason in headers["x-aipower-route-reason"]
    [row] = usage(headers["x-request-id"])
    assert row.route_reason == headers["x-aipower-route-reason"]
    if route == "auto":
        assert row.route_tier == "economy" and 0.0 <= row.route_difficulty < 0.6
        assert headers["x-aipower-route-reason"].startswith(f"difficulty {row.route_difficulty:.2f} < 0.60")
    else:
        assert row.route_tier == "" and row.route_difficulty is None


def test_auto_cheap_costs_less_than_auto_for_the_same_prompts(client, usage):
    spent = {}
    for route in ("auto", "auto-cheap"):
        rows = [usage(create(client, model=route, messages=HELLO)[1]["x-request-id"])[0] for _ in range(3)]
        spent[route] = sum(r.charged_nusd for r in rows)
    assert 0 < spent["auto-cheap"] < spent["auto"]


def test_a_prompt_too_long_for_the_first_choice_is_served_by_a_larger_window(client):
    huge = [{"role": "user", "content": "lorem ipsum " * 100_000}]  # ~300k tokens by the estimate
    for route in ("auto", "auto-cheap", "auto-code"):
        reply, headers = create(client, model=route, messages=huge, max_tokens=16)
        assert reply.model in (
            "google/gemini-2.5-flash",
            "qwen/qwen-turbo",
            "openai/gpt-5.4",
            "google/gemini-2.5-pro",
        ), (route, reply.model)
        assert "larger context window" in headers["x-aipower-route-reason"]


def test_the_quality_header_moves_a_prompt_between_tiers(client):
    cheap, h0 = create(client, model="auto", messages=HARD, extra_headers={"x-aipower-quality": "0"})
    best, h1 = create(client, model="auto", messages=HARD, extra_headers={"x-aipower-quality": "1"})
    assert cheap.model == "deepseek/deepseek-chat" and "economy tier" in h0["x-aipower-route-reason"]
    assert best.model == "openai/gpt-5.4" and "premium tier" in h1["x-aipower-route-reason"]
    assert h1["x-aipower-route-reason"].endswith("quality 1")


def test_a_bad_quality_header_is_refused_before_any_upstream_call(gateway, tenant, sim):
    before = sim.stats()["total"]
    resp = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "auto", "messages": HELLO},
        headers={"authorization": f"Bearer {tenant.key}", "x-aipower-quality": "1.5"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "x-aipower-quality"
    assert sim.stats()["total"] == before


def test_a_keys_default_quality_applies_and_a_request_overrides_it(gateway, tenant, live_db):
    with live_db.unblock():
        ApiKey.objects.filter(pk=tenant.key_id).update(route_quality=1.0)
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0) as c:
        assert create(c, model="auto", messages=HELLO)[0].model == "openai/gpt-5.4"
        reply, _ = create(c, model="auto", messages=HELLO, extra_headers={"x-aipower-quality": "0.5"})
        assert reply.model == "deepseek/deepseek-chat"


@pytest.mark.parametrize(
    "messages, why",
    [
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}],
            "image-only",
        ),
        ([{"role": "user", "content": ""}], "empty"),
        ([{"role": "system", "content": "You are terse."}], "no user turn"),
    ],
)
def test_prompts_with_nothing_to_assess_fall_back_to_the_route_default(client, usage, messages, why):
    reply, headers = create(client, model="auto", messages=messages)
    assert reply.choices[0].message.content is not None
    reason = headers["x-aipower-route-reason"]
    assert why in reason and reason.endswith("route default")
    [row] = usage(headers["x-request-id"])
    assert row.route_difficulty is None and row.route_reason == reason


def explain(gateway, key, body, **headers):
    return httpx.post(
        gateway.url + "/v1/route/explain", json=body, headers={"authorization": f"Bearer {key}", **headers}, timeout=10
    )


def test_explain_returns_the_plan_without_calling_upstream_or_charging(gateway, tenant, sim, live_db):
    from analytics.models import UsageRecord
    from billing.models import LedgerEntry

    with live_db.unblock():
        entries = LedgerEntry.objects.filter(organization=tenant.organization).count()
    before = sim.stats()["total"]
    resp = explain(gateway, tenant.key, {"model": "auto-cheap", "messages": HELLO, "max_tokens": 100})
    assert resp.status_code == 200
    body = resp.json()
    assert body["route"] == "auto-cheap" and body["model"] == "qwen/qwen-turbo"
    assert body["reason"].startswith("cheapest for ~")
    costs = [c["estimated_cost_nusd"] for c in body["candidates"]]
    pool = [c for c in body["candidates"] if not c["why"].startswith("fallback chain")]
    assert [c["estimated_cost_nusd"] for c in pool] == sorted(c["estimated_cost_nusd"] for c in pool)
    assert all(isinstance(c, int) and c > 0 for c in costs)
    assert body["candidates"][0]["expected_output_tokens"] == 100
    assert body["markup_bp"] == 1500
    assert sim.stats()["total"] == before
    with live_db.unblock():
        assert LedgerEntry.objects.filter(organization=tenant.organization).count() == entries
        assert not UsageRecord.objects.filter(organization=tenant.organization).exists()


def test_explain_says_why_models_were_skipped(gateway, tenant):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = explain(
        gateway, tenant.key, {"model": "auto", "messages": HARD, "tools": tools}, **{"x-aipower-quality": "1"}
    ).json()
    assert body["tier"] == "premium" and 0 <= body["difficulty"] <= 1
    assert body["candidates"][0]["why"] == "premium tier"
    huge = explain(gateway, tenant.key, {"model": "auto", "messages": [{"role": "user", "content": "x " * 600_000}]})
    skipped = {s["model"]: s["why"] for s in huge.json()["skipped"]}
    assert skipped["deepseek/deepseek-chat"].startswith("context window is 128000 tokens")


def test_explain_refuses_bad_requests_and_bad_keys(gateway, tenant):
    assert explain(gateway, tenant.key, {"model": "auto"}).json()["error"]["param"] == "messages"
    assert explain(gateway, tenant.key, {"model": "nope/none", "messages": HELLO}).status_code == 404
    assert explain(gateway, "sk-aip-wrong", {"model": "auto", "messages": HELLO}).status_code == 401
    assert httpx.get(gateway.url + "/v1/route/explain").status_code == 405
