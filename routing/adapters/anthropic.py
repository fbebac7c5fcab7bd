"""Anthropic's Messages API (POST {base_url}/v1/messages) behind OpenAI's chat-completions shape.

Translation choices, where the two APIs differ:

- System and developer messages, wherever they stand, become the top-level `system` (in order).
  Consecutive messages of one role are merged, and consecutive `tool` messages become one user
  message of `tool_result` blocks, as the API requires. Empty text is left out (Anthropic rejects
  empty text blocks). A `cache_control` on a caller's text, image or file part, or on a tool
  (beside `type` and `function`), is passed on, so callers who know Anthropic's prompt caching can
  use it; a 1-hour one (`"ttl": "1h"`) as it is to a model with a 1-hour cache-write price, without
  its ttl (five minutes) to one without (common.marks_for).
- `max_tokens` is required by Anthropic: the caller's max_completion_tokens or max_tokens, else
  the catalog's max_output_tokens for the model.
- `temperature` above 1 is rejected with a 400 naming it: Anthropic's range is 0..1, and
  silently clamping or rescaling would change the answer the caller asked for.
- JSON mode (`response_format` json_object / json_schema) is done the way Anthropic recommends for
  structured output on every model: a tool named `json_response` whose input_schema is the
  caller's schema (json_object: {"type": "object"}), forced with tool_choice. The tool's input
  comes back as the message `content` (a JSON string) with finish_reason "stop"; when streaming,
  its input_json_delta fragments are content deltas. With the caller's own tools and tool_choice
  auto, tool_choice becomes "any" over their tools plus json_response (the model either calls a
  tool or answers in JSON); with "required" or a named tool the JSON format does not apply (the
  answer is a tool call). A schema whose root is not an object, or a caller tool of that name,
  is a 400.
- Rejected with a 400 naming the parameter (they would change the answer and Anthropic cannot
  express them): n > 1, logprobs, top_logprobs, logit_bias, non-zero presence_penalty or
  frequency_penalty, audio output, prediction,
  web_search_options, verbosity, legacy functions/function_call, input_audio parts, file parts
  other than base64 PDFs.
- Dropped as harmless: seed (OpenAI only promises best-effort determinism), stream_options (the
  adapter always reports usage), store, metadata, service_tier, prompt_cache_key,
  safety_identifier, a message's `name`, a tool's `strict`, `reasoning_content` on earlier
  assistant messages.
- `reasoning_effort` (low, medium, high, xhigh) turns thinking on: adaptive thinking at that
  effort on the models that take it, a budget for it on the others (below). The thinking comes
  back as `reasoning_content`. It needs temperature 1 and top_p of at least 0.95 (unset is
  fine): other values are a 400 naming them, as Claude does not think at them. In a tool loop
  (the last assistant message made tool calls) Anthropic wants that turn's signed thinking
  blocks back, which OpenAI-shaped history cannot carry, so the loop's later requests go without
  thinking; "none" and "minimal" mean no thinking.
- Callers of the gateway's own Messages endpoint may ask for extended thinking: their `thinking`
  object arrives as the gateway field `x_anthropic_thinking` (with reasoning_effort, for other
  vendors) and is sent as it is. The signed
  thinking blocks go back to that endpoint in the same field: on the answer's message (a list of
  thinking / redacted_thinking blocks), in streams as deltas ({"type": "signature", ...} or a
  redacted_thinking block); an assistant message carrying the field in a later request has
  those blocks put first, as Anthropic requires when tools are used with thinking on.
  Adaptive thinking (`{"type": "adaptive"}`) goes as it is to the models that take it (Opus and
  Sonnet 4.6 and later); others get "enabled" with a budget for the effort asked (low 2,048,
  medium 8,192, high, the default, 16,384 ...; below max_tokens, and no thinking when even
  Anthropic's minimum of 1,024 does not fit). Their `output_config.effort` (the gateway field
  x_anthropic_effort) goes to the models that take effort (Opus 4.5 and later, Sonnet 4.6 and
  later), "max" to Opus only and "xhigh" to Opus 4.7 and later (else "high"); others do without.
  Claude does not think while a tool is forced, so a request whose tool_choice forces one (the
  JSON mode's tool, or the caller's "required" or named tool) is sent without thinking.
- A conversation that opens with an assistant message (a greeting) gets a user turn "." before
  it: the API wants a user turn first.
- `user` becomes metadata.user_id; `parallel_tool_calls: false` becomes
  disable_parallel_tool_use; tool call ids are made to fit Anthropic's ^[a-zA-Z0-9_-]+$ (other
  providers' ids, e.g. "functions.get_weather:0", would otherwise be rejected) and unique across
  the conversation (an id seen before gets a suffix, _2, _3...; its results follow it), as
  Anthropic requires: a history from Gemini, whose answers number their calls afresh, repeats ids.
- Answers: text blocks are the content, tool_use blocks the tool_calls, thinking blocks the
  message's `reasoning_content`; stop_reason end_turn/stop_sequence/pause_turn -> stop,
  max_tokens/model_context_window_exceeded -> length, tool_use -> tool_calls, refusal ->
  content_filter. With stop_reason stop_sequence, a request that asks (STOP_SEQUENCE_FIELD, see
  base.py) gets the matched `stop_sequence` on the choice. Usage: prompt = input + cache read +
  cache write tokens; of the writes, `usage.cache_creation.ephemeral_1h_input_tokens` are the
  1-hour ones (cache_write_1h_tokens).
"""

import re
from typing import Any

import orjson

from routing.catalog import ModelInfo
from routing.errors import UpstreamError, invalid

from .base import STOP_SEQUENCE_FIELD, Target, Usage
from .common import (
    ChunkMaker,
    VendorAdapter,
    choice,
    completion_body,
    conversation,
    data_url,
    file_data,
    json_or_none,
    json_response_format,
    marks_for,
    max_tokens,
    post_json,
    reject_unsupported,
    retry_after,
    stop_list,
    text_parts,
    tool_call,
    tool_call_arguments,
)

ANTHROPIC_VERSION = "2023-06-01"
THINKING_FIELD = "x_anthropic_thinking"  # a gateway field: never sent to other vendors
EFFORT_FIELD = "x_anthropic_effort"  # a gateway field: output_config.effort from the Messages endpoint
# A thinking budget for each effort, for "adaptive" on a model that only takes a fixed budget.
EFFORT_BUDGETS = {"low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 32000}
MIN_THINKING_BUDGET = 1024  # Anthropic's minimum
_CLAUDE = re.compile(r"claude-(opus|sonnet|haiku)-(\d+)(?:-(\d)(?=-|$))?")
JSON_TOOL = "json_response"
OPENING_USER_TEXT = "."  # the user turn put before a conversation that starts with the assistant

_UNSUPPORTED = {
    "n": lambda v: v is not None and v > 1,
    "presence_penalty": bool,
    "frequency_penalty": bool,
}
# OpenAI's reasoning_effort as Claude's effort; "none" and "minimal": no thinking.
CHAT_EFFORTS = {"none": None, "minimal": None, "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"}

STOP_REASONS: dict[str | None, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_NOT_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


# --- Request ----------------------------------------------------------------------------------


def claude_version(upstream_id: str) -> tuple[str, int, int] | None:
    """("opus", 4, 6) for claude-opus-4-6; minor 0 for claude-sonnet-4-20250514."""
    m = _CLAUDE.search(upstream_id)
    return (m[1], int(m[2]), int(m[3] or 0)) if m else None


def takes_adaptive_thinking(upstream_id: str) -> bool:
    """Opus and Sonnet 4.6 and later (Anthropic's models overview)."""
    v = claude_version(upstream_id)
    return v is not None and v[0] != "haiku" and v[1:] >= (4, 6)


def takes_effort(upstream_id: str) -> bool:
    """output_config.effort: Opus 4.5 and later, Sonnet 4.6 and later."""
    v = claude_version(upstream_id)
    return v is not None and v[1:] >= ((4, 5) if v[0] == "opus" else (4, 6) if v[0] == "sonnet" else (99, 0))


def effort_for(upstream_id: str, effort: str) -> str:
    """The effort a model takes: "max" on Opus only, "xhigh" on Opus 4.7 and later; above what a
    model takes, its "high"."""
    v = claude_version(upstream_id)
    if effort == "max" and v is not None and v[0] == "opus":
        return effort
    if effort == "xhigh" and v is not None and v[0] == "opus" and v[1:] >= (4, 7):
        return effort
    return effort if effort in ("low", "medium", "high") else "high"


def _thinking_for(model: ModelInfo, thinking: dict, effort: str | None, max_tokens: int) -> dict | None:
    """What to send as `thinking`: the caller's, or for "adaptive" on a model that only takes a
    fixed budget, "enabled" with the effort's budget (within max_tokens; none when even the
    minimum does not fit: the model answers without thinking)."""
    if thinking.get("type") != "adaptive" or takes_adaptive_thinking(model.upstream_id):
        return thinking
    budget = min(EFFORT_BUDGETS[effort or "high"], max_tokens - 1)
    return {"type": "enabled", "budget_tokens": budget} if budget >= MIN_THINKING_BUDGET else None


def _chat_thinking(request: dict) -> tuple[dict | None, str | None]:
    """(thinking, effort) for a chat caller's reasoning_effort: adaptive thinking at that effort
    (a budget for models without adaptive thinking, see _thinking_for). None when the effort is
    "none"/"minimal", or when the conversation is in a tool loop whose last assistant turn comes
    without its signed thinking blocks (OpenAI-shaped history cannot carry them, and Anthropic
    requires them back while thinking is on): that turn goes on without thinking."""
    value = request["reasoning_effort"]
    if value not in CHAT_EFFORTS:
        raise invalid(
            f"'reasoning_effort' must be one of {', '.join(CHAT_EFFORTS)} for Anthropic models.",
            param="reasoning_effort",
            code="unsupported_value",
        )
    effort = CHAT_EFFORTS[value]
    if effort is None:
        return None, None
    for name, ok in (("temperature", lambda v: v == 1), ("top_p", lambda v: v >= 0.95)):
        if request.get(name) is not None and not ok(request[name]):
            raise invalid(
                f"'{name}' cannot be {request[name]} with 'reasoning_effort' on Anthropic models: Claude "
                "thinks only at temperature 1 and top_p 0.95 to 1 (leave them unset).",
                param=name,
                code="unsupported_value",
            )
    last = next((m for m in reversed(request["messages"]) if m.get("role") == "assistant"), None)
    if last is not None and last.get("tool_calls") and not last.get(THINKING_FIELD):
        return None, effort
    return {"type": "adaptive"}, effort


def to_anthropic(request: dict, model: ModelInfo) -> dict:
    """The Messages API body for an (already validated) OpenAI chat request."""
    thinking = request.get(THINKING_FIELD)
    effort = request.get(EFFORT_FIELD)
    reject_unsupported(request, "Anthropic", _UNSUPPORTED)
    if thinking is None and request.get("reasoning_effort") is not None:
        thinking, effort = _chat_thinking(request)
    temperature = request.get("temperature")
    if temperature is not None and temperature > 1:
        raise invalid(
            "'temperature' must be between 0 and 1 for Anthropic models (OpenAI's range is 0 to 2; "
            "the gateway does not rescale it).",
            param="temperature",
            code="unsupported_value",
        )
    system, messages = _messages(request["messages"])
    out_tokens = max_tokens(request) or model.max_output_tokens
    body = {"model": model.upstream_id, "max_tokens": out_tokens, "messages": messages}
    if system:
        one_plain = len(system) == 1 and "cache_control" not in system[0]
        body["system"] = system[0]["text"] if one_plain else system
    if temperature is not None:
        body["temperature"] = temperature
    if request.get("top_p") is not None:
        body["top_p"] = request["top_p"]
    if stop := stop_list(request):
        body["stop_sequences"] = stop
    if request.get("user"):
        body["metadata"] = {"user_id": request["user"]}
    if effort and takes_effort(model.upstream_id):
        body["output_config"] = {"effort": effort_for(model.upstream_id, effort)}
    _add_tools(request, body)
    choice = body.get("tool_choice")
    forced = isinstance(choice, dict) and choice.get("type") in ("any", "tool")
    if thinking and not forced and (sent := _thinking_for(model, thinking, effort, out_tokens)):
        body["thinking"] = sent
    if model.cache_write_1h_price_usd_micro_per_mtok is None:
        for name in ("system", "tools"):
            if name in body:
                body[name] = marks_for(model, body[name])
        for message in messages:
            message["content"] = marks_for(model, message["content"])
    return body


def _tool_id(id_: str) -> str:
    return _NOT_ID_CHARS.sub("_", id_) or "call"


def _with_cache_control(block: dict, part: dict | None) -> dict:
    if part is not None and part.get("cache_control"):
        block["cache_control"] = part["cache_control"]
    return block


class _ToolIds:
    """Anthropic ids for the caller's tool call ids: made to fit ^[a-zA-Z0-9_-]+$ and unique across
    the conversation. Anthropic rejects a request in which two tool_use blocks share an id ("`tool_use`
    ids must be unique"), and a history written by another provider can repeat one: Gemini's calls
    have no ids, so each answer's are call_<n>_<name> again, and a conversation that fails over from
    Gemini to Claude would otherwise be refused. A tool result answers the latest call with its id."""

    __slots__ = ("used", "latest")

    def __init__(self):
        self.used: set[str] = set()
        self.latest: dict[str, str] = {}

    def call(self, id_: str) -> str:
        base = new = _tool_id(id_)
        n = 1
        while new in self.used:
            n += 1
            new = f"{base}_{n}"
        self.used.add(new)
        self.latest[id_] = new
        return new

    def result(self, id_: str) -> str:
        return self.latest.get(id_) or _tool_id(id_)


def _messages(msgs: list[dict]) -> tuple[list[dict], list[dict]]:
    ids = _ToolIds()
    system, turns = conversation(
        msgs,
        "Anthropic",
        system=_text_blocks,
        user=_user_blocks,
        assistant=lambda msg, where: _assistant_blocks(msg, where, ids),
        tool=lambda msg, where: _tool_result(msg, where, ids),
    )
    if turns[0][0] == "assistant":
        # The API wants a user turn first (a chat that opens with the assistant's greeting).
        turns.insert(0, ("user", [{"type": "text", "text": OPENING_USER_TEXT}]))
    return system, [{"role": role, "content": blocks} for role, blocks in turns]


def _text_blocks(content, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    texts = text_parts(content, where)
    return [_with_cache_control({"type": "text", "text": t}, part) for t, part in zip(texts, content, strict=True) if t]


def _user_blocks(content, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for j, part in enumerate(content):
        pw, kind = f"{where}.content[{j}]", part["type"]
        if kind == "text":
            if part["text"]:
                blocks.append(_with_cache_control({"type": "text", "text": part["text"]}, part))
        elif kind == "image_url":
            url = part["image_url"]["url"]
            parsed = data_url(url, f"{pw}.image_url.url")
            source = (
                {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
                if parsed
                else {"type": "url", "url": url}
            )
            blocks.append(_with_cache_control({"type": "image", "source": source}, part))
        elif kind == "file":
            blocks.append(_with_cache_control(_document(part, pw), part))
        else:
            raise invalid(
                f"'{pw}': {kind} parts are not supported by Anthropic models.", param=pw, code="unsupported_parameter"
            )
    return blocks


def _document(part: dict, where: str) -> dict:
    media_type, b64 = file_data(part, where, "Anthropic")
    if media_type != "application/pdf":
        raise invalid(
            f"'{where}.file': Anthropic models accept PDF files only, not {media_type}.",
            param=f"{where}.file",
            code="unsupported_parameter",
        )
    block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": b64}}
    if part["file"].get("filename"):
        block["title"] = part["file"]["filename"]
    return block


def _assistant_blocks(msg: dict, where: str, ids: _ToolIds) -> list[dict]:
    blocks = list(msg.get(THINKING_FIELD) or ())
    blocks += [{"type": "text", "text": t} for t in text_parts(msg.get("content"), where) if t]
    for k, call in enumerate(msg.get("tool_calls") or ()):
        blocks.append(
            {
                "type": "tool_use",
                "id": ids.call(call["id"]),
                "name": call["function"]["name"],
                "input": tool_call_arguments(call, f"{where}.tool_calls[{k}]"),
            }
        )
    return blocks


def _tool_result(msg: dict, where: str, ids: _ToolIds) -> dict:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": ids.result(msg["tool_call_id"])}
    content = msg["content"]
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif texts := [{"type": "text", "text": t} for t in text_parts(content, where) if t]:
        block["content"] = texts
    if not isinstance(content, str):
        # A cache breakpoint on the result's text marks the tool_result block (where Anthropic
        # takes it), so that the conversation up to this result is cached.
        for part in content:
            _with_cache_control(block, part)
    return block


def _add_tools(request: dict, body: dict) -> None:
    tools = []
    for t in request.get("tools") or ():
        fn = t["function"]
        schema = dict(fn.get("parameters") or {})
        schema.setdefault("type", "object")
        tool = {"name": fn["name"], "input_schema": schema}
        if fn.get("description"):
            tool["description"] = fn["description"]
        tools.append(_with_cache_control(tool, t))
    caller_choice = request.get("tool_choice")
    choice_ = _tool_choice(caller_choice)
    if uses_json_tool(request):
        json_format = json_response_format(request)
        assert json_format is not None  # uses_json_tool: the caller asked for JSON
        schema, description = json_format
        if schema.get("type", "object") != "object":
            raise invalid(
                "Anthropic models need a JSON schema whose root is an object in 'response_format'.",
                param="response_format.json_schema.schema",
                code="unsupported_value",
            )
        if any(t["name"] == JSON_TOOL for t in tools):
            raise invalid(
                f"A tool may not be named '{JSON_TOOL}' when 'response_format' asks for JSON from an Anthropic model.",
                param="tools",
                code="unsupported_value",
            )
        tools.append(
            {
                "name": JSON_TOOL,
                "input_schema": schema,
                "description": description
                or ("Give your whole answer to the user through this tool: its input is the answer, as JSON."),
            }
        )
        if caller_choice != "none" and len(tools) > 1:
            choice_ = {"type": "any"}
        else:
            choice_ = {"type": "tool", "name": JSON_TOOL}
    if not tools:
        return
    body["tools"] = tools
    if request.get("parallel_tool_calls") is False:
        choice_ = choice_ or {"type": "auto"}
        if choice_["type"] != "none":
            choice_["disable_parallel_tool_use"] = True
    if choice_ is not None:
        body["tool_choice"] = choice_


def uses_json_tool(request: dict) -> bool:
    """Whether JSON output is asked for and applies (not when a tool call is forced)."""
    return json_response_format(request) is not None and request.get("tool_choice") in (None, "auto", "none")


def _tool_choice(tool_choice) -> dict | None:
    if tool_choice is None:
        return None
    if isinstance(tool_choice, dict):
        return {"type": "tool", "name": tool_choice["function"]["name"]}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[tool_choice]}


# --- Response ---------------------------------------------------------------------------------


def usage_from_anthropic(u: dict | None) -> Usage | None:
    if not u:
        return None
    cache_read = u.get("cache_read_input_tokens") or 0
    # cache_creation_input_tokens counts every write; cache_creation splits them by lifetime.
    by_ttl = u.get("cache_creation")
    write_1h = (by_ttl.get("ephemeral_1h_input_tokens") or 0) if isinstance(by_ttl, dict) else 0
    write_5m = (by_ttl.get("ephemeral_5m_input_tokens") or 0) if isinstance(by_ttl, dict) else 0
    cache_write = max(u.get("cache_creation_input_tokens") or 0, write_5m + write_1h)
    return Usage(
        prompt_tokens=(u.get("input_tokens") or 0) + cache_read + cache_write,
        completion_tokens=u.get("output_tokens") or 0,
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=write_1h,
    )


def matched_stop(stop_reason: str | None, stop_sequence) -> str | None:
    """The caller's stop sequence that ended an answer, as Anthropic reports it."""
    return stop_sequence if stop_reason == "stop_sequence" and isinstance(stop_sequence, str) else None


def from_anthropic(
    response: dict, *, json_tool: bool = False, signed_thinking: bool = False, stop_sequence: bool = False
) -> tuple[dict, Usage | None]:
    """An OpenAI chat.completion dict and the usage for a Messages API response. `json_tool`:
    the request asked for JSON, so a `json_response` tool call is the answer's content.
    `stop_sequence`: the request asked for the matched stop sequence (STOP_SEQUENCE_FIELD)."""
    texts, reasoning, calls, signed = [], [], [], []
    json_text = None
    for block in response.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            signed.append(
                {"type": "thinking", "thinking": block.get("thinking") or "", "signature": block.get("signature") or ""}
            )
        elif kind == "redacted_thinking":
            signed.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            if json_tool and block.get("name") == JSON_TOOL:
                json_text = arguments
            else:
                calls.append(tool_call(block["id"], block["name"], arguments))
    content = json_text if json_text is not None else ("".join(texts) if texts or not calls else None)
    finish = STOP_REASONS.get(response.get("stop_reason"), "stop")
    if finish == "tool_calls" and not calls:
        finish = "stop"
    usage = usage_from_anthropic(response.get("usage"))
    body = completion_body(
        response.get("id") or "msg",
        response.get("model") or "",
        [choice(0, content, calls, finish, "".join(reasoning) or None)],
        usage,
    )
    if signed and signed_thinking:
        body["choices"][0]["message"][THINKING_FIELD] = signed
    if stop_sequence and (matched := matched_stop(response.get("stop_reason"), response.get("stop_sequence"))):
        body["choices"][0][STOP_SEQUENCE_FIELD] = matched
    return body, usage


class AnthropicStream:
    """Turns Messages API stream events (their parsed `data`) into OpenAI chunk dicts.

    feed() takes one event and returns the chunks it produces; close() is called when the byte
    stream ends and returns the final chunks (finish reason, then usage), or raises when the
    stream was cut short.
    """

    def __init__(self, model: str, *, json_tool: bool = False, signed_thinking: bool = False, stop_sequence=False):
        self.chunks = ChunkMaker("msg", model)
        self.json_tool = json_tool
        self.signed_thinking = signed_thinking  # pass signatures on (the gateway's Messages endpoint)
        self.want_stop_sequence = stop_sequence  # say which stop sequence ended it (STOP_SEQUENCE_FIELD)
        self.stop_sequence: str | None = None
        self.blocks: dict[int, list] = {}  # block index -> [kind, tool index, any arguments sent]
        self.tools = 0
        self.usage: dict = {}
        self.stop_reason: str | None = None
        self.done = False

    def feed(self, data: dict) -> list[dict]:
        kind = data.get("type")
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "content_block_start":
            return self._block_start(data["index"], data.get("content_block") or {})
        if kind == "content_block_stop":
            return self._block_stop(data["index"])
        if kind == "message_start":
            message = data.get("message") or {}
            self.chunks.id = message.get("id") or self.chunks.id
            self.chunks.model = message.get("model") or self.chunks.model
            self._merge_usage(message.get("usage"))
            return [self.chunks.delta({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            delta = data.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self.stop_sequence = (
                matched_stop(delta.get("stop_reason"), delta.get("stop_sequence")) or self.stop_sequence
            )
            self._merge_usage(data.get("usage"))
            return []
        if kind == "message_stop":
            return self._finish()
        if kind == "error":
            raise _stream_error(data)
        return []  # ping, and event types added after this was written

    def close(self) -> list[dict]:
        if self.done:
            return []
        if self.stop_reason is None:
            raise UpstreamError("The Anthropic stream ended before the message was complete.", kind="stream")
        return self._finish()

    def _block_start(self, index: int, block: dict) -> list[dict]:
        kind = block.get("type")
        if kind == "tool_use":
            if self.json_tool and block.get("name") == JSON_TOOL:
                self.blocks[index] = ["json", 0, False]
                return []
            self.blocks[index] = ["tool", self.tools, False]
            self.tools += 1
            return [
                self.chunks.delta(
                    {
                        "tool_calls": [
                            {
                                "index": self.tools - 1,
                                "id": block["id"],
                                "type": "function",
                                "function": {"name": block["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            ]
        self.blocks[index] = [kind, 0, False]
        if kind == "redacted_thinking" and self.signed_thinking:
            return [self.chunks.delta({THINKING_FIELD: {"type": "redacted_thinking", "data": block.get("data") or ""}})]
        if kind == "text" and block.get("text"):
            return [self.chunks.delta({"content": block["text"]})]
        if kind == "thinking" and block.get("thinking"):
            return [self.chunks.delta({"reasoning_content": block["thinking"]})]
        return []

    def _delta(self, data: dict) -> list[dict]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return [self.chunks.delta({"content": delta["text"]})] if delta.get("text") else []
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")
            block = self.blocks.get(data["index"])
            if not fragment or block is None:
                return []
            block[2] = True
            if block[0] == "json":
                return [self.chunks.delta({"content": fragment})]
            return [self.chunks.delta({"tool_calls": [{"index": block[1], "function": {"arguments": fragment}}]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self.chunks.delta({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta" and delta.get("signature") and self.signed_thinking:
            return [self.chunks.delta({THINKING_FIELD: {"type": "signature", "signature": delta["signature"]}})]
        return []  # citations_delta

    def _block_stop(self, index: int) -> list[dict]:
        block = self.blocks.get(index)
        if block is None or block[2]:
            return []
        # A tool called without arguments streams none: say "{}" so the arguments parse.
        if block[0] == "json":
            return [self.chunks.delta({"content": "{}"})]
        if block[0] == "tool":
            return [self.chunks.delta({"tool_calls": [{"index": block[1], "function": {"arguments": "{}"}}]})]
        return []

    def _merge_usage(self, usage: dict | None) -> None:
        # message_delta's counts are cumulative: the latest value of each field (cache_creation's
        # split by lifetime too) wins.
        for key, value in (usage or {}).items():
            if isinstance(value, (int, dict)):
                self.usage[key] = value

    def _finish(self) -> list[dict]:
        self.done = True
        finish = STOP_REASONS.get(self.stop_reason, "stop")
        if finish == "tool_calls" and not self.tools:
            finish = "stop"
        out = [self.chunks.delta({}, finish_reason=finish)]
        if self.want_stop_sequence and self.stop_sequence:
            out[0]["choices"][0][STOP_SEQUENCE_FIELD] = self.stop_sequence
        usage = usage_from_anthropic(self.usage)
        if usage is not None:
            out.append(self.chunks.usage(usage))
        return out


# --- Errors -----------------------------------------------------------------------------------

_CONTEXT_MESSAGES = ("prompt is too long", "exceed context limit", "exceeds the context window")
_BILLING_MESSAGES = ("credit balance", "spend limit", "billing")


def status_error(status: int, raw: bytes, headers) -> UpstreamError:
    """The UpstreamError for a non-2xx answer from the Messages API."""
    body = json_or_none(raw)
    error = body.get("error") if body else None
    if not isinstance(error, dict):
        error = {}
    message = error.get("message") or raw[:500].decode(errors="replace") or f"HTTP {status}"
    described = f"Anthropic answered {status} {error.get('type') or ''}: {message}"
    lowered = message.lower()
    if status in (400, 413):
        if any(m in lowered for m in _CONTEXT_MESSAGES):
            # Another model, with a larger window, may take it: not the caller's fault.
            return UpstreamError(described, kind="context_length", status=status, upstream_body=body)
        if not any(m in lowered for m in _BILLING_MESSAGES):
            return UpstreamError(message, kind="status", status=status, caller_fault=True, upstream_body=body)
    # 401/403 (bad key), 402/billing, 404 (unknown model id), 429, 5xx, 529 overloaded: the
    # provider's problem, worth another candidate.
    return UpstreamError(described, kind="status", status=status, retry_after=retry_after(headers), upstream_body=body)


def _stream_error(data: dict) -> UpstreamError:
    error = data.get("error") or {}
    return UpstreamError(
        f"Anthropic stream error {error.get('type')}: {error.get('message')}",
        kind="stream",
        retryable=error.get("type") != "invalid_request_error",
        upstream_body=data,
    )


# --- Adapter ----------------------------------------------------------------------------------


class AnthropicAdapter(VendorAdapter):
    status_error = staticmethod(status_error)

    def build(self, target: Target, request: dict, *, stream: bool) -> tuple[str, dict, dict]:
        body = to_anthropic(request, target.model)
        if stream:
            body["stream"] = True
        headers = {
            "x-api-key": target.api_key or "",
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            **target.extra_headers,
        }
        return f"{target.base_url}/v1/messages", headers, body

    async def count_tokens(self, client, target: Target, request: dict) -> int:
        """The prompt's input tokens as Anthropic counts them (POST /v1/messages/count_tokens, free)."""
        url, headers, body = self.build(target, request, stream=False)
        for name in ("max_tokens", "stop_sequences", "temperature", "top_p", "metadata"):
            body.pop(name, None)
        data = await post_json(
            client,
            url + "/count_tokens",
            body=body,
            headers=headers,
            timeout=target.timeout(),
            status_error=self.status_error,
        )
        count = data.get("input_tokens")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise UpstreamError("Anthropic's token count carried no input_tokens.", kind="protocol")
        return count

    def read(self, data: dict, target: Target, request: dict) -> tuple[dict, Usage | None]:
        return from_anthropic(
            data,
            json_tool=uses_json_tool(request),
            signed_thinking=THINKING_FIELD in request,
            stop_sequence=bool(request.get(STOP_SEQUENCE_FIELD)),
        )

    def translator(self, target: Target, request: dict) -> "AnthropicStream":
        return AnthropicStream(
            target.model.upstream_id,
            json_tool=uses_json_tool(request),
            signed_thinking=THINKING_FIELD in request,
            stop_sequence=bool(request.get(STOP_SEQUENCE_FIELD)),
        )
