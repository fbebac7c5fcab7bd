"""The simulator's Anthropic Messages format: shapes, the stream's event sequence, tools, validation,
and prompt caching."""

import orjson
import pytest

from simulator.content import estimate_prompt_tokens, estimate_text_tokens
from tests.simulator.helpers import ANTHROPIC_HEADERS, user

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
}


def req(**extra) -> dict:
    return {"model": "claude-sonnet-4-20250514", "max_tokens": 1024, "messages": [user("Hi")], **extra}


async def test_it_answers_a_message_in_anthropics_shape(sim):
    status, _, body = await sim.anthropic(req())
    assert status == 200
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["id"].startswith("msg_")
    assert body["model"] == "claude-sonnet-4-20250514"
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    [block] = body["content"]
    assert block["type"] == "text"
    assert block["text"].startswith("Simulated reply from claude-sonnet-4-20250514:")
    assert body["usage"] == {
        "input_tokens": estimate_prompt_tokens(chars=2, messages=1),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": estimate_text_tokens(block["text"]),
    }


async def test_it_streams_the_exact_event_sequence(sim):
    status, headers, events = await sim.anthropic_sse(req())
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    names = [name for name, _ in events]
    n = len(names)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[3 : n - 3] == ["content_block_delta"] * (n - 6) and n - 6 > 3
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    data = [orjson.loads(d) for _, d in events]
    assert all(d["type"] == name for d, name in zip(data, names, strict=True))
    start = data[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["output_tokens"] == 1
    assert data[1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    deltas = data[3 : n - 3]
    assert all(d["index"] == 0 and d["delta"]["type"] == "text_delta" for d in deltas)
    text = "".join(d["delta"]["text"] for d in deltas)
    whole = (await sim.anthropic(req()))[2]
    assert text == whole["content"][0]["text"]
    assert data[-3] == {"type": "content_block_stop", "index": 0}
    assert data[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert data[-2]["usage"]["output_tokens"] == whole["usage"]["output_tokens"]
    assert start["usage"]["input_tokens"] == whole["usage"]["input_tokens"]


async def test_it_calls_tools_with_input_json_deltas(sim):
    _, _, body = await sim.anthropic(req(tools=[WEATHER, TIME]))
    assert body["stop_reason"] == "tool_use"
    [block] = body["content"]
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
    assert block["name"] == "get_weather" and block["input"] == {"city": "sample city"}

    _, _, events = await sim.anthropic_sse(req(tools=[WEATHER, TIME]), {"x-sim-parallel-tools": "1"})
    data = [orjson.loads(d) for _, d in events]
    assert [d["type"] for d in data[:4]] == ["message_start", "content_block_start", "content_block_delta", "ping"]
    starts = [d for d in data if d["type"] == "content_block_start"]
    assert [(s["index"], s["content_block"]["name"]) for s in starts] == [(0, "get_weather"), (1, "get_time")]
    assert all(s["content_block"]["input"] == {} for s in starts)
    for index, expected in ((0, {"city": "sample city"}), (1, {"tz": "sample tz"})):
        pieces = [
            d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta" and d["index"] == index
        ]
        assert all(d["delta"]["type"] == "input_json_delta" for d in data if d["type"] == "content_block_delta")
        assert len([p for p in pieces if p]) >= 2  # several pieces
        assert orjson.loads("".join(pieces)) == expected
    assert [d["index"] for d in data if d["type"] == "content_block_stop"] == [0, 1]
    assert data[-2]["delta"]["stop_reason"] == "tool_use"
    assert data[-1] == {"type": "message_stop"}


async def test_tool_choice_and_disabled_parallel_use(sim):
    _, _, body = await sim.anthropic(req(tools=[WEATHER, TIME], tool_choice={"type": "tool", "name": "get_time"}))
    assert [b["name"] for b in body["content"]] == ["get_time"]
    _, _, body = await sim.anthropic(req(tools=[WEATHER, TIME], tool_choice={"type": "none"}))
    assert body["content"][0]["type"] == "text"
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    _, _, body = await sim.anthropic(req(tools=[WEATHER, TIME], tool_choice=choice), {"x-sim-parallel-tools": "1"})
    assert len(body["content"]) == 1


async def test_after_a_tool_result_it_answers_in_text(sim):
    messages = [
        user("Weather?"),
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "Rainy, 12 C"}]}
            ],
        },
    ]
    _, _, body = await sim.anthropic(req(messages=messages, tools=[WEATHER]))
    assert body["stop_reason"] == "end_turn"
    assert "Rainy, 12 C" in body["content"][0]["text"]


async def test_it_maps_finish_reasons_to_stop_reasons(sim):
    expected = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
    for finish, reason in expected.items():
        _, _, body = await sim.anthropic(req(), {"x-sim-finish": finish})
        assert body["stop_reason"] == reason
    _, _, body = await sim.anthropic(req(max_tokens=5))
    assert body["stop_reason"] == "max_tokens" and body["usage"]["output_tokens"] == 5


async def test_it_stops_before_a_stop_sequence_and_names_it(sim):
    # The reply starts "Simulated reply from claude-sonnet-4-20250514:".
    _, _, body = await sim.anthropic(req(stop_sequences=["never said", " from", "4-2025"]))
    assert body["content"] == [{"type": "text", "text": "Simulated reply"}]
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", " from")
    assert body["usage"]["output_tokens"] == estimate_text_tokens("Simulated reply")
    _, _, events = await sim.anthropic_sse(req(stop_sequences=["never said", " from"]))
    data = [orjson.loads(d) for _, d in events]
    assert "".join(d["delta"]["text"] for d in data if d["type"] == "content_block_delta") == "Simulated reply"
    assert data[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": " from"}
    assert data[-2]["usage"]["output_tokens"] == body["usage"]["output_tokens"]
    # One that is never generated changes nothing; a bad list is refused as Anthropic does.
    _, _, body = await sim.anthropic(req(stop_sequences=["never said"]))
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    status, _, body = await sim.anthropic(req(stop_sequences="END"))
    assert status == 400 and "stop_sequences" in body["error"]["message"]


async def test_it_sees_image_blocks(sim):
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "text", "text": "What is it?"},
    ]
    _, _, body = await sim.anthropic(req(messages=[{"role": "user", "content": content}]))
    assert "I see 1 image." in body["content"][0]["text"]
    assert body["usage"]["input_tokens"] == estimate_prompt_tokens(chars=11, messages=1, images=1)


async def test_it_can_report_no_usage(sim):
    _, _, body = await sim.anthropic(req(), {"x-sim-no-usage": "1"})
    assert "usage" not in body
    _, _, events = await sim.anthropic_sse(req(), {"x-sim-no-usage": "1"})
    assert all("usage" not in orjson.loads(d).get("message", orjson.loads(d)) for _, d in events)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"model": "c", "messages": [user()]}, "max_tokens: Field required"),
        ({"model": "c", "max_tokens": 10}, "messages: Field required"),
        ({"model": "c", "max_tokens": 10, "messages": []}, "messages: at least one message is required"),
        ({"model": "c", "max_tokens": 10, "messages": [{"role": "assistant", "content": "x"}]}, "first message"),
        ({"model": "c", "max_tokens": 10, "messages": [user(), user()]}, "roles must alternate"),
        (
            {"model": "c", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}, user()]},
            'Unexpected role "system"',
        ),
    ],
)
async def test_it_rejects_what_anthropic_rejects(sim, body, message):
    status, _, error = await sim.anthropic(body)
    assert status == 400
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]


async def test_it_wants_a_key_a_version_and_json(sim):
    status, _, body = await sim.post("/p/anthropic/v1/messages", req(), {"anthropic-version": "2023-06-01"})
    assert status == 401 and body["error"]["type"] == "authentication_error"
    status, _, body = await sim.post("/p/anthropic/v1/messages", req(), {"x-api-key": "k"})
    assert status == 400 and "anthropic-version" in body["error"]["message"]
    status, _, body = await sim.post("/p/anthropic/v1/messages", raw=b"[oops", headers=ANTHROPIC_HEADERS)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


LONG_SYSTEM = "You are a meticulous assistant. " * 40  # 1280 characters


def cached_req(question: str, model: str = "claude-sonnet-4-20250514", history=()) -> dict:
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    return {"model": model, "max_tokens": 100, "system": system, "messages": [*history, user(question)]}


async def test_a_cached_prefix_is_written_once_then_read(sim):
    _, _, first = await sim.anthropic(cached_req("First question?"))
    prefix = estimate_prompt_tokens(chars=len(LONG_SYSTEM), messages=1)
    total = estimate_prompt_tokens(chars=len(LONG_SYSTEM) + len("First question?"), messages=2)
    assert first["usage"]["cache_creation_input_tokens"] == prefix
    assert first["usage"]["cache_read_input_tokens"] == 0
    assert first["usage"]["input_tokens"] == total - prefix

    _, _, second = await sim.anthropic(cached_req("Another question, longer?"))
    assert second["usage"]["cache_creation_input_tokens"] == 0
    assert second["usage"]["cache_read_input_tokens"] == prefix
    assert (
        second["usage"]["input_tokens"]
        == estimate_prompt_tokens(chars=len(LONG_SYSTEM) + len("Another question, longer?"), messages=2) - prefix
    )

    # The cache is per model, and streams report it in message_start.
    _, _, events = await sim.anthropic_sse(cached_req("First question?", model="claude-3-5-haiku"))
    start = orjson.loads(events[0][1])["message"]["usage"]
    assert start["cache_creation_input_tokens"] == prefix and start["cache_read_input_tokens"] == 0


async def test_a_longer_cached_prefix_reads_the_shorter_one_and_writes_the_rest(sim):
    await sim.anthropic(cached_req("First question?"))
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Earlier question, quite long. " * 10}]},
        {"role": "assistant", "content": "Earlier answer."},
    ]
    body = cached_req("Now?", history=history)
    body["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral"}
    _, _, out = await sim.anthropic(body)
    short = estimate_prompt_tokens(chars=len(LONG_SYSTEM), messages=1)
    long = estimate_prompt_tokens(chars=len(LONG_SYSTEM) + 300, messages=2)
    assert out["usage"]["cache_read_input_tokens"] == short
    assert out["usage"]["cache_creation_input_tokens"] == long - short
    _, _, again = await sim.anthropic(body)
    assert again["usage"]["cache_read_input_tokens"] == long
    assert again["usage"]["cache_creation_input_tokens"] == 0


async def test_cache_writes_are_split_by_lifetime_as_anthropic_bills_them(sim):
    # A model of its own: the cache outlives a test. The system prompt marked for one hour, the
    # history after it for five minutes.
    body = cached_req("Now?", model="claude-ttl", history=[user("Earlier question, quite long. " * 10)])
    body["system"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    body["messages"][0]["content"] = [{"type": "text", "text": "Earlier question, quite long. " * 10}]
    body["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral", "ttl": "5m"}
    body["messages"].insert(1, {"role": "assistant", "content": "Earlier answer."})
    short = estimate_prompt_tokens(chars=len(LONG_SYSTEM), messages=1)
    long = estimate_prompt_tokens(chars=len(LONG_SYSTEM) + 300, messages=2)

    _, _, first = await sim.anthropic(body)
    assert first["usage"]["cache_creation_input_tokens"] == long and first["usage"]["cache_read_input_tokens"] == 0
    assert first["usage"]["cache_creation"] == {
        "ephemeral_1h_input_tokens": short,
        "ephemeral_5m_input_tokens": long - short,
    }
    # Streams say it in message_start; a read of it all writes nothing.
    _, _, events = await sim.anthropic_sse({**body, "stream": True})
    start = orjson.loads(events[0][1])["message"]["usage"]
    assert start["cache_read_input_tokens"] == long
    assert start["cache_creation"] == {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0}


@pytest.mark.parametrize(
    "ttls, message",
    [(("2h",), "Input should be '5m' or '1h'"), (("5m", "1h"), "ttl='1h' may not come after one with ttl='5m'")],
)
async def test_a_cache_ttl_anthropic_refuses_is_a_400(sim, ttls, message):
    system = [
        {"type": "text", "text": f"Part {i}. " * 20, "cache_control": {"type": "ephemeral", "ttl": t}}
        for i, t in enumerate(ttls)
    ]
    status, _, body = await sim.anthropic({**req(), "system": system})
    assert status == 400 and message in body["error"]["message"]


async def test_without_cache_control_nothing_is_cached(sim):
    body = {"model": "c", "max_tokens": 100, "system": LONG_SYSTEM, "messages": [user()]}
    for _ in range(2):
        _, _, out = await sim.anthropic(body)
        assert out["usage"]["cache_creation_input_tokens"] == 0
        assert out["usage"]["cache_read_input_tokens"] == 0


async def test_cache_control_on_a_tool_caches_the_tools(sim):
    tools = [WEATHER, {**TIME, "cache_control": {"type": "ephemeral"}}]
    _, _, first = await sim.anthropic(req(tools=tools, tool_choice={"type": "none"}))
    _, _, second = await sim.anthropic(
        req(tools=tools, tool_choice={"type": "none"}, messages=[user("Something else entirely")])
    )
    assert first["usage"]["cache_creation_input_tokens"] > 0
    assert second["usage"]["cache_read_input_tokens"] == first["usage"]["cache_creation_input_tokens"]
