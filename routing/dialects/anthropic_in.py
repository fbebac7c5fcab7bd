"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API, inbound.

A Messages request is translated into a chat-completions request and served by the chat path
itself (routing.gateway.chat_completions): the same keys, routes, pinned models, failover, holds,
billing and usage rows; each target's adapter then speaks its vendor's format. The answer (or
its stream) is translated back into Anthropic's shapes, errors included
({"type": "error", "error": {"type", "message"}} with Anthropic's status codes and types).

Translation choices:
- `system` (a string or text blocks) becomes a system message; text, image (base64 or URL) and
  document (base64 PDF) blocks become content parts, `tool_result` blocks tool messages (ahead of
  the user's other blocks of that turn). A `cache_control` on any of them, or on a tool, is kept
  (on a tool result: on its last text) and the Anthropic adapter puts it back where the caller
  had it, so prompt caching works; the cache writes and reads Claude reports come back in the
  usage and are charged at the catalog's cache-write and cached-input prices. A 1-hour mark
  (`"ttl": "1h"`) stays one for a model with a 1-hour cache-write price, whose 1-hour writes are
  charged at it (`usage.cache_creation` splits the writes by lifetime, as Anthropic's does; in a
  stream, on message_delta: message_start goes out before the upstream has counted anything); a
  model without that price is sent it without the ttl, a 5-minute mark. Other vendors never see a
  tool's mark (they cache on their own).
- Assistant `tool_use` blocks become tool_calls. With thinking on, an assistant turn's signed
  `thinking` / `redacted_thinking` blocks ride along (the gateway field x_anthropic_thinking) for
  Anthropic targets, which need them back during tool use; other vendors never see them.
- `thinking` goes to Anthropic targets as it is and to others as reasoning_effort (by budget:
  < 4096 low, < 16384 medium, else high; adaptive thinking by `output_config.effort`, high when
  none is given or it is above high). Claude models that do not take adaptive thinking get a
  fixed budget instead (routing/adapters/anthropic.py). `output_config.effort` goes to the
  Claude models that take it; `output_config.format` (a JSON schema) becomes a strict
  json_schema response_format, which every vendor is held to. Answers carry Anthropic's signatures when Claude
  thought; other models' reasoning comes back as thinking blocks with an empty signature.
  `top_k`, server tools (web search, code execution...)
  and other Anthropic-only features that cannot be carried are a 400 naming them.
- Stop reasons: stop -> end_turn, length -> max_tokens, tool_calls -> tool_use, content_filter ->
  refusal. The usage's input_tokens excludes cache reads and writes, as Anthropic counts it.
- A key with rate limits gets Anthropic's anthropic-ratelimit-{requests,tokens}-{limit,remaining,
  reset} headers (the reset an RFC 3339 time) instead of OpenAI's x-ratelimit-* ones; a 429 is a
  rate_limit_error with retry-after, as Anthropic's. The request id is also sent as `request-id`.
- Stop sequences: the request asks the chat path which of its `stop_sequences` ended the answer
  (the gateway field x_stop_sequence, see routing/adapters/base.py), and the answer says
  stop_reason "stop_sequence" with `stop_sequence` set to it whenever the upstream names it:
  Claude always does; OpenAI-format servers built on vLLM (`stop_reason`) or SGLang
  (`matched_stop`) do. OpenAI itself, the other OpenAI-format vendors and Gemini report a stop
  sequence as an ordinary stop, indistinguishable from the model ending its turn: the answer's
  text cannot tell either (the sequence is left out, and a turn may end right where one would
  have begun), so those answers say end_turn with stop_sequence null rather than a guess.
"""

from typing import Any

import orjson

from routing import limits
from routing.adapters.anthropic import EFFORT_FIELD, THINKING_FIELD
from routing.adapters.base import STOP_SEQUENCE_FIELD
from routing.api_types import ApiResponse, ApiStream
from routing.catalog import get_snapshot
from routing.errors import GatewayError, UpstreamError

from . import chat_path

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "function_call": "tool_use",
}
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_THINKING_BLOCKS = ("thinking", "redacted_thinking")


class _Invalid(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def error_response(status: int, message: str, headers: dict | None = None) -> ApiResponse:
    body = {
        "type": "error",
        "error": {
            "type": _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
            "message": message,
        },
    }
    return ApiResponse(orjson.dumps(body), status=status, headers=_native_headers(headers or {}))


def _native_headers(headers: dict) -> dict:
    """The chat path's headers as Anthropic sends its own: rate limits as anthropic-ratelimit-*,
    and the request id also as `request-id` (the SDK's `_request_id`)."""
    out = limits.as_anthropic(headers)
    if "x-request-id" in out:
        out = {**out, "request-id": out["x-request-id"]}
    return out


def _from_openai_error(resp: ApiResponse) -> ApiResponse:
    try:
        err = orjson.loads(resp.body)["error"]
        message = err["message"]
        if err.get("param"):
            message += f" (parameter: {err['param']})"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = resp.body.decode(errors="replace")
    return error_response(resp.status, message, resp.headers)


# --- Request: Messages -> chat completions ----------------------------------------------------


def _part(block: dict, where: str) -> dict:
    kind = block.get("type")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise _Invalid(f"{where}.text: Input should be a valid string")
        part = {"type": "text", "text": block["text"]}
    elif kind == "image":
        src = block.get("source") or {}
        if src.get("type") == "base64" and isinstance(src.get("data"), str):
            url = f"data:{src.get('media_type') or 'image/png'};base64,{src['data']}"
        elif src.get("type") == "url" and isinstance(src.get("url"), str):
            url = src["url"]
        else:
            raise _Invalid(f"{where}.source: an image source must be base64 data or a URL")
        part = {"type": "image_url", "image_url": {"url": url}}
    elif kind == "document":
        src = block.get("source") or {}
        if src.get("type") != "base64" or src.get("media_type") != "application/pdf":
            raise _Invalid(f"{where}.source: documents are accepted as base64 PDFs only")
        part = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{src.get('data', '')}"}}
        if block.get("title"):
            part["file"]["filename"] = block["title"]
    else:
        raise _Invalid(f"{where}.type: content blocks of type '{kind}' are not supported here")
    if block.get("cache_control"):
        part["cache_control"] = block["cache_control"]
    return part


def _tool_result_text(block: dict, where: str) -> str | list:
    content = block.get("content")
    text: str | list[dict[str, Any]]
    if content is None or isinstance(content, str):
        text = content or ""
    elif isinstance(content, list):
        parts = [_part(b, f"{where}.content.{j}") for j, b in enumerate(content) if isinstance(b, dict)]
        if any(p["type"] != "text" for p in parts):
            raise _Invalid(f"{where}.content: only text tool results can be carried to every model")
        text = [{"type": "text", "text": p["text"]} for p in parts]
    else:
        raise _Invalid(f"{where}.content: Input should be a string or a list of blocks")
    if block.get("is_error"):
        prefix = "Error: "
        text = prefix + text if isinstance(text, str) else [{"type": "text", "text": prefix}] + text
    if block.get("cache_control"):  # kept on the result's last text (Anthropic targets cache up to it)
        text = [{"type": "text", "text": text}] if isinstance(text, str) else text
        if text:
            text[-1] = {**text[-1], "cache_control": block["cache_control"]}
    return text


def _messages(body: dict, thinking: bool = False) -> list[dict]:
    out: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str):
        if system:
            out.append({"role": "system", "content": system})
    elif isinstance(system, list):
        parts = [_part(b, f"system.{i}") for i, b in enumerate(system) if isinstance(b, dict)]
        if parts:
            out.append({"role": "system", "content": parts})
    elif system is not None:
        raise _Invalid("system: Input should be a string or a list of text blocks")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("messages: Field required (a non-empty list)")
    for i, msg in enumerate(messages):
        where = f"messages.{i}"
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in ("user", "assistant"):
            raise _Invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        content = msg.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise _Invalid(f"{where}.content: Input should be a string or a list of content blocks")
        if role == "assistant":
            out.append(_assistant(content, where, thinking))
            continue
        parts = []
        for j, block in enumerate(content):
            bw = f"{where}.content.{j}"
            if not isinstance(block, dict):
                raise _Invalid(f"{bw}: Input should be an object")
            if block.get("type") == "tool_result":
                if not isinstance(block.get("tool_use_id"), str):
                    raise _Invalid(f"{bw}.tool_use_id: Field required")
                out.append(
                    {"role": "tool", "tool_call_id": block["tool_use_id"], "content": _tool_result_text(block, bw)}
                )
            else:
                parts.append(_part(block, bw))
        if parts:
            out.append({"role": "user", "content": parts})
    return out


def _assistant(content: list, where: str, thinking: bool) -> dict:
    texts, calls, signed = [], [], []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in _THINKING_BLOCKS:
            if thinking:
                signed.append({k: v for k, v in block.items() if k != "cache_control"})
        elif kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise _Invalid(f"{where}.content.{j}: tool_use blocks need an id and a name")
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": orjson.dumps(block.get("input") or {}).decode()},
                }
            )
        else:
            raise _Invalid(f"{where}.content.{j}.type: '{kind}' blocks are not supported in assistant turns")
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if signed:
        msg[THINKING_FIELD] = signed
    if calls:
        msg["tool_calls"] = calls
    elif msg["content"] is None:
        msg["content"] = ""
    return msg


def _tools(body: dict, chat: dict) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _Invalid("tools: Input should be a list")
        out = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise _Invalid(f"tools.{i}.name: Field required")
            if tool.get("type") not in (None, "custom"):
                raise _Invalid(
                    f"tools.{i}: the server tool '{tool['type']}' ({tool['name']}) is not supported "
                    "through this gateway; declare your own tools instead"
                )
            fn = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
            if tool.get("description"):
                fn["description"] = tool["description"]
            out.append({"type": "function", "function": fn})
            if tool.get("cache_control"):
                out[-1]["cache_control"] = tool["cache_control"]
        if out:
            chat["tools"] = out
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise _Invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if choice["type"] == "tool":
        if not isinstance(choice.get("name"), str):
            raise _Invalid("tool_choice.name: Field required")
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        chat["tool_choice"] = _TOOL_CHOICES[choice["type"]]
    if choice.get("disable_parallel_tool_use") and chat.get("tools"):
        chat["parallel_tool_calls"] = False


EFFORTS = ("low", "medium", "high", "xhigh", "max")


def _output_config(body: dict, chat: dict) -> str | None:
    """`output_config`: `effort` goes to Claude models that take it (the gateway field
    x_anthropic_effort); `format` (a JSON schema) becomes response_format, which every vendor
    honours. Returns the effort."""
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _Invalid("output_config: Input should be a valid dictionary")
    for key in config:
        if key not in ("effort", "format"):
            raise _Invalid(f"output_config.{key}: Extra inputs are not permitted")
    effort = config.get("effort")
    if effort is not None:
        if effort not in EFFORTS:
            raise _Invalid(f"output_config.effort: Input should be {', '.join(map(repr, EFFORTS))}")
        chat[EFFORT_FIELD] = effort
    fmt = config.get("format")
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            raise _Invalid("output_config.format.type: Input should be 'json_schema'")
        if not isinstance(fmt.get("schema"), dict):
            raise _Invalid("output_config.format.schema: Field required (a JSON schema object)")
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True},
        }
    return effort


def to_chat(body: dict, *, count_only: bool = False) -> dict:
    """The chat-completions request for a Messages request (raises _Invalid)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _Invalid("model: Field required")
    thinking = body.get("thinking")
    enabled = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    chat: dict[str, Any] = {"model": model, "messages": _messages(body, enabled)}
    if not count_only:
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _Invalid("max_tokens: Field required (an integer of at least 1)")
        chat["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("top_k") is not None:
        raise _Invalid("top_k: not supported through this gateway (it cannot be carried to every model); remove it")
    for name in ("mcp_servers", "container"):
        if body.get(name):
            raise _Invalid(f"{name}: not supported through this gateway (it needs Anthropic's own servers)")
    stop = body.get("stop_sequences")
    if stop:
        chat["stop"] = stop
        chat[STOP_SEQUENCE_FIELD] = True
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("user_id"), str):
        chat["user"] = meta["user_id"]
    effort = _output_config(body, chat)
    if enabled:
        assert isinstance(thinking, dict)  # as `enabled` says
        if thinking["type"] == "adaptive":
            display = thinking.get("display")
            if display is not None and display not in ("summarized", "omitted"):
                raise _Invalid("thinking.display: Input should be 'summarized' or 'omitted'")
            # Anthropic's default effort is high; vendors without "max" or "xhigh" get their highest.
            chat["reasoning_effort"] = "high" if effort in (None, "xhigh", "max") else effort
        else:
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
                raise _Invalid("thinking.budget_tokens: Field required (an integer)")
            chat["reasoning_effort"] = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
        chat[THINKING_FIELD] = thinking
    elif thinking is not None and not (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        raise _Invalid("thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'")
    _tools(body, chat)
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    elif body.get("stream") not in (None, False):
        raise _Invalid("stream: Input should be a valid boolean")
    return chat


# --- Response: chat completion -> Message -----------------------------------------------------


def usage_of(u: dict | None) -> dict:
    u = u or {}
    details = u.get("prompt_tokens_details") or {}
    read = details.get("cached_tokens") or 0
    write = details.get("cache_write_tokens") or 0
    write_1h = min(details.get("cache_write_1h_tokens") or 0, write)
    return {
        "input_tokens": max((u.get("prompt_tokens") or 0) - read - write, 0),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write - write_1h, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": u.get("completion_tokens") or 0,
    }


def message_id(headers: dict) -> str:
    rid = headers.get("x-request-id", "")
    return "msg_" + (rid[4:] if rid.startswith("req_") else rid)


def stop_of(choice: dict) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) of a chat choice (a stream's: the chunk with the finish_reason)."""
    matched = choice.get(STOP_SEQUENCE_FIELD)
    if isinstance(matched, str):
        return "stop_sequence", matched
    return STOP_REASONS.get(choice.get("finish_reason") or "", "end_turn"), None


def to_message(completion: dict, headers: dict) -> dict:
    choice = (completion.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    content = []
    if msg.get(THINKING_FIELD):
        content += msg[THINKING_FIELD]
    elif msg.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": msg["reasoning_content"], "signature": ""})
    if msg.get("content"):
        content.append({"type": "text", "text": msg["content"]})
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": fn.get("name") or "",
                "input": args if isinstance(args, dict) else {},
            }
        )
    stop_reason, stop_sequence = stop_of(choice)
    return {
        "id": message_id(headers),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_of(completion.get("usage")),
    }


def _event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessageStream:
    """Turns the chat path's SSE frames into Anthropic's event sequence: message_start, ping,
    content_block_start / _delta / _stop per block, message_delta (stop reason, usage),
    message_stop; an error mid-stream becomes an `error` event."""

    def __init__(self, frames, headers: dict, input_estimate: int):
        self.frames = frames
        self.headers = headers
        self.input_estimate = input_estimate
        self.index = -1
        self.open: str | None = None  # the kind of the open block
        self.tools: dict[int, int] = {}  # chat tool index -> block index
        self.stop_reason = "end_turn"
        self.stop_sequence: str | None = None
        self.usage: dict | None = None
        self.signature = ""  # of the open thinking block, when Anthropic signed it

    def _start(self, block: dict) -> bytes:
        out = self._stop()
        self.index += 1
        self.open = block["type"]
        return out + _event(
            "content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block}
        )

    def _stop(self) -> bytes:
        if self.open is None:
            return b""
        out = b""
        if self.open == "thinking":
            out = _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": self.index,
                    "delta": {"type": "signature_delta", "signature": self.signature},
                },
            )
            self.signature = ""
        self.open = None
        return out + _event("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _delta(self, delta: dict) -> bytes:
        out = b""
        signed = delta.get(THINKING_FIELD)
        if signed:
            if signed.get("type") == "signature":
                self.signature = signed.get("signature") or ""
            elif signed.get("type") == "redacted_thinking":
                out += self._start({"type": "redacted_thinking", "data": signed.get("data") or ""})
        if delta.get("reasoning_content"):
            if self.open != "thinking":
                out += self._start({"type": "thinking", "thinking": "", "signature": ""})
            out += _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": self.index,
                    "delta": {"type": "thinking_delta", "thinking": delta["reasoning_content"]},
                },
            )
        if delta.get("content"):
            if self.open != "text":
                out += self._start({"type": "text", "text": ""})
            out += _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": self.index,
                    "delta": {"type": "text_delta", "text": delta["content"]},
                },
            )
        for tc in delta.get("tool_calls") or ():
            k = tc.get("index", 0)
            fn = tc.get("function") or {}
            if k not in self.tools:
                out += self._start(
                    {"type": "tool_use", "id": tc.get("id") or f"toolu_{k}", "name": fn.get("name") or "", "input": {}}
                )
                self.tools[k] = self.index
            if fn.get("arguments"):
                out += _event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": self.tools[k],
                        "delta": {"type": "input_json_delta", "partial_json": fn["arguments"]},
                    },
                )
        return out

    async def __aiter__(self):
        model = self.headers.get("x-aipower-model", "")
        yield _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id(self.headers),
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": self.input_estimate,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 0,
                    },
                },
            },
        )
        yield _event("ping", {"type": "ping"})
        async for chunk in chat_path.chunks(self.frames):
            if chunk is None:
                yield (
                    self._stop()
                    + _event(
                        "message_delta",
                        {
                            "type": "message_delta",
                            "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
                            "usage": usage_of(self.usage),
                        },
                    )
                    + _event("message_stop", {"type": "message_stop"})
                )
                return
            if "error" in chunk:
                err = chunk["error"] or {}
                yield _event(
                    "error", {"type": "error", "error": {"type": "api_error", "message": err.get("message", "")}}
                )
                return
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                out = self._delta(choice.get("delta") or {})
                if choice.get("finish_reason"):
                    self.stop_reason, self.stop_sequence = stop_of(choice)
                if out:
                    yield out


# --- Endpoints --------------------------------------------------------------------------------


def _parse(request) -> dict:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise _Invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _Invalid("The request body must be a JSON object.")
    return body


async def messages(request) -> ApiResponse | ApiStream:
    try:
        chat = to_chat(_parse(request))
    except _Invalid as err:
        return error_response(err.status, err.message)
    resp = await chat_path.serve(request, chat)
    if isinstance(resp, ApiStream):
        estimate = (len(request.body) + 3) // 4
        return ApiStream(
            MessageStream(resp.chunks, resp.headers, estimate).__aiter__(),
            status=resp.status,
            headers=_native_headers(resp.headers),
        )
    if resp.status != 200:
        return _from_openai_error(resp)
    return ApiResponse(
        orjson.dumps(to_message(orjson.loads(resp.body), resp.headers)),
        headers=_native_headers(resp.headers),
        ack=resp.ack,
    )


async def count_tokens(request) -> ApiResponse:
    """The input tokens of a Messages request for the model it would go to first: Anthropic's own
    count for Anthropic models (their count endpoint, through the adapter), the gateway's estimate
    (the one its holds use) for others. Free; no usage row."""
    from routing import gateway, policy
    from routing.adapters import adapter_for
    from routing.request import validate
    from routing.upstream import get_client, target_for

    try:
        key = await gateway.authenticate(request)
        chat = to_chat(_parse(request), count_only=True)
        features = validate(chat)
        snapshot = await get_snapshot()
        plan = policy.plan(chat["model"], features, snapshot, fallback=True)
        if key.allowed:
            plan = policy.restrict(plan, chat["model"], key.allowed, snapshot)
    except _Invalid as err:
        return error_response(err.status, err.message)
    except GatewayError as err:
        return error_response(err.status, err.message)
    model = plan.candidates[0]
    counted_by = "estimate"
    tokens = features.prompt_tokens
    if model.provider.wire_format == "anthropic":
        target = target_for(model, snapshot, request.headers, stream=False)
        try:
            tokens = await adapter_for("anthropic").count_tokens(get_client(), target, chat)
            counted_by = "anthropic"
        except GatewayError as err:
            return error_response(err.status, err.message)
        except UpstreamError as err:
            if err.caller_fault:
                return error_response(err.status or 400, err.message)
            # The count endpoint is away: the estimate is still an honest answer, and says so.
    headers = {"x-aipower-model": model.public_id, "x-aipower-token-count": counted_by}
    return ApiResponse(orjson.dumps({"input_tokens": tokens}), headers=headers)
