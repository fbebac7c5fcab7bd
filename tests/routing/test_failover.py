"""Failover against the simulator's injected faults, through a real gateway and the openai SDK.

Route `auto` is deepseek/deepseek-chat → qwen/qwen-plus → openai/gpt-4o-mini, so a fault aimed at
`deepseek` makes the first attempt fail and the second serve.
"""

import httpx
import openai
import pytest

from tests.schema import assert_valid

HELLO = [{"role": "user", "content": "Say something long enough to stream."}]


def fault(spec: str) -> dict:
    return {"x-sim-fault": spec}


def create(client, stream=False, **kwargs):
    """(parsed reply or chunks, headers) for one request."""
    kwargs.setdefault("model", "auto")
    kwargs.setdefault("messages", HELLO)
    if stream:
        with client.chat.completions.with_streaming_response.create(stream=True, **kwargs) as raw:
            return list(raw.parse()), raw.headers
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    return raw.parse(), raw.headers


def text_of(result, stream):
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in result if c.choices)
    return result.choices[0].message.content


FAILING_OVER = [
    "status:500",
    "status:502",
    "status:503",
    "status:529",
    "status:429:retry-after=1",
    "status:401",
    "status:403",
    "status:404",
    "drop",
    "slow-first-byte:3000",
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("spec", FAILING_OVER)
def test_it_fails_over_invisibly(gateway, own_gateways, tenant, usage, spec, stream):
    # A Retry-After opens the provider's breaker, which the shared gateway must not keep.
    gw = own_gateways(AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT=2) if "retry-after" in spec else gateway
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0) as client:
        result, headers = create(client, stream, extra_headers=fault(f"deepseek={spec}"))
    whole, _ = create_direct(gw, tenant, "qwen/qwen-plus")
    assert text_of(result, stream) == whole
    served = {c.model for c in result} if stream else {result.model}
    assert served == {"qwen/qwen-plus"}
    assert headers["x-aipower-attempts"] == "2"
    assert headers["x-aipower-fallback-from"] == "deepseek/deepseek-chat"
    assert headers["x-aipower-provider"] == "qwen"
    [row] = usage(headers["x-request-id"])
    assert row.status == "ok" and row.attempts == 2 and row.served_model == "qwen/qwen-plus"
    assert [a["model"] for a in row.attempt_log] == ["deepseek/deepseek-chat", "qwen/qwen-plus"]
    assert [a["status"] for a in row.attempt_log] == ["error", "ok"]


def create_direct(gw, tenant, model):
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0) as client:
        return create(client, False, model=model)[0].choices[0].message.content, None


def test_a_hang_past_the_first_byte_timeout_fails_over(own_gateways, tenant):
    gw = own_gateways(AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT=0.5)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0) as client:
        for stream in (False, True):
            result, headers = create(client, stream, extra_headers=fault("deepseek=hang"))
            assert headers["x-aipower-provider"] == "qwen" and text_of(result, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_error_event_before_the_first_token_fails_over(client, stream):
    result, headers = create(client, stream, extra_headers=fault("deepseek=error-event:0"))
    assert headers["x-aipower-provider"] == "qwen" and text_of(result, stream)


def test_a_context_length_error_moves_to_a_larger_window(client, usage):
    # deepseek-chat has a 128K window; its family chain goes on to qwen-plus (131K) — larger.
    result, headers = create(client, model="deepseek/deepseek-chat", extra_headers=fault("deepseek=status:400:context"))
    assert result.model == "qwen/qwen-plus"
    [row] = usage(headers["x-request-id"])
    assert row.attempt_log[0]["error"].startswith("context_length")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_callers_invalid_request_is_returned_at_once(client, usage, sim, stream):
    before = sim.hits("qwen")
    with pytest.raises(openai.BadRequestError) as exc:
        create(client, stream, extra_headers=fault("deepseek=status:400"))
    assert exc.value.status_code == 400
    assert exc.value.body["type"] == "invalid_request_error" and exc.value.body["message"]
    assert sim.hits("qwen") == before
    rid = exc.value.response.headers["x-request-id"]
    [row] = usage(rid)
    assert row.attempts == 1 and row.charged_nusd == 0 and row.status == "client_error"


def test_a_failure_after_content_ends_the_stream_with_an_error_and_no_done(gateway, tenant, usage):
    body = {"model": "auto", "messages": HELLO, "stream": True}
    headers = {
        "authorization": f"Bearer {tenant.key}",
        "x-sim-fault": "deepseek=drop-mid-stream:3",
        "x-sim-chunks": "10",
    }
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, headers=headers) as resp:
        assert resp.status_code == 200
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
        rid = resp.headers["x-request-id"]
    assert events[-1] != "[DONE]" and "[DONE]" not in events
    import json

    parsed = [json.loads(e) for e in events]
    assert "error" in parsed[-1] and parsed[-1]["error"]["code"] == "upstream_stream_error"
    content = [c for c in parsed[:-1] if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) == 3  # exactly what the upstream delivered, nothing repeated
    assert {c["model"] for c in parsed[:-1]} == {"deepseek/deepseek-chat"}
    [row] = usage(rid)
    assert row.status == "stream_interrupted" and row.attempts == 1
    delivered = sum(len(c["choices"][0]["delta"]["content"]) for c in content)
    assert row.usage_estimated and row.completion_tokens == (delivered + 3) // 4
    assert row.charged_nusd > 0


def test_fallback_can_be_switched_off(client):
    with pytest.raises(openai.APIStatusError) as exc:
        create(client, extra_headers={**fault("deepseek=status:503"), "x-aipower-fallback": "off"})
    assert exc.value.status_code == 502
    assert exc.value.response.headers["x-aipower-attempts"] == "1"
    assert exc.value.body["code"] == "upstream_unavailable"


def test_the_caller_may_supply_its_own_list(client):
    result, headers = create(
        client,
        model="deepseek/deepseek-chat",
        extra_body={"models": ["moonshot/kimi-k2"]},
        extra_headers=fault("deepseek=status:503"),
    )
    assert result.model == "moonshot/kimi-k2"


def test_attempts_stop_at_the_limit(client, sim, usage):
    before = sim.stats()["total"]
    with pytest.raises(openai.APIStatusError) as exc:
        create(client, extra_headers=fault("status:503"))
    assert exc.value.status_code == 502
    assert exc.value.response.headers["x-aipower-attempts"] == "3"
    assert sim.stats()["total"] - before == 3
    [row] = usage(exc.value.response.headers["x-request-id"])
    assert row.status == "upstream_error" and row.charged_nusd == 0 and row.attempts == 3


def test_the_charge_is_the_served_models_price(client, usage, live_db):
    from routing.models import CatalogModel

    result, headers = create(client, extra_headers=fault("deepseek=status:503"))
    [row] = usage(headers["x-request-id"])
    with live_db.unblock():
        qwen = CatalogModel.objects.get(public_id="qwen/qwen-plus")
    expected = (
        row.prompt_tokens * qwen.input_price_usd_micro_per_mtok
        + row.completion_tokens * qwen.output_price_usd_micro_per_mtok
    )
    assert row.upstream_cost_nusd == -(-expected // 1000)
    assert_valid(result.model_dump(exclude_unset=True), "CreateChatCompletionResponse")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_route_moves_past_a_model_whose_format_cannot_express_the_request(client, stream):
    # n=2 has no Anthropic equivalent; auto-code's next target (OpenAI's format) can serve it.
    result, headers = create(client, stream, model="auto-code", n=2)
    served = {c.model for c in result} if stream else {result.model}
    assert served == {"openai/gpt-5.4"}
    assert headers["x-aipower-attempts"] == "1"


def test_a_pinned_model_that_cannot_express_the_request_says_so(client):
    with pytest.raises(openai.BadRequestError) as exc:
        create(client, model="anthropic/claude-sonnet-4", n=2)
    assert exc.value.body["param"] == "n"
