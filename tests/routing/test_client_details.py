"""What clients rely on beyond chat completions: model details, a key's model list, the x-api-key
header, CORS for browsers, n and logprobs honoured or refused (never silently dropped), service_tier."""

import httpx
import openai
import pytest

from accounts.models import ApiKey
from routing.models import RouteTarget
from tests.schema import assert_valid

HELLO = [{"role": "user", "content": "Say something nice."}]


def test_it_retrieves_every_model_and_route(client, gateway, tenant):
    listed = client.models.list().data
    ids = {m.id for m in listed}
    assert {"auto", "auto-code", "anthropic/claude-sonnet-4", "google/gemini-2.5-flash"} <= ids
    for name in ids:
        model = client.models.retrieve(name)
        assert model.id == name and model.object == "model"
    auto = client.models.retrieve("auto").model_dump()
    assert auto["route"] is True and auto["targets"][0] == "deepseek/deepseek-chat"
    assert auto["context_window"] >= 128_000 and auto["capabilities"]["tools"] is True
    sonnet = httpx.get(
        gateway.url + "/v1/models/anthropic/claude-sonnet-4", headers={"authorization": f"Bearer {tenant.key}"}
    ).json()
    assert_valid(sonnet, "Model")
    assert sonnet["context_window"] == 200_000 and sonnet["max_output_tokens"] == 64_000
    assert sonnet["capabilities"] == {
        "chat": True,
        "streaming": True,
        "tools": True,
        "vision": True,
        "pdf_input": True,
        "audio_input": False,
        "json_mode": True,
    }
    # Prices per 1M tokens in USD, as exact decimal strings.
    assert sonnet["pricing"] == {
        "currency": "USD",
        "unit": "1M tokens",
        "input": "3",
        "output": "15",
        "cached_input": "0.3",
        "cache_write": "3.75",
        "cache_write_1h": "6",  # 1-hour cache writes (Anthropic's ttl "1h")
        "long_context": None,  # one price at any prompt length
    }
    # GPT-5.4 bills a prompt of more than 272K tokens entirely at 2x input and 1.5x output.
    gpt = client.models.retrieve("openai/gpt-5.4").model_dump()["pricing"]
    assert (gpt["input"], gpt["output"], gpt["cached_input"]) == ("2.5", "15", "0.25")
    assert gpt["long_context"] == {
        "threshold_tokens": 272_000,
        "input": "5",
        "output": "22.5",
        "cached_input": "0.5",
        "cache_write": "5",  # no cache-write price: writes are input
    }
    gemini = client.models.retrieve("google/gemini-2.5-pro").model_dump()["pricing"]["long_context"]
    assert (gemini["threshold_tokens"], gemini["input"], gemini["output"]) == (200_000, "2.5", "15")
    # A model without 1-hour caching says so: null (its 1-hour marks go as 5-minute ones).
    assert client.models.retrieve("deepseek/deepseek-chat").model_dump()["pricing"]["cache_write_1h"] is None
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nobody/nothing")


def test_the_model_list_holds_only_what_the_key_may_use(client, live_db, tenant):
    with live_db.unblock():
        ApiKey.objects.filter(pk=tenant.key_id).update(allowed_models=["auto-cheap", "openai/gpt-4o-mini"])
        pool = set(RouteTarget.objects.filter(route__name="auto-cheap").values_list("model__public_id", flat=True))
    ids = [m.id for m in client.models.list().data]
    # The route, the models of its pool (a route allowed is every model it may reach) and the model.
    assert "qwen/qwen-turbo" in pool and "anthropic/claude-sonnet-4" not in pool
    assert ids == sorted({"auto-cheap", "openai/gpt-4o-mini"} | pool)
    assert client.models.retrieve("qwen/qwen-turbo").id == "qwen/qwen-turbo"
    for hidden in ("auto", "anthropic/claude-sonnet-4"):
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve(hidden)


def test_it_accepts_the_key_in_x_api_key(gateway, tenant):
    resp = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "auto", "messages": HELLO},
        headers={"x-api-key": tenant.key},
    )
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"]
    wrong = httpx.get(gateway.url + "/v1/models", headers={"x-api-key": "sk-aip-wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


def test_cors_is_off_by_default(gateway, tenant):
    pre = httpx.options(
        gateway.url + "/v1/chat/completions",
        headers={"origin": "https://app.example", "access-control-request-method": "POST"},
    )
    assert pre.status_code == 204 and "access-control-allow-origin" not in pre.headers
    resp = httpx.get(
        gateway.url + "/v1/models", headers={"authorization": f"Bearer {tenant.key}", "origin": "https://app.example"}
    )
    assert resp.status_code == 200 and "access-control-allow-origin" not in resp.headers


def test_cors_answers_allowed_origins_only(own_gateways, tenant):
    gw = own_gateways(AIPOWER_CORS_ALLOWED_ORIGINS="https://app.example,https://other.example")
    pre = httpx.options(
        gw.url + "/v1/messages",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type, anthropic-version",
        },
    )
    assert pre.status_code == 204  # no key needed for a preflight
    assert pre.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-api-key" in pre.headers["access-control-allow-headers"]
    assert "POST" in pre.headers["access-control-allow-methods"]
    plain = httpx.options(
        gw.url + "/v1/chat/completions",
        headers={"origin": "https://app.example", "access-control-request-method": "POST"},
    )
    assert "authorization" in plain.headers["access-control-allow-headers"]
    resp = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "auto", "messages": HELLO},
        headers={"authorization": f"Bearer {tenant.key}", "origin": "https://app.example"},
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in resp.headers["access-control-expose-headers"]
    evil = httpx.options(
        gw.url + "/v1/chat/completions",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in evil.headers


def test_n_is_served_by_openai_format_upstreams(client, usage):
    raw = client.chat.completions.with_raw_response.create(model="deepseek/deepseek-chat", messages=HELLO, n=3)
    reply = raw.parse()
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert all(c.message.content for c in reply.choices)
    single = client.chat.completions.create(model="deepseek/deepseek-chat", messages=HELLO)
    assert reply.usage.completion_tokens == 3 * single.usage.completion_tokens
    [row] = usage(raw.headers["x-request-id"])
    assert row.completion_tokens == reply.usage.completion_tokens


def test_n_streams_every_choice(client):
    seen = set()
    for chunk in client.chat.completions.create(model="qwen/qwen-plus", messages=HELLO, n=2, stream=True):
        seen.update(c.index for c in chunk.choices if c.delta.content)
    assert seen == {0, 1}


@pytest.mark.parametrize("model, served", [("auto-code", "openai/gpt-5.4"), ("auto-free", "qwen/qwen-turbo")])
def test_a_route_moves_past_models_that_cannot_give_n(client, model, served):
    reply = client.chat.completions.create(model=model, messages=HELLO, n=2)
    assert reply.model == served and len(reply.choices) == 2


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4", "zhipu/glm-4-flash"])
def test_a_pinned_model_that_cannot_give_n_says_so(client, model):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=model, messages=HELLO, n=2)
    assert exc.value.body["param"] == "n"


def test_logprobs_pass_through(client):
    reply = client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, logprobs=True, top_logprobs=2)
    tokens = reply.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == reply.choices[0].message.content
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in tokens)
    streamed = []
    for chunk in client.chat.completions.create(
        model="deepseek/deepseek-chat", messages=HELLO, logprobs=True, stream=True
    ):
        for c in chunk.choices:
            if c.logprobs and c.logprobs.content:
                streamed += c.logprobs.content
    assert streamed and all(t.logprob <= 0 for t in streamed)


@pytest.mark.parametrize(
    "model, param, extra",
    [
        ("anthropic/claude-sonnet-4", "logprobs", {"logprobs": True}),
        ("google/gemini-2.5-flash", "top_logprobs", {"logprobs": False, "top_logprobs": 2}),
        ("deepseek/deepseek-reasoner", "logprobs", {"logprobs": True}),
        ("zhipu/glm-4-flash", "logprobs", {"logprobs": True}),
    ],
)
def test_logprobs_are_refused_where_unsupported(client, model, param, extra):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=model, messages=HELLO, **extra)
    assert exc.value.body["param"] == param


def test_a_route_moves_past_models_without_logprobs(client):
    reply = client.chat.completions.create(model="auto-code", messages=HELLO, logprobs=True)
    assert reply.model == "openai/gpt-5.4" and reply.choices[0].logprobs.content


def test_every_request_is_served_and_billed_on_the_standard_tier(client, usage, sim):
    # A priority tier costs more upstream than the standard price the gateway bills: it is never sent.
    raw = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=HELLO, service_tier="priority"
    )
    assert raw.parse().service_tier == "default"
    [row] = usage(raw.headers["x-request-id"])
    assert row.status == "ok"
    chunks = list(
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, service_tier="flex", stream=True)
    )
    assert {c.service_tier for c in chunks} == {"default"}
    before = sim.hits("openai")
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, service_tier="turbo")  # type: ignore[arg-type]
    assert exc.value.body["param"] == "service_tier" and exc.value.body["code"] == "invalid_value"
    assert sim.hits("openai") == before  # refused before any upstream call
