"""The Gemini adapter: OpenAI request -> generateContent body, GenerateContentResponses (whole
and streamed) -> OpenAI completions and chunks, vendor errors -> UpstreamError. Vendor payloads
follow the shapes of Google's Gemini API reference."""

import httpx
import orjson
import pytest

from routing.adapters.gemini import GeminiAdapter, GeminiStream, from_gemini, gemini_schema, status_error, to_gemini
from routing.errors import GatewayError, UpstreamError
from tests.adapters.conftest import assert_chunks, assert_completion, collect, target_for

MEETING_TOOL = {
    "type": "function",
    "function": {
        "name": "schedule_meeting",
        "description": "Schedules a meeting with specified attendees at a given time and date.",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attendees": {"type": "array", "items": {"type": "string"}},
                "date": {"type": "string", "description": "Date of the meeting (e.g., '2024-07-29')"},
                "topic": {"type": ["string", "null"]},
            },
            "required": ["attendees", "date"],
        },
    },
}


def chat(*messages, **params) -> dict:
    return {"model": "google/gemini-2.5-flash", "messages": list(messages), **params}


def user(content):
    return {"role": "user", "content": content}


def sse(*responses: dict) -> bytes:
    return b"".join(b"data: " + orjson.dumps(r) + b"\r\n\r\n" for r in responses)


# --- Requests -----------------------------------------------------------------------------------


def test_it_builds_contents_and_the_system_instruction(gemini):
    suffix, body = to_gemini(
        chat(
            {"role": "system", "content": "You are a cat."},
            user("Hello"),
            {"role": "assistant", "content": "Meow"},
            {"role": "assistant", "content": ""},
            {"role": "developer", "content": "Your name is Neko."},
            user("Who are you?"),
        ),
        gemini,
    )
    assert suffix == ":generateContent"
    assert body["systemInstruction"] == {"parts": [{"text": "You are a cat."}, {"text": "Your name is Neko."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hello"}]},
        {"role": "model", "parts": [{"text": "Meow"}]},
        {"role": "user", "parts": [{"text": "Who are you?"}]},
    ]


def test_it_names_the_streaming_method(gemini):
    assert to_gemini(chat(user("x"), stream=True), gemini)[0] == ":streamGenerateContent?alt=sse"
    assert to_gemini(chat(user("x"), stream=True), gemini, stream=False)[0] == ":generateContent"


def test_it_translates_images_audio_and_files(gemini):
    _, body = to_gemini(
        chat(
            user(
                [
                    {"type": "text", "text": "Caption these."},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/photos/cat.webp?size=large"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}},
                ]
            )
        ),
        gemini,
    )
    assert body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/photos/cat.webp?size=large"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
    ]


def test_it_translates_tool_calls_and_results(gemini):
    _, body = to_gemini(
        chat(
            user("Schedule a meeting with Bob and Alice for 03/27/2025 at 10:00 AM about the Q3 planning."),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_0_schedule_meeting",
                        "type": "function",
                        "function": {
                            "name": "schedule_meeting",
                            "arguments": '{"attendees": ["Bob", "Alice"], "date": "2025-03-27"}',
                        },
                    },
                    {
                        "id": "call_1_schedule_meeting",
                        "type": "function",
                        "function": {"name": "schedule_meeting", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_0_schedule_meeting", "content": '{"status": "scheduled"}'},
            {"role": "tool", "tool_call_id": "call_1_schedule_meeting", "content": "failed: no attendees"},
            tools=[MEETING_TOOL],
        ),
        gemini,
    )
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {
                        "name": "schedule_meeting",
                        "args": {"attendees": ["Bob", "Alice"], "date": "2025-03-27"},
                    }
                },
                {"functionCall": {"name": "schedule_meeting", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "schedule_meeting", "response": {"status": "scheduled"}}},
                {"functionResponse": {"name": "schedule_meeting", "response": {"result": "failed: no attendees"}}},
            ],
        },
    ]


def test_it_rejects_a_tool_result_for_an_unknown_call(gemini):
    with pytest.raises(GatewayError) as e:
        to_gemini(chat(user("x"), {"role": "tool", "tool_call_id": "nope", "content": "1"}), gemini)
    assert e.value.param == "messages[1].tool_call_id"


def test_it_signs_gemini_3_function_calls_with_the_placeholder(make_model):
    model = make_model("gemini", "gemini-3-pro-preview", "https://generativelanguage.googleapis.com/v1beta")
    calls = [{"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in range(2)]
    _, body = to_gemini(chat(user("x"), {"role": "assistant", "content": None, "tool_calls": calls}), model)
    signatures = [p.get("thoughtSignature") for p in body["contents"][1]["parts"]]
    assert signatures == ["skip_thought_signature_validator", None]
    off = make_model("gemini", "gemini-3-pro-preview", "u", quirks={"thought_signature_placeholder": False})
    assert (
        "thoughtSignature"
        not in to_gemini(chat(user("x"), {"role": "assistant", "tool_calls": calls}), off)[1]["contents"][1]["parts"][0]
    )


def test_it_declares_functions_in_geminis_schema_subset(gemini):
    _, body = to_gemini(
        chat(
            user("x"),
            tools=[
                MEETING_TOOL,
                {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
            ],
        ),
        gemini,
    )
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "schedule_meeting",
                    "description": MEETING_TOOL["function"]["description"],
                    "parameters": {
                        "type": "OBJECT",
                        "required": ["attendees", "date"],
                        "properties": {
                            "attendees": {"type": "ARRAY", "items": {"type": "STRING"}},
                            "date": {"type": "STRING", "description": "Date of the meeting (e.g., '2024-07-29')"},
                            "topic": {"type": "STRING", "nullable": True},
                        },
                    },
                },
                {"name": "ping"},
            ]
        }
    ]


def test_it_sends_schemas_unchanged_with_the_native_quirk(make_model):
    model = make_model("gemini", "gemini-2.5-pro", "u", provider_quirks={"json_schema": "native"})
    _, body = to_gemini(
        chat(
            user("x"),
            tools=[MEETING_TOOL],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "n", "schema": MEETING_TOOL["function"]["parameters"]},
            },
        ),
        model,
    )
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == MEETING_TOOL["function"]["parameters"]
    assert body["generationConfig"]["responseJsonSchema"] == MEETING_TOOL["function"]["parameters"]


def test_it_converts_refs_unions_consts_and_formats():
    schema = {
        "$defs": {
            "Step": {
                "type": "object",
                "properties": {"explanation": {"type": "string"}, "next": {"$ref": "#/$defs/Step"}},
            }
        },
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
            "kind": {"const": "final"},
            "when": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "format": "email", "maxLength": 80},
            "score": {"anyOf": [{"type": "number"}, {"type": "null"}]},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
            "both": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "integer", "exclusiveMinimum": 0}}},
                ]
            },
            "level": {"type": "integer", "enum": [1, 2, 3]},
        },
        "required": ["steps", "missing"],
    }
    assert gemini_schema(schema) == {
        "type": "OBJECT",
        "required": ["steps"],
        "properties": {
            "steps": {
                "type": "ARRAY",
                "items": {
                    "type": "OBJECT",
                    "properties": {"explanation": {"type": "STRING"}, "next": {"type": "OBJECT"}},
                },
            },
            "kind": {"type": "STRING", "enum": ["final"]},
            "when": {"type": "STRING", "format": "date-time"},
            "email": {"type": "STRING", "maxLength": 80},
            "score": {"type": "NUMBER", "nullable": True},
            "either": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER", "minimum": 0}]},
            "both": {
                "type": "OBJECT",
                "required": ["a"],
                "properties": {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}},
            },
            "level": {"type": "INTEGER"},
        },
    }


@pytest.mark.parametrize(
    "choice, config",
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "schedule_meeting"}},
            {"mode": "ANY", "allowedFunctionNames": ["schedule_meeting"]},
        ),
    ],
)
def test_it_maps_tool_choice(gemini, choice, config):
    body = to_gemini(chat(user("x"), tools=[MEETING_TOOL], tool_choice=choice), gemini)[1]
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_it_maps_generation_parameters(gemini):
    _, body = to_gemini(
        chat(
            user("x"),
            max_completion_tokens=800,
            temperature=1.4,
            top_p=0.8,
            n=2,
            seed=42,
            stop=["END"],
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            user="u",
            store=False,
        ),
        gemini,
    )
    assert body["generationConfig"] == {
        "maxOutputTokens": 800,
        "temperature": 1.4,
        "topP": 0.8,
        "candidateCount": 2,
        "seed": 42,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "stopSequences": ["END"],
    }


def test_it_asks_for_json(gemini):
    _, body = to_gemini(chat(user("x"), response_format={"type": "json_object"}), gemini)
    assert body["generationConfig"] == {"responseMimeType": "application/json"}
    _, body = to_gemini(
        chat(
            user("x"),
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "recipe",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"name": {"type": "string"}, "minutes": {"type": "integer"}},
                        "required": ["name", "minutes"],
                    },
                },
            },
        ),
        gemini,
    )
    assert body["generationConfig"]["responseSchema"] == {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "minutes": {"type": "INTEGER"}},
        "required": ["name", "minutes"],
        "propertyOrdering": ["name", "minutes"],
    }


@pytest.mark.parametrize(
    "upstream_id, effort, config",
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "low"}),
    ],
)
def test_it_maps_reasoning_effort(make_model, upstream_id, effort, config):
    model = make_model("gemini", upstream_id, "u")
    assert to_gemini(chat(user("x"), reasoning_effort=effort), model)[1]["generationConfig"]["thinkingConfig"] == config


@pytest.mark.parametrize(
    "param, value",
    [
        ("logprobs", True),
        ("top_logprobs", 2),
        ("logit_bias", {"1": 5}),
        ("functions", []),
        ("audio", {"voice": "x"}),
    ],
)
def test_it_rejects_parameters_it_cannot_express(gemini, param, value):
    with pytest.raises(GatewayError) as e:
        to_gemini(chat(user("x"), **{param: value}), gemini)
    assert (e.value.status, e.value.param) == (400, param)


# --- Answers ------------------------------------------------------------------------------------

RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": "AI learns patterns from data."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 8,
        "candidatesTokenCount": 7,
        "totalTokenCount": 1035,
        "cachedContentTokenCount": 4,
        "thoughtsTokenCount": 1020,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mAitaJCeKfS-1dkP4Z2WyAk",
}


def test_it_translates_a_text_answer_and_its_usage():
    body, usage = from_gemini(RESPONSE)
    assert_completion(body)
    assert body["choices"] == [
        {
            "index": 0,
            "finish_reason": "stop",
            "logprobs": None,
            "message": {"role": "assistant", "content": "AI learns patterns from data.", "refusal": None},
        }
    ]
    assert (body["id"], body["model"]) == ("mAitaJCeKfS-1dkP4Z2WyAk", "gemini-2.5-flash")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens, usage.cached_tokens) == (
        8,
        1027,
        1020,
        4,
    )


def test_it_translates_function_calls_with_generated_ids():
    body, _ = from_gemini(
        {
            **RESPONSE,
            "candidates": [
                {
                    "index": 0,
                    "finishReason": "STOP",
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "functionCall": {"name": "schedule_meeting", "args": {"attendees": ["Bob", "Alice"]}},
                                "thoughtSignature": "CiQB0e2Kb",
                            },
                            {"functionCall": {"name": "get_time"}},
                        ],
                    },
                }
            ],
        }
    )
    assert_completion(body)
    assert body["choices"][0]["message"]["tool_calls"] == [
        {
            "id": "call_0_schedule_meeting",
            "type": "function",
            "function": {"name": "schedule_meeting", "arguments": '{"attendees":["Bob","Alice"]}'},
        },
        {"id": "call_1_get_time", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    assert body["choices"][0]["message"]["content"] is None
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    two_calls = {
        "index": 0,
        "finishReason": "STOP",
        "content": {"parts": [{"functionCall": {"name": "a"}}, {"functionCall": {"name": "b"}}]},
    }
    single, _ = from_gemini({**RESPONSE, "candidates": [two_calls]}, single_tool_call=True)
    assert [c["function"]["name"] for c in single["choices"][0]["message"]["tool_calls"]] == ["a"]


def test_it_keeps_thoughts_out_of_the_content_and_answers_every_candidate():
    body, _ = from_gemini(
        {
            **RESPONSE,
            "candidates": [
                {
                    "index": 0,
                    "finishReason": "STOP",
                    "content": {"parts": [{"text": "Hmm.", "thought": True}, {"text": "A"}]},
                },
                {"index": 1, "finishReason": "MAX_TOKENS", "content": {"parts": [{"text": "B"}]}},
            ],
        }
    )
    assert_completion(body)
    assert [
        (c["message"]["content"], c["message"].get("reasoning_content"), c["finish_reason"]) for c in body["choices"]
    ] == [("A", "Hmm.", "stop"), ("B", None, "length")]


@pytest.mark.parametrize(
    "reason, finish",
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "content_filter"),
        ("LANGUAGE", "content_filter"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
    ],
)
def test_it_maps_finish_reasons(reason, finish):
    candidate = {"index": 0, "finishReason": reason}  # a filtered candidate may have no content at all
    body, _ = from_gemini({**RESPONSE, "candidates": [candidate]})
    assert body["choices"][0]["finish_reason"] == finish
    assert_completion(body)


def test_it_raises_on_a_malformed_function_call():
    with pytest.raises(UpstreamError) as e:
        from_gemini({**RESPONSE, "candidates": [{"index": 0, "finishReason": "MALFORMED_FUNCTION_CALL"}]})
    assert e.value.retryable and not e.value.caller_fault


def test_it_reports_a_blocked_prompt_as_the_callers_problem():
    with pytest.raises(UpstreamError) as e:
        from_gemini(
            {
                "promptFeedback": {
                    "blockReason": "SAFETY",
                    "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}],
                },
                "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
                "modelVersion": "gemini-2.5-flash",
            }
        )
    assert (e.value.status, e.value.caller_fault) == (400, True)
    assert e.value.message == "The prompt was blocked by the provider's safety filter: SAFETY."


# --- Streams ------------------------------------------------------------------------------------

STREAM = [
    {
        "candidates": [{"content": {"parts": [{"text": "The"}], "role": "model"}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc123",
    },
    {
        "candidates": [
            {"content": {"parts": [{"text": " sky is blue."}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": 8,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 20,
            "totalTokenCount": 33,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc123",
    },
]


def _translate(events, **kw) -> list[dict]:
    t = GeminiStream("gemini-2.5-flash", **kw)
    return [chunk for e in events for chunk in t.feed(e)] + t.close()


def test_it_streams_text_then_the_finish_and_the_usage():
    chunks = _translate(STREAM)
    assert_chunks(chunks)
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "The"},
        {"content": " sky is blue."},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert (
        chunks[-1]["usage"]["prompt_tokens"],
        chunks[-1]["usage"]["completion_tokens"],
        chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"],
    ) == (8, 25, 20)
    assert {c["id"] for c in chunks} == {"abc123"}


def test_it_streams_whole_function_calls():
    chunks = _translate(
        [
            {
                "candidates": [
                    {
                        "index": 0,
                        "finishReason": "STOP",
                        "content": {
                            "role": "model",
                            "parts": [
                                {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}},
                                {"functionCall": {"name": "get_weather", "args": {"location": "Rome"}}},
                            ],
                        },
                    }
                ],
                "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 12, "totalTokenCount": 42},
            }
        ]
    )
    assert_chunks(chunks)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:3]]
    assert calls == [
        {
            "index": 0,
            "id": "call_0_get_weather",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
        },
        {
            "index": 1,
            "id": "call_1_get_weather",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Rome"}'},
        },
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_it_streams_thoughts_as_reasoning_content():
    thought = {"candidates": [{"index": 0, "content": {"parts": [{"text": "**Thinking**", "thought": True}]}}]}
    chunks = _translate([thought, STREAM[1]])
    assert chunks[1]["choices"][0]["delta"] == {"reasoning_content": "**Thinking**"}
    assert_chunks(chunks)


def test_it_raises_on_an_error_in_the_stream():
    t = GeminiStream("m")
    t.feed(STREAM[0])
    with pytest.raises(UpstreamError) as e:
        t.feed({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
    assert (e.value.kind, e.value.retryable) == ("stream", True)


def test_it_raises_when_the_stream_ends_early():
    t = GeminiStream("m")
    t.feed(STREAM[0])
    with pytest.raises(UpstreamError):
        t.close()


def test_it_raises_when_the_streamed_prompt_is_blocked():
    with pytest.raises(UpstreamError) as e:
        GeminiStream("m").feed({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    assert e.value.caller_fault


# --- Errors -------------------------------------------------------------------------------------


def _error(code: int, status: str, message: str, details=None) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "message": message, "status": status, **({"details": details} if details else {})}}
    )


@pytest.mark.parametrize(
    "code, status, retryable, caller_fault",
    [
        (400, "INVALID_ARGUMENT", False, True),
        (400, "FAILED_PRECONDITION", True, False),
        (401, "UNAUTHENTICATED", True, False),
        (403, "PERMISSION_DENIED", True, False),
        (404, "NOT_FOUND", True, False),
        (429, "RESOURCE_EXHAUSTED", True, False),
        (500, "INTERNAL", True, False),
        (503, "UNAVAILABLE", True, False),
        (504, "DEADLINE_EXCEEDED", True, False),
    ],
)
def test_it_maps_error_statuses(code, status, retryable, caller_fault):
    err = status_error(code, _error(code, status, "Something."), {})
    assert (err.kind, err.status, err.retryable, err.caller_fault) == ("status", code, retryable, caller_fault)


def test_it_treats_an_invalid_api_key_as_the_providers_problem():
    err = status_error(
        400,
        _error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        ),
        {},
    )
    assert (err.retryable, err.caller_fault) == (True, False)


def test_it_treats_too_many_input_tokens_as_a_context_length_error():
    err = status_error(
        400,
        _error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1196265) exceeds the maximum number of tokens allowed (1048575).",
        ),
        {},
    )
    assert (err.kind, err.retryable, err.caller_fault) == ("context_length", True, False)


def test_it_reads_the_retry_delay_of_a_429():
    err = status_error(
        429,
        _error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded.",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}],
        ),
        {},
    )
    assert err.retry_after == 17
    assert status_error(429, _error(429, "RESOURCE_EXHAUSTED", "q"), {"retry-after": "5"}).retry_after == 5


# --- The adapter over HTTP ----------------------------------------------------------------------


async def test_it_posts_to_generate_content(gemini, vendor):
    v = vendor(body=RESPONSE)
    result = await GeminiAdapter().complete(v.client, target_for(gemini), chat(user("Explain AI")))
    sent = v.requests[0]
    assert str(sent.url) == ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent")
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert v.sent()["contents"] == [{"role": "user", "parts": [{"text": "Explain AI"}]}]
    assert result.body["choices"][0]["message"]["content"] == "AI learns patterns from data."
    assert result.usage.completion_tokens == 1027


async def test_it_streams_over_http_in_small_pieces(gemini, vendor):
    v = vendor(sse=sse(*STREAM), piece=5)
    chunks = await collect(GeminiAdapter().stream(v.client, target_for(gemini), chat(user("Why is the sky blue?"))))
    assert str(v.requests[0].url).endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert [c["choices"] for c in chunks] == [c["choices"] for c in _translate(STREAM)]
    assert_chunks(chunks)


async def test_it_raises_the_mapped_error_for_a_failed_stream_request(gemini, vendor):
    v = vendor(status=429, body=_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."), headers={"retry-after": "9"})
    with pytest.raises(UpstreamError) as e:
        await collect(GeminiAdapter().stream(v.client, target_for(gemini), chat(user("x"))))
    assert (e.value.status, e.value.retryable, e.value.retry_after) == (429, True, 9)


async def test_it_maps_a_refused_connection(gemini, vendor):
    v = vendor(error=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamError) as e:
        await GeminiAdapter().complete(v.client, target_for(gemini), chat(user("x")))
    assert (e.value.kind, e.value.retryable) == ("connect", True)


async def test_it_reports_a_protocol_error_for_a_body_that_is_not_json(gemini, vendor):
    v = vendor(body=b"<html>oops</html>")
    with pytest.raises(UpstreamError) as e:
        await GeminiAdapter().complete(v.client, target_for(gemini), chat(user("x")))
    assert e.value.kind == "protocol"
