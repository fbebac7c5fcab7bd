"""/v1/messages and /v1/messages/count_tokens through the official anthropic SDK, against a real
gateway and the provider simulator: routes, pinned models of all three wire formats, failover,
streaming with Anthropic's event sequence, tools, images, caching, stop sequences, billing and
errors."""

import base64
import uuid

import anthropic
import httpx
import orjson
import pytest

from simulator.content import TOKENS_PER_PDF_PAGE
from tests.adapters.test_through_gateway import catalog_prices, expected_cost, price_1h
from tests.media import pdf

HELLO = [{"role": "user", "content": "Refactor this function, please."}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002"
        "00015e2a0e8d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture
def claude(gateway, tenant):
    with anthropic.Anthropic(base_url=gateway.url, api_key=tenant.key, max_retries=0, timeout=30) as c:
        yield c


def assert_message_shape(msg: dict) -> None:
    """Anthropic's documented Message object."""
    assert set(msg) >= {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert msg["id"].startswith("msg_") and msg["type"] == "message" and msg["role"] == "assistant"
    assert msg["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal")
    for block in msg["content"]:
        assert block["type"] in ("text", "tool_use", "thinking")
    assert set(msg["usage"]) >= {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }


def test_it_serves_a_route_and_records_it_like_a_completion(claude, usage):
    raw = claude.messages.with_raw_response.create(
        model="auto-code", max_tokens=256, messages=HELLO, system="You are terse."
    )
    msg = raw.parse()
    assert msg.model == "anthropic/claude-sonnet-4"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert raw.headers["x-aipower-route"] == "auto-code"
    assert_message_shape(raw.http_response.json())
    [row] = usage(raw.headers["x-request-id"])
    assert (row.requested_model, row.route, row.served_model) == ("auto-code", "auto-code", "anthropic/claude-sonnet-4")
    assert row.status == "ok" and row.prompt_tokens == msg.usage.input_tokens > 0
    assert row.completion_tokens == msg.usage.output_tokens > 0
    assert row.charged_nusd > row.upstream_cost_nusd > 0


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4.5", "google/gemini-2.5-flash", "openai/gpt-4o-mini"])
def test_pinned_models_of_every_wire_format(claude, model, usage):
    multi = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            ],
        },
    ]
    raw = claude.messages.with_raw_response.create(
        model=model,
        max_tokens=200,
        messages=multi,
        system=[{"type": "text", "text": "Be kind."}],
        stop_sequences=["\n\nHuman:"],
        extra_body={"temperature": 0.5},
    )
    msg = raw.parse()
    assert msg.model == model and msg.content[0].text
    assert_message_shape(raw.http_response.json())
    [row] = usage(raw.headers["x-request-id"])
    assert row.served_model == model and row.prompt_tokens > 0

    with claude.messages.stream(model=model, max_tokens=200, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text and final.model == model
    assert final.usage.output_tokens > 0 and final.stop_reason == "end_turn"


def _events(resp: httpx.Response) -> list[tuple[str, dict]]:
    out = []
    for block in resp.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = orjson.loads(lines["data"])
        assert data["type"] == lines["event"]
        out.append((lines["event"], data))
    return out


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4", "qwen/qwen-plus"])
def test_the_stream_is_anthropics_event_sequence(gateway, tenant, model, usage):
    resp = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": tenant.key, "anthropic-version": "2023-06-01"},
        json={"model": model, "max_tokens": 100, "messages": HELLO, "stream": True},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = _events(resp)
    names = [e for e, _ in events]
    assert names[:4] == ["message_start", "ping", "content_block_start", "content_block_delta"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_") and start["model"] == model and start["content"] == []
    assert events[2][1]["content_block"] == {"type": "text", "text": ""}
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    [row] = usage(resp.headers["x-request-id"])
    assert row.stream and row.completion_tokens == delta["usage"]["output_tokens"] > 0
    assert row.prompt_tokens == delta["usage"]["input_tokens"] > 0


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4", "openai/gpt-4o-mini", "google/gemini-2.5-pro"])
def test_tools_round_trip(claude, model):
    first = claude.messages.create(
        model=model,
        max_tokens=300,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    second = claude.messages.create(
        model=model,
        max_tokens=300,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}]},
        ],
    )
    assert second.stop_reason == "end_turn" and second.content[0].text

    with claude.messages.stream(
        model=model,
        max_tokens=300,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    ) as stream:
        final = stream.get_final_message()
    [streamed] = [b for b in final.content if b.type == "tool_use"]
    assert streamed.name == "get_weather" and "city" in streamed.input and final.stop_reason == "tool_use"


def test_prompt_caching_reaches_anthropic_and_is_priced(claude, usage):
    system = [
        {
            "type": "text",
            "text": f"Policy {uuid.uuid4()}: " + "Be precise and careful. " * 300,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    rows = []
    for _ in range(2):
        raw = claude.messages.with_raw_response.create(
            model="anthropic/claude-sonnet-4", max_tokens=50, system=system, messages=HELLO
        )
        msg = raw.parse()
        [row] = usage(raw.headers["x-request-id"])
        rows.append((msg.usage, row))
    (u1, r1), (u2, r2) = rows
    assert u1.cache_creation_input_tokens > 0 and u1.cache_read_input_tokens == 0
    assert u2.cache_read_input_tokens == u1.cache_creation_input_tokens and u2.cache_creation_input_tokens == 0
    assert r1.cache_write_tokens == u1.cache_creation_input_tokens
    assert r2.cached_tokens == u2.cache_read_input_tokens
    assert r1.charged_nusd > r2.charged_nusd  # writes at 1.25x input, reads at 0.1x


def _cached_tool_result(claude, cache_control: dict) -> list:
    """A conversation whose last turn is a long tool result marked with `cache_control`."""
    first = claude.messages.create(
        model="anthropic/claude-sonnet-4",
        max_tokens=300,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Paris?"}],
    )
    [call] = [b for b in first.content if b.type == "tool_use"]
    long_result = f"{uuid.uuid4()} " + "Sunny with light wind. " * 300
    return [
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": [call.model_dump()]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": long_result, "cache_control": cache_control}
            ],
        },
    ]


def test_a_cached_tool_result_is_cached_upstream(claude):
    history = _cached_tool_result(claude, {"type": "ephemeral"})
    one = claude.messages.create(model="anthropic/claude-sonnet-4", max_tokens=50, tools=[WEATHER], messages=history)
    two = claude.messages.create(model="anthropic/claude-sonnet-4", max_tokens=50, tools=[WEATHER], messages=history)
    assert one.usage.cache_creation_input_tokens > 1000
    assert two.usage.cache_read_input_tokens == one.usage.cache_creation_input_tokens


def _big_tool() -> dict:
    # A tool of its own for each test: the simulator's prompt cache outlives a test.
    return {
        "name": "search_manual",
        "description": f"Manual {uuid.uuid4()}: " + "Searches the manual for a passage. " * 200,
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"},
    }


@pytest.mark.parametrize("stream", [False, True])
def test_cached_tool_definitions_reach_claude_and_are_priced(claude, usage, live_db, stream):
    tools = [WEATHER, _big_tool()]
    answers = []
    for _ in range(2):
        if stream:
            with claude.messages.stream(
                model="anthropic/claude-sonnet-4", max_tokens=50, tools=tools, messages=HELLO
            ) as s:
                msg = s.get_final_message()
                request_id = s.response.headers["x-request-id"]
        else:
            raw = claude.messages.with_raw_response.create(
                model="anthropic/claude-sonnet-4", max_tokens=50, tools=tools, messages=HELLO
            )
            msg, request_id = raw.parse(), raw.headers["x-request-id"]
        [row] = usage(request_id)
        answers.append((msg.usage, row))
    (u1, r1), (u2, r2) = answers
    # Without the mark on the tool Claude would cache nothing: the tools are the whole prefix.
    assert u1.cache_creation_input_tokens > 1000 and u1.cache_read_input_tokens == 0
    assert u2.cache_read_input_tokens == u1.cache_creation_input_tokens and u2.cache_creation_input_tokens == 0
    assert u1.input_tokens == u2.input_tokens > 0  # what follows the cached tools
    assert (r1.cache_write_tokens, r1.cached_tokens) == (u1.cache_creation_input_tokens, 0)
    assert (r2.cache_write_tokens, r2.cached_tokens) == (0, u2.cache_read_input_tokens)
    assert r1.prompt_tokens == u1.input_tokens + u1.cache_creation_input_tokens
    assert r2.prompt_tokens == u2.input_tokens + u2.cache_read_input_tokens
    # Charged at the catalog's cache-write and cached-input prices.
    model = "anthropic/claude-sonnet-4"
    assert r1.upstream_cost_nusd == expected_cost(
        live_db, model, prompt=r1.prompt_tokens, cached=0, completion=r1.completion_tokens, write=r1.cache_write_tokens
    )
    assert r2.upstream_cost_nusd == expected_cost(
        live_db, model, prompt=r2.prompt_tokens, cached=r2.cached_tokens, completion=r2.completion_tokens
    )
    assert r1.upstream_cost_nusd > r2.upstream_cost_nusd


def _send(claude, stream: bool, **kw):
    """(the message, its cache writes split by lifetime as (1 hour, 5 minutes), its usage row's
    request id), streamed or not. A stream says the split on message_delta (its message_start
    goes out before the upstream has counted anything), which the SDK does not fold into the
    final message."""
    if stream:
        with claude.messages.stream(**kw) as s:
            [delta] = [e for e in s if e.type == "message_delta"]
            msg = s.get_final_message()
            split = delta.usage.cache_creation  # a field the SDK's MessageDeltaUsage does not declare: a dict
            assert msg.usage.cache_creation is None  # not a count of zero the stream cannot know yet
            return (
                msg,
                (split["ephemeral_1h_input_tokens"], split["ephemeral_5m_input_tokens"]),
                s.response.headers["x-request-id"],
            )
    raw = claude.messages.with_raw_response.create(**kw)
    msg = raw.parse()
    split = (msg.usage.cache_creation.ephemeral_1h_input_tokens, msg.usage.cache_creation.ephemeral_5m_input_tokens)
    return msg, split, raw.headers["x-request-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_one_hour_and_five_minute_marks_are_charged_at_their_own_prices(claude, usage, live_db, stream):
    # Claude Code's layout: the tools and the system prompt cached for one hour, the conversation
    # so far for five minutes (1-hour marks first, as Anthropic requires).
    model = "anthropic/claude-sonnet-4"
    tools = [WEATHER, {**_big_tool(), "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    system = [
        {
            "type": "text",
            "text": f"Policy {uuid.uuid4()}: " + "Be precise and careful. " * 300,
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    history = f"Notes {uuid.uuid4()}: " + "We looked at the parser again. " * 300
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": history, "cache_control": {"type": "ephemeral", "ttl": "5m"}},
                {"type": "text", "text": "What next?"},
            ],
        }
    ]
    kw = {"model": model, "max_tokens": 50, "tools": tools, "system": system, "messages": messages}
    first, (hour, five), rid1 = _send(claude, stream, **kw)
    second, split2, rid2 = _send(claude, stream, **kw)
    [r1] = usage(rid1)
    [r2] = usage(rid2)

    u1 = first.usage
    assert hour > 2000 and five > 1000 and u1.cache_creation_input_tokens == hour + five  # tools + system; notes
    assert (r1.cache_write_tokens, r1.cache_write_1h_tokens, r1.cached_tokens) == (hour + five, hour, 0)
    assert r1.prompt_tokens == u1.input_tokens + hour + five
    # The second call reads all of it back, at the cached-input price, whatever lifetime it was written for.
    u2 = second.usage
    assert u2.cache_read_input_tokens == hour + five and u2.cache_creation_input_tokens == 0
    assert split2 == (0, 0)
    assert (r2.cache_write_tokens, r2.cache_write_1h_tokens, r2.cached_tokens) == (0, 0, hour + five)

    # By hand, from the catalog's prices (Sonnet 4: input $3, 5-minute writes $3.75, 1-hour writes $6).
    inp, out, cached_price, write_price = catalog_prices(live_db, model)
    hour_price = price_1h(live_db, model)
    assert (write_price, hour_price) == (inp * 5 // 4, inp * 2)
    pico = u1.input_tokens * inp + five * write_price + hour * hour_price + r1.completion_tokens * out
    assert r1.upstream_cost_nusd == -(-pico // 1000)
    assert r1.upstream_cost_nusd == expected_cost(
        live_db,
        model,
        prompt=r1.prompt_tokens,
        cached=0,
        completion=r1.completion_tokens,
        write=hour + five,
        write_1h=hour,
    )
    pico2 = u2.input_tokens * inp + (hour + five) * cached_price + r2.completion_tokens * out
    assert r2.upstream_cost_nusd == -(-pico2 // 1000)


def test_a_one_hour_mark_on_a_tool_result_is_charged_at_the_one_hour_price(claude, usage, live_db):
    history = _cached_tool_result(claude, {"type": "ephemeral", "ttl": "1h"})
    raw = claude.messages.with_raw_response.create(
        model="anthropic/claude-sonnet-4", max_tokens=50, tools=[WEATHER], messages=history
    )
    msg = raw.parse()
    [row] = usage(raw.headers["x-request-id"])
    written = msg.usage.cache_creation_input_tokens
    assert written > 1000 and msg.usage.cache_creation.ephemeral_1h_input_tokens == written
    assert (row.cache_write_tokens, row.cache_write_1h_tokens) == (written, written)
    assert row.upstream_cost_nusd == expected_cost(
        live_db,
        "anthropic/claude-sonnet-4",
        prompt=row.prompt_tokens,
        cached=0,
        completion=row.completion_tokens,
        write=written,
        write_1h=written,
    )


def test_a_one_hour_mark_after_a_five_minute_one_is_refused_as_anthropic_does(claude):
    system = [
        {"type": "text", "text": "Be brief. " * 50, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be kind. " * 50, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model="anthropic/claude-sonnet-4", max_tokens=50, system=system, messages=HELLO)
    assert "ttl='1h'" in str(e.value)


def test_a_cached_content_block_is_cached_upstream(claude):
    long = {
        "type": "text",
        "text": f"Report {uuid.uuid4()}: " + "The figures went up again. " * 300,
        "cache_control": {"type": "ephemeral"},
    }
    messages = [{"role": "user", "content": [long, {"type": "text", "text": "Summarise the report."}]}]
    one = claude.messages.create(model="anthropic/claude-sonnet-4", max_tokens=50, messages=messages)
    two = claude.messages.create(model="anthropic/claude-sonnet-4", max_tokens=50, messages=messages)
    assert one.usage.cache_creation_input_tokens > 1000 and one.usage.cache_read_input_tokens == 0
    assert two.usage.cache_read_input_tokens == one.usage.cache_creation_input_tokens
    assert two.usage.input_tokens == one.usage.input_tokens > 0  # the question after the mark


def test_a_cached_tool_still_works_on_other_vendors(claude):
    for model in ("openai/gpt-4o-mini", "google/gemini-2.5-flash"):
        msg = claude.messages.create(model=model, max_tokens=50, tools=[_big_tool()], messages=HELLO)
        assert msg.content and msg.usage.cache_creation_input_tokens == msg.usage.cache_read_input_tokens == 0


# --- stop sequences ----------------------------------------------------------------------------

# The simulated models start their answers with "Simulated reply from <model>:".
STOPS = ["never said", " from"]


def _ask(claude, stream: bool, **kw) -> tuple:
    """(the final Message, its request id), streamed or not."""
    if stream:
        with claude.messages.stream(max_tokens=100, messages=HELLO, **kw) as s:
            text = "".join(s.text_stream)
            msg = s.get_final_message()
            assert msg.content[0].text == text
            return msg, s.response.headers["x-request-id"]
    raw = claude.messages.with_raw_response.create(max_tokens=100, messages=HELLO, **kw)
    return raw.parse(), raw.headers["x-request-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_sequence_that_ends_claudes_answer_is_named(claude, usage, stream):
    msg, request_id = _ask(claude, stream, model="anthropic/claude-sonnet-4", stop_sequences=STOPS)
    assert msg.content[0].text == "Simulated reply"  # the sequence itself is not part of the answer
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", " from")
    [row] = usage(request_id)
    assert row.status == "ok" and row.completion_tokens == msg.usage.output_tokens == 4
    # The earlier of two stop sequences wins, and a stop sequence that never comes changes nothing.
    early, _ = _ask(claude, stream, model="anthropic/claude-sonnet-4", stop_sequences=[" from", "ated"])
    assert (early.content[0].text, early.stop_sequence) == ("Simul", "ated")
    plain, _ = _ask(claude, stream, model="anthropic/claude-sonnet-4", stop_sequences=["never said"])
    assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)


def test_the_stream_names_the_stop_sequence_in_message_delta(gateway, tenant):
    resp = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": tenant.key, "anthropic-version": "2023-06-01"},
        json={
            "model": "anthropic/claude-sonnet-4",
            "max_tokens": 100,
            "messages": HELLO,
            "stop_sequences": STOPS,
            "stream": True,
        },
        timeout=30,
    )
    events = _events(resp)
    assert events[0][1]["message"]["stop_reason"] is None and events[0][1]["message"]["stop_sequence"] is None
    [(_, delta)] = [e for e in events if e[0] == "message_delta"]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": " from"}
    assert [e for e, _ in events][-1] == "message_stop"


@pytest.mark.parametrize("field", ["stop_reason", "matched_stop"])
@pytest.mark.parametrize("stream", [False, True])
def test_an_openai_format_server_that_names_the_stop_sequence_is_believed(claude, field, stream):
    # vLLM names the matched stop string in the choice's stop_reason, SGLang in matched_stop.
    msg, _ = _ask(
        claude, stream, model="qwen/qwen-plus", stop_sequences=STOPS, extra_headers={"x-sim-stop-field": field}
    )
    assert msg.content[0].text == "Simulated reply"
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", " from")
    plain, _ = _ask(
        claude, stream, model="qwen/qwen-plus", stop_sequences=["never said"], extra_headers={"x-sim-stop-field": field}
    )
    assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "google/gemini-2.5-flash"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_sequence_the_upstream_does_not_name_is_an_end_turn(claude, model, stream):
    # OpenAI and Gemini stop at the sequence but say only "stop": the gateway does not guess.
    msg, _ = _ask(claude, stream, model=model, stop_sequences=STOPS)
    assert msg.content[0].text == "Simulated reply"
    assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)


@pytest.mark.parametrize("stream", [False, True])
def test_the_chat_endpoint_keeps_openais_shape_for_a_stop_sequence(gateway, tenant, stream):
    resp = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {tenant.key}"},
        json={"model": "anthropic/claude-sonnet-4", "messages": HELLO, "stop": STOPS, "stream": stream},
        timeout=30,
    )
    assert resp.status_code == 200
    if stream:
        chunks = [orjson.loads(line[6:]) for line in resp.text.split("\n") if line.startswith("data: {")]
        choices = [c for chunk in chunks for c in chunk["choices"]]
        assert "".join(c["delta"].get("content") or "" for c in choices) == "Simulated reply"
        [last] = [c for c in choices if c["finish_reason"]]
    else:
        [last] = resp.json()["choices"]
        assert last["message"]["content"] == "Simulated reply"
    assert last["finish_reason"] == "stop"
    assert set(last) <= {"index", "message", "delta", "finish_reason", "logprobs"}


def test_thinking_goes_to_claude_as_asked_and_elsewhere_as_reasoning(claude, gateway, tenant):
    msg = claude.messages.create(
        model="anthropic/claude-sonnet-4",
        max_tokens=4000,
        messages=HELLO,
        thinking={"type": "enabled", "budget_tokens": 2048},
    )
    assert msg.content[-1].text
    resp = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": tenant.key},
        json={
            "model": "deepseek/deepseek-reasoner",
            "max_tokens": 4000,
            "messages": HELLO,
            "thinking": {"type": "enabled", "budget_tokens": 8000},
        },
        timeout=30,
    )
    body = resp.json()
    assert resp.status_code == 200 and body["content"][0]["type"] == "thinking" and body["content"][0]["thinking"]
    bad = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": tenant.key},
        json={"model": "auto", "max_tokens": 10, "messages": HELLO, "thinking": {"type": "sometimes"}},
    )
    assert bad.status_code == 400 and "thinking" in bad.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_adaptive_thinking_and_effort_reach_every_model_in_a_form_it_takes(claude, stream):
    """Claude 4.6's adaptive thinking with output_config.effort, as the SDK sends it: Opus 4.6
    takes both as they are; Sonnet 4 (which the simulator, like Anthropic, refuses adaptive
    thinking and effort) thinks on a budget instead; DeepSeek's reasoner thinks at that effort."""
    ask = {"max_tokens": 8000, "messages": HELLO, "thinking": {"type": "adaptive"}}
    for model, effort in (
        ("anthropic/claude-opus-4.6", "max"),
        ("anthropic/claude-sonnet-4", "low"),
        ("deepseek/deepseek-reasoner", "medium"),
    ):
        if stream:
            with claude.messages.stream(model=model, output_config={"effort": effort}, **ask) as s:
                msg = s.get_final_message()
        else:
            msg = claude.messages.create(model=model, output_config={"effort": effort}, **ask)
        assert msg.model == model
        assert msg.content[0].type == "thinking" and msg.content[0].thinking, model
        assert msg.content[-1].type == "text" and msg.content[-1].text
        if model.startswith("anthropic/"):
            assert msg.content[0].signature.startswith("sig_")  # Claude's own signed block
    # Effort alone, to a model that takes it and to one that does not.
    for model in ("anthropic/claude-opus-4.6", "anthropic/claude-haiku-4.5", "auto"):
        plain = claude.messages.create(model=model, max_tokens=200, messages=HELLO, output_config={"effort": "low"})
        assert plain.content[0].type == "text" and plain.content[0].text


def test_a_json_schema_output_config_holds_on_every_vendor(claude):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    for model in ("anthropic/claude-sonnet-4", "openai/gpt-5.4", "google/gemini-2.5-flash", "deepseek/deepseek-chat"):
        msg = claude.messages.create(
            model=model,
            max_tokens=300,
            messages=[{"role": "user", "content": "The largest city in France, as JSON."}],
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
        answer = orjson.loads(msg.content[0].text)
        assert set(answer) == {"city", "population"} and isinstance(answer["population"], int), model
        assert msg.stop_reason == "end_turn"
    # With thinking on: Claude does not think while the JSON tool is forced, so it answers without.
    for model in ("anthropic/claude-opus-4.6", "anthropic/claude-sonnet-4"):
        msg = claude.messages.create(
            model=model,
            max_tokens=8000,
            messages=[{"role": "user", "content": "The largest city in France, as JSON."}],
            thinking={"type": "adaptive"},
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
        assert [b.type for b in msg.content] == ["text"], model
        assert set(orjson.loads(msg.content[0].text)) == {"city", "population"}


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("output_config", {"effort": "extreme"}, "output_config.effort"),
        ("output_config", {"verbosity": "low"}, "output_config.verbosity"),
        ("output_config", "high", "output_config"),
        ("output_config", {"format": {"type": "json_object"}}, "output_config.format.type"),
        ("output_config", {"format": {"type": "json_schema"}}, "output_config.format.schema"),
        ("thinking", {"type": "adaptive", "display": "loud"}, "thinking.display"),
    ],
)
def test_a_bad_output_config_or_thinking_is_refused_in_anthropics_shape(gateway, tenant, field, value, named):
    resp = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": tenant.key},
        json={"model": "auto", "max_tokens": 100, "messages": HELLO, field: value},
        timeout=30,
    )
    body = resp.json()
    assert resp.status_code == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(named)


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_with_tools_keeps_claudes_signed_blocks_across_turns(claude, stream):
    ask = {
        "model": "anthropic/claude-sonnet-4",
        "max_tokens": 4000,
        "tools": [WEATHER],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    turn = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with claude.messages.stream(messages=turn, tool_choice={"type": "auto"}, **ask) as s:
            first = s.get_final_message()
    else:
        first = claude.messages.create(messages=turn, **ask)
    kinds = [b.type for b in first.content]
    assert kinds[0] == "thinking" and "tool_use" in kinds and first.stop_reason == "tool_use"
    assert first.content[0].signature.startswith("sig_") and first.content[0].thinking
    [call] = [b for b in first.content if b.type == "tool_use"]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}]}
    second = claude.messages.create(
        messages=turn
        + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}, result],
        **ask,
    )
    assert second.content[-1].type == "text" and second.stop_reason == "end_turn"
    # Anthropic refuses the turn without its signed thinking block (the simulator enforces the rule).
    with pytest.raises(anthropic.BadRequestError) as exc:
        claude.messages.create(messages=turn + [{"role": "assistant", "content": [call.model_dump()]}, result], **ask)
    assert "thinking" in exc.value.body["error"]["message"]


def test_it_fails_over_behind_the_messages_api(claude, sim, usage):
    sim.fault("anthropic", "status:503", count=2)
    raw = claude.messages.with_raw_response.create(model="auto-code", max_tokens=100, messages=HELLO)
    assert raw.parse().model == "openai/gpt-5.4"
    assert raw.headers["x-aipower-fallback-from"] == "anthropic/claude-sonnet-4"
    [row] = usage(raw.headers["x-request-id"])
    assert row.attempts == 2 and row.served_model == "openai/gpt-5.4"
    with claude.messages.stream(model="auto-code", max_tokens=100, messages=HELLO) as stream:
        assert stream.get_final_message().model == "openai/gpt-5.4"


def document(pages: int) -> list:
    return [
        {
            "role": "user",
            "content": [
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": pdf(pages)},
                    "title": "report.pdf",
                },
                {"type": "text", "text": "Summarize the report."},
            ],
        }
    ]


def test_a_document_on_auto_goes_to_a_model_that_reads_pdfs(claude, usage, sim):
    deepseek = sim.hits("deepseek")
    raw = claude.messages.with_raw_response.create(model="auto", max_tokens=256, messages=document(2))
    msg = raw.parse()
    # auto's economy tier opens with DeepSeek V3 and Qwen Plus, which take no files.
    assert msg.model == "openai/gpt-4o-mini"
    assert "I read 2 PDF pages." in msg.content[0].text
    assert "PDF documents: skipped deepseek/deepseek-chat" in raw.headers["x-aipower-route-reason"]
    assert sim.hits("deepseek") == deepseek
    assert msg.usage.input_tokens > 2 * TOKENS_PER_PDF_PAGE
    [row] = usage(raw.headers["x-request-id"])
    assert row.status == "ok" and row.prompt_tokens == msg.usage.input_tokens and row.charged_nusd > 0


def test_a_document_reaches_claude_as_a_document_and_is_counted(claude, usage, live_db):
    model = "anthropic/claude-haiku-4.5"
    counted = claude.messages.count_tokens(model=model, messages=document(3)).input_tokens
    raw = claude.messages.with_raw_response.create(model=model, max_tokens=64, messages=document(3))
    msg = raw.parse()
    assert "I read 3 PDF pages." in msg.content[0].text
    assert msg.usage.input_tokens == counted > 3 * TOKENS_PER_PDF_PAGE
    [row] = usage(raw.headers["x-request-id"])
    cost = expected_cost(live_db, model, prompt=counted, cached=0, completion=msg.usage.output_tokens)
    assert row.upstream_cost_nusd == cost


def test_a_document_for_a_model_that_cannot_read_it_is_refused_in_anthropics_shape(claude, sim):
    before = sim.hits("deepseek")
    with pytest.raises(anthropic.BadRequestError) as exc:
        claude.messages.create(model="deepseek/deepseek-chat", max_tokens=64, messages=document(1))
    assert exc.value.body["error"]["type"] == "invalid_request_error"
    assert "does not accept PDF documents (pdf_input)" in exc.value.body["error"]["message"]
    assert sim.hits("deepseek") == before


def test_errors_have_anthropics_shape_and_status(gateway, tenant, claude):
    with (
        anthropic.Anthropic(base_url=gateway.url, api_key="sk-aip-nope", max_retries=0) as bad,
        pytest.raises(anthropic.AuthenticationError) as exc,
    ):
        bad.messages.create(model="auto", max_tokens=10, messages=HELLO)
    assert exc.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Incorrect API key provided."},
    }
    with pytest.raises(anthropic.NotFoundError) as exc:
        claude.messages.create(model="nobody/nothing", max_tokens=10, messages=HELLO)
    assert exc.value.body["error"]["type"] == "not_found_error"
    missing = httpx.post(
        gateway.url + "/v1/messages",
        headers={"authorization": f"Bearer {tenant.key}"},
        json={"model": "auto", "messages": HELLO},
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required (an integer of at least 1)"},
    }
    with pytest.raises(anthropic.BadRequestError) as exc:
        claude.messages.create(
            model="auto", max_tokens=10, messages=HELLO, tools=[{"type": "web_search_20250305", "name": "web_search"}]
        )
    assert "web_search" in exc.value.body["error"]["message"]


def test_count_tokens_is_anthropics_count_for_claude_and_an_estimate_elsewhere(claude, gateway, tenant, sim):
    long = [{"role": "user", "content": "Count these words please. " * 40}]
    raw = claude.messages.with_raw_response.count_tokens(
        model="anthropic/claude-sonnet-4", messages=long, system="Be brief.", tools=[WEATHER]
    )
    counted = raw.parse().input_tokens
    assert raw.headers["x-aipower-token-count"] == "anthropic"
    # The simulator counts as its Messages endpoint would bill: the same prompt, billed, agrees.
    billed = claude.messages.create(
        model="anthropic/claude-sonnet-4", max_tokens=20, messages=long, system="Be brief.", tools=[WEATHER]
    ).usage.input_tokens
    assert counted == billed > 200
    routed = claude.messages.with_raw_response.count_tokens(model="auto-code", messages=long)
    assert routed.headers["x-aipower-model"] == "anthropic/claude-sonnet-4"
    other = claude.messages.with_raw_response.count_tokens(model="deepseek/deepseek-chat", messages=long)
    assert other.headers["x-aipower-token-count"] == "estimate" and other.parse().input_tokens > 200
    nokey = httpx.post(gateway.url + "/v1/messages/count_tokens", json={"model": "auto", "messages": HELLO})
    assert nokey.status_code == 401 and nokey.json()["error"]["type"] == "authentication_error"


def test_a_claude_code_shaped_request_is_served(gateway, tenant):
    """What a coding agent on the anthropic SDK sends every turn: its betas, a cached system
    prompt in blocks, cached tools, metadata, adaptive thinking with temperature 1, a streamed
    answer, and Anthropic-only extras the gateway cannot apply (context_management), on the
    coding route and on Claude itself."""
    tools = [
        {"name": "Read", "description": "Read a file.", "input_schema": {"type": "object", "properties": {}}},
        {**WEATHER, "cache_control": {"type": "ephemeral"}},
    ]
    with anthropic.Anthropic(
        base_url=gateway.url,
        auth_token=tenant.key,  # Authorization: Bearer, as ANTHROPIC_AUTH_TOKEN sends it
        max_retries=0,
        timeout=30,
        default_headers={"anthropic-beta": "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"},
    ) as agent:
        for model in ("auto-code", "anthropic/claude-opus-4.6"):
            with agent.messages.stream(
                model=model,
                max_tokens=16000,
                system=[
                    {"type": "text", "text": "You are a coding agent."},
                    {"type": "text", "text": "Repository notes. " * 200, "cache_control": {"type": "ephemeral"}},
                ],
                messages=[{"role": "user", "content": [{"type": "text", "text": "Refactor utils.py, please."}]}],
                tools=tools,
                metadata={"user_id": "user_abc_account_def_session_123"},
                thinking={"type": "adaptive"},
                extra_body={
                    "temperature": 1,
                    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
                },
            ) as s:
                msg = s.get_final_message()
            assert msg.stop_reason in ("end_turn", "tool_use"), model
            assert msg.content and msg.usage.output_tokens > 0
            assert msg.content[0].type == "thinking"
