"""The simulator's Gemini format: generateContent, streamGenerateContent (SSE and JSON array), usage,
function calls, JSON mode, images, errors."""

import jsonschema
import orjson

from simulator.content import TOKENS_PER_IMAGE, estimate_prompt_tokens, estimate_text_tokens
from tests.simulator.helpers import GEMINI_HEADERS

MODEL = "gemini-2.5-flash"
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "parameters": {"type": "OBJECT", "properties": {"tz": {"type": "STRING"}}, "required": ["tz"]},
}


def req(text: str = "Hi", **extra) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


async def test_it_answers_generate_content_in_geminis_shape(sim):
    status, _, body = await sim.gemini(MODEL, req())
    assert status == 200
    [candidate] = body["candidates"]
    assert candidate["finishReason"] == "STOP" and candidate["index"] == 0
    assert candidate["content"]["role"] == "model"
    [part] = candidate["content"]["parts"]
    assert part["text"].startswith(f"Simulated reply from {MODEL}:")
    prompt = estimate_prompt_tokens(chars=2, messages=1)
    assert body["usageMetadata"] == {
        "promptTokenCount": prompt,
        "candidatesTokenCount": estimate_text_tokens(part["text"]),
        "totalTokenCount": prompt + estimate_text_tokens(part["text"]),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    assert body["modelVersion"] == MODEL and body["responseId"]


async def test_it_streams_sse_with_the_finish_and_usage_last(sim):
    status, headers, chunks = await sim.stream(
        f"/p/google/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", req(), GEMINI_HEADERS
    )
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    raw = b"".join(c for _, c in chunks)
    frames = raw.split(b"\r\n\r\n")
    assert frames[-1] == b"" and all(f.startswith(b"data: ") for f in frames[:-1])
    events = [orjson.loads(f[6:]) for f in frames[:-1]]
    assert len(events) > 3
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert all("candidatesTokenCount" not in e["usageMetadata"] for e in events[:-1])
    assert len({e["responseId"] for e in events}) == 1
    text = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
    _, _, whole = await sim.gemini(MODEL, req())
    assert text == whole["candidates"][0]["content"]["parts"][0]["text"]
    assert events[-1]["usageMetadata"] == whole["usageMetadata"]


async def test_without_alt_sse_it_streams_a_json_array(sim):
    status, _, body = await sim.post(f"/p/google/v1beta/models/{MODEL}:streamGenerateContent", req(), GEMINI_HEADERS)
    assert status == 200 and isinstance(body, list) and len(body) > 3
    assert body[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_the_key_may_come_in_the_query(sim):
    status, _, _ = await sim.post(f"/p/google/v1beta/models/{MODEL}:generateContent?key=abc", req())
    assert status == 200
    status, _, body = await sim.post(f"/p/google/v1beta/models/{MODEL}:generateContent", req())
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED" and body["error"]["code"] == 401


async def test_it_rejects_missing_contents_and_bad_json(sim):
    status, _, body = await sim.gemini(MODEL, {"generationConfig": {}})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert "contents" in body["error"]["message"]
    status, _, body = await sim.post(
        f"/p/google/v1beta/models/{MODEL}:generateContent", raw=b"{", headers=GEMINI_HEADERS
    )
    assert status == 400 and body["error"]["code"] == 400


async def test_it_reports_thoughts_and_cached_tokens(sim):
    _, _, body = await sim.gemini(MODEL, req("x" * 400), {"x-sim-reasoning-tokens": "30", "x-sim-cached-tokens": "50"})
    usage = body["usageMetadata"]
    assert usage["thoughtsTokenCount"] == 30
    assert usage["cachedContentTokenCount"] == 50
    text = body["candidates"][0]["content"]["parts"][0]["text"]
    assert usage["candidatesTokenCount"] == estimate_text_tokens(text)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"] + 30
    assert all("thought" not in p for p in body["candidates"][0]["content"]["parts"])


async def test_it_can_report_no_usage(sim):
    _, _, body = await sim.gemini(MODEL, req(), {"x-sim-no-usage": "1"})
    assert "usageMetadata" not in body
    _, _, events = await sim.gemini_sse(MODEL, req(), {"x-sim-no-usage": "1"})
    assert all("usageMetadata" not in orjson.loads(d) for _, d in events)


async def test_it_calls_functions(sim):
    body = req("Weather?", tools=[{"functionDeclarations": [WEATHER, TIME]}])
    _, _, out = await sim.gemini(MODEL, body)
    candidate = out["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "sample city"}}}]

    _, _, events = await sim.gemini_sse(MODEL, body, {"x-sim-parallel-tools": "1"})
    [event] = [orjson.loads(d) for _, d in events]
    names = [p["functionCall"]["name"] for p in event["candidates"][0]["content"]["parts"]]
    assert names == ["get_weather", "get_time"]
    assert event["candidates"][0]["finishReason"] == "STOP" and event["usageMetadata"]["candidatesTokenCount"] > 0

    config = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}
    _, _, out = await sim.gemini(MODEL, {**body, "toolConfig": config})
    assert out["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "get_time"
    _, _, out = await sim.gemini(MODEL, {**body, "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}})
    assert "text" in out["candidates"][0]["content"]["parts"][0]


async def test_after_a_function_response_it_answers_in_text(sim):
    contents = [
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"forecast": "Snow"}}}]},
    ]
    _, _, out = await sim.gemini(MODEL, {"contents": contents, "tools": [{"functionDeclarations": [WEATHER]}]})
    text = out["candidates"][0]["content"]["parts"][0]["text"]
    assert "Snow" in text


async def test_json_mode_answers_an_instance_of_the_response_schema(sim):
    schema = {
        "type": "OBJECT",
        "properties": {
            "title": {"type": "STRING"},
            "year": {"type": "INTEGER"},
            "genres": {"type": "ARRAY", "items": {"type": "STRING"}},
        },
        "required": ["title", "year", "genres"],
    }
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    _, _, out = await sim.gemini(MODEL, req(generationConfig=config))
    value = orjson.loads(out["candidates"][0]["content"]["parts"][0]["text"])
    jsonschema.validate(
        value,
        {
            "type": "object",
            "properties": {"title": {"type": "string"}, "year": {"type": "integer"}, "genres": {"type": "array"}},
            "required": ["title", "year", "genres"],
        },
    )
    _, _, out = await sim.gemini(MODEL, req(generationConfig={"responseMimeType": "application/json"}))
    assert isinstance(orjson.loads(out["candidates"][0]["content"]["parts"][0]["text"]), dict)


async def test_it_sees_inline_and_file_images(sim):
    parts = [
        {"text": "Compare"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}},
    ]
    _, _, out = await sim.gemini(MODEL, {"contents": [{"role": "user", "parts": parts}]})
    assert "I see 2 images." in out["candidates"][0]["content"]["parts"][0]["text"]
    usage = out["usageMetadata"]
    assert usage["promptTokenCount"] == estimate_prompt_tokens(chars=7, messages=1, images=2)
    assert {"modality": "IMAGE", "tokenCount": 2 * TOKENS_PER_IMAGE} in usage["promptTokensDetails"]


async def test_it_stops_before_a_stop_sequence(sim):
    _, _, out = await sim.gemini(MODEL, req(generationConfig={"stopSequences": ["never said", " from"]}))
    [candidate] = out["candidates"]
    assert candidate["content"]["parts"][0]["text"] == "Simulated reply" and candidate["finishReason"] == "STOP"


async def test_it_maps_finish_reasons(sim):
    expected = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
    for finish, reason in expected.items():
        _, _, out = await sim.gemini(MODEL, req(), {"x-sim-finish": finish})
        assert out["candidates"][0]["finishReason"] == reason
    _, _, out = await sim.gemini(MODEL, req(generationConfig={"maxOutputTokens": 4}))
    assert out["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert out["usageMetadata"]["candidatesTokenCount"] == 4


async def test_a_system_instruction_counts_as_prompt(sim):
    _, _, out = await sim.gemini(MODEL, req(systemInstruction={"parts": [{"text": "s" * 40}]}))
    assert out["usageMetadata"]["promptTokenCount"] == estimate_prompt_tokens(chars=42, messages=2)
