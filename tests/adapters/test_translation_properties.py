"""Properties of the Anthropic and Gemini translations, over generated OpenAI requests and vendor
answers:

- A request read back from the vendor body (a small inverse written here) is the request the
  caller sent, in a canonical form (system texts; turns with consecutive roles merged; texts,
  images, tool calls and tool results in order), and every parameter the vendor supports is
  carried; a parameter it cannot express is a 400 naming it.
- A vendor answer translated whole and the same answer streamed (cut into random pieces, with
  pings) give the same OpenAI message, tool calls, finish reason and usage, and every chunk and
  completion is valid against OpenAI's schema.
"""

from itertools import pairwise

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.adapters.anthropic import JSON_TOOL, AnthropicStream, from_anthropic, to_anthropic
from routing.adapters.gemini import GeminiStream, from_gemini, to_gemini
from routing.errors import GatewayError
from tests.adapters.conftest import assemble, catalog_model, same_answer

CLAUDE = catalog_model("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com", max_output_tokens=64000)
GEMINI = catalog_model("gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com/v1beta")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOOL_NAMES = ["get_weather", "search_docs", "calc"]
TOOLS = {
    name: {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                "required": ["q"],
            },
        },
    }
    for name in TOOL_NAMES
}
IMAGES = [
    "data:image/png;base64,iVBORw0KGgo=",
    "data:image/jpeg;base64,/9j/4AAQSkZJRg==",
    "https://example.com/cat.jpg",
]

texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(lambda s: s != ".")
maybe_empty_texts = st.one_of(st.just(""), texts)
json_leaves = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
json_values = st.recursive(
    json_leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=6
)
arguments = st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=3)


def _text_content(draw):
    if draw(st.booleans()):
        return draw(maybe_empty_texts)
    return [{"type": "text", "text": t} for t in draw(st.lists(maybe_empty_texts, min_size=1, max_size=3))]


@st.composite
def conversations(draw) -> list[dict]:
    msgs = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": _text_content(draw)})
    calls = 0
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["user", "user", "assistant", "tools", "developer"]))
        if kind == "user":
            if draw(st.booleans()):
                msgs.append({"role": "user", "content": draw(texts)})
            else:
                parts = draw(
                    st.lists(
                        st.one_of(
                            maybe_empty_texts.map(lambda t: {"type": "text", "text": t}),
                            st.sampled_from(IMAGES).map(lambda u: {"type": "image_url", "image_url": {"url": u}}),
                        ),
                        min_size=1,
                        max_size=4,
                    )
                )
                msgs.append({"role": "user", "content": parts})
        elif kind == "assistant":
            msgs.append({"role": "assistant", "content": _text_content(draw)})
        elif kind == "developer":
            msgs.append({"role": "developer", "content": _text_content(draw)})
        else:
            made = []
            for _ in range(draw(st.integers(1, 3))):
                args = draw(arguments)
                raw = "" if not args and draw(st.booleans()) else orjson.dumps(args).decode()
                made.append(
                    {
                        "id": f"call_{calls}_{draw(st.from_regex(r'[A-Za-z0-9]{3,8}', fullmatch=True))}",
                        "type": "function",
                        "function": {"name": draw(st.sampled_from(TOOL_NAMES)), "arguments": raw},
                    }
                )
                calls += 1
            msgs.append({"role": "assistant", "content": draw(st.one_of(st.none(), texts)), "tool_calls": made})
            for call in draw(st.permutations(made)):
                result = draw(
                    st.one_of(
                        texts,
                        arguments.map(lambda a: orjson.dumps(a).decode()),
                        st.lists(texts, min_size=1, max_size=2).map(
                            lambda ts: [{"type": "text", "text": t} for t in ts]
                        ),
                    )
                )
                msgs.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return msgs


@st.composite
def requests(draw) -> dict:
    req = {"model": "auto", "messages": draw(conversations())}
    req.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    # Values a vendor may not express come up now and then; most draws are ones it can.
                    "temperature": st.one_of(*[st.floats(0, 1)] * 4, st.floats(1, 2)),
                    "top_p": st.floats(0, 1),
                    "max_tokens": st.integers(1, 8192),
                    "max_completion_tokens": st.integers(1, 8192),
                    "user": texts,
                    "seed": st.integers(-(2**31), 2**31),
                    "stop": st.one_of(texts, st.lists(texts, min_size=1, max_size=4)),
                    "n": st.sampled_from([1] * 5 + [2]),
                    "logprobs": st.sampled_from([False] * 5 + [True]),
                    "presence_penalty": st.sampled_from([0] * 5 + [0.5]),
                    "frequency_penalty": st.sampled_from([0.0] * 5 + [-1.5]),
                    "logit_bias": st.sampled_from([{}] * 5 + [{"42": 3}]),
                    "parallel_tool_calls": st.booleans(),
                    "store": st.booleans(),
                    "response_format": st.sampled_from(
                        [
                            {"type": "text"},
                            {"type": "json_object"},
                            {
                                "type": "json_schema",
                                "json_schema": {
                                    "name": "answer",
                                    "schema": {
                                        "type": "object",
                                        "properties": {"answer": {"type": "string"}},
                                        "required": ["answer"],
                                        "additionalProperties": False,
                                    },
                                },
                            },
                        ]
                    ),
                },
            )
        )
    )
    tools = draw(st.lists(st.sampled_from(TOOL_NAMES), unique=True, max_size=3))
    if tools:
        req["tools"] = [TOOLS[n] for n in tools]
        choice = draw(st.sampled_from([None, "auto", "none", "required", *tools]))
        if choice in tools:
            req["tool_choice"] = {"type": "function", "function": {"name": choice}}
        elif choice is not None:
            req["tool_choice"] = choice
    return req


# --- The canonical form of a conversation -------------------------------------------------------


def _texts(content) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    return [p["text"] for p in content]


def _add(turns: list, role: str, items: list) -> None:
    if not items:
        return
    if turns and turns[-1][0] == role:
        turns[-1][1].extend(items)
    else:
        turns.append((role, list(items)))


def _tool_response(text: str):
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"result": text}


def canonical(req: dict, *, gemini: bool = False) -> tuple[list, list]:
    """(system texts, [(role, items)]) of an OpenAI request, as the vendor should see it. Gemini
    tool calls have no ids: there, calls carry None and results the name of their call."""
    system, turns, names = [], [], {}
    for m in req["messages"]:
        role, content = m["role"], m.get("content")
        if role in ("system", "developer"):
            system += [t for t in _texts(content) if t]
        elif role == "user":
            items = (
                [("text", content)]
                if isinstance(content, str)
                else [("text", p["text"]) if p["type"] == "text" else ("image", p["image_url"]["url"]) for p in content]
            )
            _add(turns, "user", [i for i in items if i != ("text", "")])
        elif role == "assistant":
            items = [("text", t) for t in _texts(content) if t]
            for call in m.get("tool_calls") or ():
                names[call["id"]] = call["function"]["name"]
                args = orjson.loads(call["function"]["arguments"] or "{}")
                items.append(("call", None if gemini else call["id"], call["function"]["name"], args))
            _add(turns, "assistant", items)
        else:
            text = "".join(_texts(content))
            item = (
                ("result", names[m["tool_call_id"]], _tool_response(text))
                if gemini
                else ("result", m["tool_call_id"], text)
            )
            _add(turns, "user", [item])
    return system, turns


def anthropic_canonical(body: dict) -> tuple[list, list]:
    system = body.get("system") or []
    system = [system] if isinstance(system, str) else [b["text"] for b in system]
    turns = []
    for m in body["messages"]:
        items = []
        for b in m["content"]:
            if b["type"] == "text":
                items.append(("text", b["text"]))
            elif b["type"] == "image":
                src = b["source"]
                items.append(
                    ("image", src["url"] if src["type"] == "url" else f"data:{src['media_type']};base64,{src['data']}")
                )
            elif b["type"] == "tool_use":
                items.append(("call", b["id"], b["name"], b["input"]))
            else:
                inner = b.get("content", "")
                items.append(
                    ("result", b["tool_use_id"], inner if isinstance(inner, str) else "".join(x["text"] for x in inner))
                )
        turns.append(({"user": "user", "assistant": "assistant"}[m["role"]], items))
    return system, turns


def gemini_canonical(body: dict) -> tuple[list, list]:
    system = [p["text"] for p in (body.get("systemInstruction") or {}).get("parts", [])]
    turns = []
    for c in body["contents"]:
        items = []
        for p in c["parts"]:
            if "text" in p:
                items.append(("text", p["text"]))
            elif "inlineData" in p:
                items.append(("image", f"data:{p['inlineData']['mimeType']};base64,{p['inlineData']['data']}"))
            elif "fileData" in p:
                items.append(("image", p["fileData"]["fileUri"]))
            elif "functionCall" in p:
                items.append(("call", None, p["functionCall"]["name"], p["functionCall"]["args"]))
            else:
                items.append(("result", p["functionResponse"]["name"], p["functionResponse"]["response"]))
        turns.append(({"user": "user", "model": "assistant"}[c["role"]], items))
    return system, turns


def _stop(req):
    stop = req.get("stop")
    return None if stop is None else [stop] if isinstance(stop, str) else stop


def _json_requested(req) -> bool:
    return req.get("response_format", {}).get("type") in ("json_object", "json_schema")


# --- Requests -----------------------------------------------------------------------------------


def _no_messages(req) -> set[str]:
    return set() if canonical(req)[1] else {"messages"}


def anthropic_offending(req) -> set[str]:
    return {
        name
        for name, test in [
            ("n", lambda v: v > 1),
            ("logprobs", bool),
            ("presence_penalty", bool),
            ("frequency_penalty", bool),
            ("logit_bias", bool),
            ("temperature", lambda v: v > 1),
        ]
        if name in req and test(req[name])
    } | _no_messages(req)


@SETTINGS
@given(requests())
def test_anthropic_keeps_every_message_and_parameter_or_names_the_one_it_cannot(req):
    offending = anthropic_offending(req)
    try:
        body = to_anthropic(req, CLAUDE)
    except GatewayError as e:
        assert offending and e.status == 400 and e.param in offending
        return
    assert not offending
    system, turns = canonical(req)
    if turns and turns[0][0] == "assistant":
        turns.insert(0, ("user", [("text", ".")]))
    assert anthropic_canonical(body) == (system, turns)

    assert body["model"] == "claude-sonnet-4-5"
    assert body["max_tokens"] == (req.get("max_completion_tokens") or req.get("max_tokens") or 64000)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        assert body.get(theirs) == req.get(ours)
    assert body.get("stop_sequences") == _stop(req)
    assert body.get("metadata") == ({"user_id": req["user"]} if "user" in req else None)

    caller_tools = [t["function"]["name"] for t in req.get("tools", [])]
    choice = req.get("tool_choice")
    json_tool = _json_requested(req) and choice in (None, "auto", "none")
    names = [t["name"] for t in body.get("tools", [])]
    assert names == caller_tools + ([JSON_TOOL] if json_tool else [])
    for t in body.get("tools", []):
        if t["name"] != JSON_TOOL:
            assert t["input_schema"] == TOOLS[t["name"]]["function"]["parameters"]
    expected = (
        {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}.get(choice)
        if (isinstance(choice, str))
        else ({"type": "tool", "name": choice["function"]["name"]} if choice else None)
    )
    if json_tool:
        expected = {"type": "any"} if choice != "none" and caller_tools else {"type": "tool", "name": JSON_TOOL}
    if names and req.get("parallel_tool_calls") is False:
        expected = expected or {"type": "auto"}
        if expected["type"] != "none":
            expected = {**expected, "disable_parallel_tool_use": True}
    assert body.get("tool_choice") == (expected if names else None)


@SETTINGS
@given(requests())
def test_gemini_keeps_every_message_and_parameter_or_names_the_one_it_cannot(req):
    offending = {n for n in ("logprobs", "logit_bias") if req.get(n)} | _no_messages(req)
    try:
        suffix, body = to_gemini(req, GEMINI)
    except GatewayError as e:
        assert offending and e.status == 400 and e.param in offending
        return
    assert not offending and suffix == ":generateContent"
    assert gemini_canonical(body) == canonical(req, gemini=True)

    gen = body.get("generationConfig", {})
    expected = {
        theirs: req[ours]
        for ours, theirs in (
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("n", "candidateCount"),
            ("seed", "seed"),
            ("presence_penalty", "presencePenalty"),
            ("frequency_penalty", "frequencyPenalty"),
        )
        if ours in req
    }
    if req.get("max_completion_tokens") or req.get("max_tokens"):
        expected["maxOutputTokens"] = req.get("max_completion_tokens") or req.get("max_tokens")
    if _stop(req):
        expected["stopSequences"] = _stop(req)
    if _json_requested(req):
        expected["responseMimeType"] = "application/json"
    assert {k: v for k, v in gen.items() if k != "responseSchema"} == expected
    assert ("responseSchema" in gen) == (req.get("response_format", {}).get("type") == "json_schema")

    declared = [d["name"] for t in body.get("tools", []) for d in t["functionDeclarations"]]
    assert declared == [t["function"]["name"] for t in req.get("tools", [])]
    choice = req.get("tool_choice")
    config = (body.get("toolConfig") or {}).get("functionCallingConfig")
    if choice is None:
        assert config is None
    elif isinstance(choice, str):
        assert config == {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}
    else:
        assert config == {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}


# --- Answers: whole and streamed ----------------------------------------------------------------


def pieces(draw, text: str) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=4))))
    return [p for p in (text[a:b] for a, b in pairwise([0, *cuts, len(text)])) if p]


anthropic_blocks = st.lists(
    st.one_of(
        texts.map(lambda t: {"type": "text", "text": t}),
        texts.map(lambda t: {"type": "thinking", "thinking": t, "signature": "c2ln"}),
        st.tuples(st.sampled_from(TOOL_NAMES), arguments).map(
            lambda x: {"type": "tool_use", "name": x[0], "input": x[1]}
        ),
    ),
    max_size=4,
)


@SETTINGS
@given(
    data=st.data(),
    blocks=anthropic_blocks,
    json_tool=st.booleans(),
    stop=st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]),
    usage=st.fixed_dictionaries(
        {
            "input_tokens": st.integers(0, 10**6),
            "output_tokens": st.integers(0, 10**5),
            "cache_read_input_tokens": st.integers(0, 10**6),
            "cache_creation_input_tokens": st.integers(0, 10**6),
        }
    ),
)
def test_anthropic_answers_the_same_whole_and_streamed(data, blocks, json_tool, stop, usage):
    blocks = [{**b, "id": f"toolu_{i}"} if b["type"] == "tool_use" else b for i, b in enumerate(blocks)]
    if json_tool:  # the forced JSON tool comes alone
        blocks = [{"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL, "input": data.draw(arguments)}]
    message = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    body, whole_usage = from_anthropic(message, json_tool=json_tool)

    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [{"type": "message_start", "message": start}]
    for i, b in enumerate(blocks):
        opened = (
            {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
            if b["type"] == "tool_use"
            else ({"type": b["type"], b["type"]: ""})
        )
        events.append({"type": "content_block_start", "index": i, "content_block": opened})
        if b["type"] == "text":
            deltas = [{"type": "text_delta", "text": p} for p in pieces(data.draw, b["text"])]
        elif b["type"] == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(data.draw, b["thinking"])]
            deltas.append({"type": "signature_delta", "signature": b["signature"]})
        else:
            raw = orjson.dumps(b["input"]).decode()
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *pieces(data.draw, raw)]]
        for d in deltas:
            if data.draw(st.booleans()):
                events.append({"type": "ping"})
            events.append({"type": "content_block_delta", "index": i, "delta": d})
        events.append({"type": "content_block_stop", "index": i})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})

    translator = AnthropicStream("claude-sonnet-4-5", json_tool=json_tool)
    chunks = [c for e in events for c in translator.feed(e)] + translator.close()
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    streamed, streamed_usage = assemble(chunks)
    same_answer(body, streamed, streamed_usage)
    assert whole_usage.prompt_tokens == (
        usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    )


gemini_parts = st.lists(
    st.one_of(
        texts.map(lambda t: {"text": t}),
        texts.map(lambda t: {"text": t, "thought": True}),
        st.tuples(st.sampled_from(TOOL_NAMES), arguments).map(lambda x: {"functionCall": {"name": x[0], "args": x[1]}}),
    ),
    max_size=4,
)


@SETTINGS
@given(
    data=st.data(),
    candidates=st.lists(
        st.tuples(gemini_parts, st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY"])), min_size=1, max_size=2
    ),
    usage=st.fixed_dictionaries(
        {"promptTokenCount": st.integers(0, 10**6), "candidatesTokenCount": st.integers(0, 10**5)},
        optional={"thoughtsTokenCount": st.integers(0, 10**5), "cachedContentTokenCount": st.integers(0, 10**5)},
    ),
    single=st.booleans(),
)
def test_gemini_answers_the_same_whole_and_streamed(data, candidates, usage, single):
    response = {
        "candidates": [
            {"index": i, "finishReason": reason, "content": {"role": "model", "parts": parts}}
            for i, (parts, reason) in enumerate(candidates)
        ],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }
    body, _ = from_gemini(response, single_tool_call=single)

    # Stream each candidate's parts over several events, text cut into pieces; the last event
    # carries every finishReason and the final usage.
    events = []
    for i, (parts, _) in enumerate(candidates):
        for part in parts:
            split = pieces(data.draw, part["text"]) if "text" in part else [None]
            for p in split:
                sent = part if p is None else {**part, "text": p}
                events.append(
                    {
                        "candidates": [{"index": i, "content": {"role": "model", "parts": [sent]}}],
                        "usageMetadata": {"promptTokenCount": usage["promptTokenCount"]},
                        "responseId": "r1",
                    }
                )
    events.append(
        {
            "candidates": [
                {"index": i, "finishReason": reason, "content": {"role": "model", "parts": []}}
                for i, (_, reason) in enumerate(candidates)
            ],
            "usageMetadata": usage,
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        }
    )
    translator = GeminiStream("gemini-2.5-flash", single_tool_call=single)
    chunks = [c for e in events for c in translator.feed(e)] + translator.close()
    streamed, streamed_usage = assemble(chunks)
    same_answer(body, streamed, streamed_usage)
