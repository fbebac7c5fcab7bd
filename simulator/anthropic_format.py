"""Anthropic's Messages API wire format, prompt caching included.

Errors: {"type": "error", "error": {"type", "message"}}. Streams: `event: message_start`,
`content_block_start`, `ping`, `content_block_delta` (text_delta / input_json_delta),
`content_block_stop`, `message_delta` (stop_reason, stop_sequence, usage), `message_stop`.

Stop sequences: the text ends where the first of the request's `stop_sequences` would be written
(the sequence itself left out), with stop_reason "stop_sequence" and `stop_sequence` naming it.
A refusal (x-sim-finish: content_filter) is stop_reason "refusal".

Extended thinking (`thinking: {"type": "enabled", "budget_tokens": n}`): the answer opens with a
`thinking` block whose `signature` signs its text (streams: thinking_delta, then signature_delta).
As Anthropic requires, a request with thinking on whose last assistant turn used tools must give
that turn back starting with its signed thinking block, else 400.

Prompt caching: a tool, system block or content block marked `cache_control` ends a cacheable prefix
(in the order tools, system, messages). The first request with a prefix writes it
(cache_creation_input_tokens); later ones with the same prefix, for the same model, read it
(cache_read_input_tokens), also when a later request marks a longer prefix that starts with it.
A mark's `ttl` is "5m" (the default) or "1h", and no 1-hour mark may follow a 5-minute one (else
400). The writes are split by lifetime in `cache_creation` as Anthropic bills them: from the
longest prefix read (A) to the last 1-hour mark (B), 1-hour writes (ephemeral_1h_input_tokens);
from there (or A) to the last mark, 5-minute writes (ephemeral_5m_input_tokens). Entries do not
expire here: the cache only forgets the least recently used beyond CACHE_ENTRIES.
"""

import hashlib
import re
from collections import OrderedDict
from typing import Any

from .content import (
    TOKENS_PER_PDF_PAGE,
    Ask,
    Reply,
    estimate_prompt_tokens,
    estimate_text_tokens,
    pdf_pages,
    seed_of,
    split_fixed,
)
from .controls import Controls
from .wire import Parsed, StreamPlan, Tokens, VendorError, WireFormat, dumps, new_id, text_of, text_pieces

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("overloaded_error", "Overloaded"),
    529: ("overloaded_error", "Overloaded"),
}
CACHE_ENTRIES = 50_000
TTLS = ("5m", "1h")


def _event(type_: str, obj) -> bytes:
    return b"event: " + type_.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def _bad(message: str) -> VendorError:
    return VendorError(400, message)


class _Prompt:
    """Walks a request's prompt in cache order, counting text, messages and images, and, when the
    request uses prompt caching, hashing every block boundary."""

    def __init__(self, model: str, caching: bool):
        self.chars = self.messages = self.images = self.pages = 0
        self.caching = caching
        self.hash = hashlib.blake2b(model.encode(), digest_size=16) if caching else None
        self.boundaries: list[tuple[bytes, int]] = []  # (prefix key, prefix tokens) after each block
        self.breakpoints: list[int] = []  # indexes into boundaries
        self.last_1h: int | None = None  # the last breakpoint marked ttl 1h (an index into boundaries)

    def tokens(self) -> int:
        return estimate_prompt_tokens(
            chars=self.chars, messages=self.messages, images=self.images, media_tokens=self.pages * TOKENS_PER_PDF_PAGE
        )

    def block(self, block, chars: int, images: int = 0, pages: int = 0) -> None:
        self.chars += chars
        self.images += images
        self.pages += pages
        if self.hash is not None:  # the request uses prompt caching
            marked = isinstance(block, dict) and "cache_control" in block
            ttl = "5m"
            if marked:
                ttl = _ttl(block["cache_control"], bool(self.breakpoints) and self.last_1h != self.breakpoints[-1])
                block = {k: v for k, v in block.items() if k != "cache_control"}
            self.hash.update(dumps(block))
            self.boundaries.append((self.hash.copy().digest(), self.tokens()))
            if marked:
                self.breakpoints.append(len(self.boundaries) - 1)
                if ttl == "1h":
                    self.last_1h = len(self.boundaries) - 1


def _ttl(mark, after_5m: bool) -> str:
    """A cache mark's lifetime; 400 for one Anthropic refuses."""
    ttl = mark.get("ttl", "5m") if isinstance(mark, dict) else "5m"
    if ttl not in TTLS:
        raise _bad(f"cache_control.ttl: Input should be '5m' or '1h', not {ttl!r}")
    if ttl == "1h" and after_5m:
        raise _bad(
            "A cache_control block with ttl='1h' may not come after one with ttl='5m': "
            "longer-lived cache entries must come first."
        )
    return ttl


def _block_size(block) -> tuple[int, int, int]:
    """(characters, images, PDF pages) of one content block."""
    if isinstance(block, str):
        return len(block), 0, 0
    if not isinstance(block, dict):
        return 0, 0, 0
    kind = block.get("type")
    if kind == "image":
        return 0, 1, 0
    if kind == "document":
        source = block.get("source")
        return 0, 0, pdf_pages(source.get("data") if isinstance(source, dict) else None)
    if kind == "tool_use":
        return len(str(block.get("name", ""))) + len(dumps(block.get("input", {}))), 0, 0
    if kind == "tool_result":
        inner = block.get("content")
        if isinstance(inner, list):
            sizes = [_block_size(b) for b in inner]
            return sum(s[0] for s in sizes), sum(s[1] for s in sizes), sum(s[2] for s in sizes)
        return len(inner) if isinstance(inner, str) else 0, 0, 0
    text = block.get("text", block.get("thinking", ""))
    return (len(text) if isinstance(text, str) else 0), 0, 0


def _uses_cache(body: dict) -> bool:
    # A cheap pre-check: most requests have no cache_control anywhere.
    return any(
        isinstance(v, list) and b"cache_control" in dumps(v)
        for v in (body.get("tools"), body.get("system"), body.get("messages"))
    )


class AnthropicFormat(WireFormat):
    name = "anthropic"

    def __init__(self):
        self.cache: OrderedDict[bytes, None] = OrderedDict()

    def authorized(self, request) -> bool:
        if request.headers.get("x-api-key", "").strip():
            return True
        auth = request.headers.get("Authorization", "")
        return auth[:7].lower() == "bearer " and bool(auth[7:].strip())

    def error(self, err: VendorError) -> tuple[int, dict, bytes]:
        if err.kind == "context":
            type_ = "invalid_request_error"
            message = err.message or "prompt is too long: 210000 tokens > 200000 maximum"
        elif err.status in _ERRORS:
            type_, default = _ERRORS[err.status]
            message = err.message or default
        else:
            type_ = "api_error" if err.status >= 500 else "invalid_request_error"
            message = err.message or f"Request failed with status {err.status}."
        return err.status, err.headers, dumps({"type": "error", "error": {"type": type_, "message": message}})

    def stream_error(self, parsed: Parsed, sent: int) -> bytes:
        return _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})

    def count_tokens(self, body, request, model) -> bytes:
        """POST /v1/messages/count_tokens: the prompt's input tokens, as the request would count them
        (the body takes no max_tokens; a stray one is refused, as Anthropic does)."""
        if isinstance(body, dict) and "max_tokens" in body:
            raise _bad("max_tokens: Extra inputs are not permitted")
        # Any max_tokens will do for the count: one above every thinking budget.
        parsed = self.parse({**body, "max_tokens": 2**31} if isinstance(body, dict) else body, request, model)
        return dumps({"input_tokens": parsed.ask.prompt_tokens})

    def parse(self, body, request, model) -> Parsed:
        if not request.headers.get("anthropic-version"):
            raise _bad("anthropic-version: header is required")
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        if not model:
            raise _bad("model: Field required")
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise _bad("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _bad("max_tokens: Input should be a valid integer greater than or equal to 1")
        messages = body.get("messages")
        if messages is None:
            raise _bad("messages: Field required")
        if not isinstance(messages, list) or not messages:
            raise _bad("messages: at least one message is required")
        prev = None
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role == "system":
                raise _bad(
                    'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                    'parameter, not "system" as an input message role.'
                )
            if role not in ("user", "assistant"):
                raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if i == 0 and role != "user":
                raise _bad('messages: first message must use the "user" role')
            if role == prev:
                raise _bad(
                    f'messages: roles must alternate between "user" and "assistant", but found multiple '
                    f'"{role}" roles in a row'
                )
            prev = role

        prompt = _Prompt(model, _uses_cache(body))
        tools = []
        for tool in body.get("tools") or ():
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                schema = tool.get("input_schema") or {"type": "object", "properties": {}}
                if "input_schema" in tool:
                    tools.append((tool["name"], schema))
                prompt.block(tool, len(dumps({k: v for k, v in tool.items() if k != "cache_control"})))
        system = body.get("system")
        if system:
            prompt.messages += 1
            for block in [system] if isinstance(system, str) else system:
                prompt.block(block, *_block_size(block))
        last_user = ""
        for m in messages:
            prompt.messages += 1
            content = m.get("content")
            for block in [content] if isinstance(content, str) else content or ():
                prompt.block(block, *_block_size(block))
            if m["role"] == "user":
                last_user = text_of(content)

        tool_result = None
        last = messages[-1].get("content")
        if isinstance(last, list):
            results = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
            if results:
                tool_result = " ".join(text_of(r.get("content")) for r in results)
        choice = body.get("tool_choice")
        if not isinstance(choice, dict):
            choice = {}
        kind = choice.get("type", "auto")
        tool_choice = {"none": "none", "any": "required"}.get(kind, "auto")
        if kind == "tool" and isinstance(choice.get("name"), str):
            tool_choice = choice["name"]
        ask = Ask(
            model=model,
            prompt_tokens=prompt.tokens(),
            seed=seed_of(model + last_user),
            images=prompt.images,
            pages=prompt.pages,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tools_allowed=not choice.get("disable_parallel_tool_use", False),
            tool_result=tool_result,
            max_tokens=max_tokens,
            stop=_stop_sequences(body.get("stop_sequences")),
        )
        thinking = _thinking(body, model, max_tokens)
        if thinking and kind in ("any", "tool"):
            raise _bad("Thinking may not be enabled when tool_choice forces tool use.")
        if thinking:
            _check_thinking_turn(messages)
        return Parsed(ask, body.get("stream") is True, {"prompt": prompt, "thinking": thinking})

    def tokens(self, parsed: Parsed, reply: Reply, controls: Controls) -> Tokens:
        ask = parsed.ask
        prompt: _Prompt = parsed.meta["prompt"]
        read = write = write_1h = 0
        if prompt.breakpoints:
            last_bp = prompt.breakpoints[-1]
            for key, tokens in reversed(prompt.boundaries[: last_bp + 1]):
                if key in self.cache:
                    self.cache.move_to_end(key)
                    read = tokens
                    break
            write = prompt.boundaries[last_bp][1] - read
            if prompt.last_1h is not None:
                write_1h = max(prompt.boundaries[prompt.last_1h][1] - read, 0)
            for i in prompt.breakpoints:
                self.cache[prompt.boundaries[i][0]] = None
                self.cache.move_to_end(prompt.boundaries[i][0])
            while len(self.cache) > CACHE_ENTRIES:
                self.cache.popitem(last=False)
        elif controls.cached_tokens:
            read = min(controls.cached_tokens, ask.prompt_tokens)
        return Tokens(
            prompt=ask.prompt_tokens,
            completion=reply.completion_tokens,
            cached=read,
            cache_write=write,
            cache_write_1h=write_1h,
        )

    @staticmethod
    def _input_usage(t: Tokens) -> dict:
        return {
            "input_tokens": t.prompt - t.cached - t.cache_write,
            "cache_creation_input_tokens": t.cache_write,
            "cache_read_input_tokens": t.cached,
            "cache_creation": {
                "ephemeral_5m_input_tokens": t.cache_write - t.cache_write_1h,
                "ephemeral_1h_input_tokens": t.cache_write_1h,
            },
        }

    @staticmethod
    def _stop(reply: Reply) -> tuple[str, str | None]:
        """(stop_reason, stop_sequence): the caller's stop sequence that ended the text, as Anthropic
        names it, else the finish in Anthropic's words."""
        if reply.stop_sequence is not None:
            return "stop_sequence", reply.stop_sequence
        return STOP_REASONS[reply.finish], None

    def complete(self, parsed: Parsed, reply: Reply, tokens: Tokens | None) -> bytes:
        if reply.tool_calls:
            content = [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in reply.tool_calls]
        else:
            content = [{"type": "text", "text": reply.text}]
        if reply.reasoning:
            content.insert(0, {"type": "thinking", "thinking": reply.reasoning, "signature": sign(reply.reasoning)})
        reason, sequence = self._stop(reply)
        body: dict[str, Any] = {
            "id": "msg_" + new_id(),
            "type": "message",
            "role": "assistant",
            "model": parsed.ask.model,
            "content": content,
            "stop_reason": reason,
            "stop_sequence": sequence,
        }
        if tokens is not None:
            body["usage"] = {**self._input_usage(tokens), "output_tokens": tokens.completion}
        return dumps(body)

    def stream(self, parsed: Parsed, reply: Reply, tokens: Tokens | None, controls: Controls) -> StreamPlan:
        message: dict[str, Any] = {
            "id": "msg_" + new_id(),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": parsed.ask.model,
            "stop_reason": None,
            "stop_sequence": None,
        }
        if tokens is not None:
            message["usage"] = {**self._input_usage(tokens), "output_tokens": 1}
        head = [_event("message_start", {"type": "message_start", "message": message})]
        content = []
        first = 0  # the index of the first block after the thinking block, if any
        if reply.reasoning:
            first = 1
            head.append(
                _event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
                + _event("ping", {"type": "ping"})
            )
            head.append(
                _event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "thinking_delta", "thinking": reply.reasoning},
                    },
                )
            )
            head.append(
                _event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "signature_delta", "signature": sign(reply.reasoning)},
                    },
                )
            )
        if reply.tool_calls:
            for i, call in enumerate(reply.tool_calls, start=first):
                opening = _event("content_block_stop", {"type": "content_block_stop", "index": i - 1}) if i else b""
                opening += _event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}},
                    },
                )
                opening += _json_delta(i, "")
                if i == first:
                    head.append(opening + (b"" if first else _event("ping", {"type": "ping"})))
                    opening = b""
                for piece in split_fixed(call.arguments):
                    content.append((opening + _json_delta(i, piece), estimate_text_tokens(piece)))
                    opening = b""
            last_index = first + len(reply.tool_calls) - 1
        else:
            if first:
                head.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
            head.append(
                _event(
                    "content_block_start",
                    {"type": "content_block_start", "index": first, "content_block": {"type": "text", "text": ""}},
                )
            )
            if not first:
                head.append(_event("ping", {"type": "ping"}))
            for piece in text_pieces(reply.text, controls):
                content.append(
                    (
                        _event(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": first,
                                "delta": {"type": "text_delta", "text": piece},
                            },
                        ),
                        estimate_text_tokens(piece),
                    )
                )
            last_index = first
        reason, sequence = self._stop(reply)
        delta = {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence}}
        if tokens is not None:
            delta["usage"] = {**self._input_usage(tokens), "output_tokens": tokens.completion}
        tail = [
            _event("content_block_stop", {"type": "content_block_stop", "index": last_index}),
            _event("message_delta", delta),
            _event("message_stop", {"type": "message_stop"}),
        ]
        return StreamPlan(head, content, tail)


def sign(thinking: str) -> str:
    """The simulated signature of a thinking block's text."""
    return "sig_" + hashlib.sha256(b"simulator thinking\0" + thinking.encode()).hexdigest()[:32]


# Adaptive thinking and the effort setting, by model (Anthropic's model pages): adaptive on Opus and
# Sonnet 4.6 and later, effort on Opus 4.5 and later and Sonnet 4.6 and later.
ADAPTIVE_MODELS = re.compile(r"claude-(opus|sonnet)-(4-[6-9]|[5-9])")
EFFORT_MODELS = re.compile(r"claude-(opus-4-[5-9]|sonnet-4-[6-9]|(opus|sonnet)-[5-9])")
EFFORTS = ("low", "medium", "high", "max")


def _thinking(body: dict, model: str, max_tokens: int) -> bool:
    """Whether the model thinks before answering; 400 for a `thinking` or `output_config` this
    model refuses, as Anthropic's API does."""
    config = body.get("output_config")
    if config is not None:
        if not isinstance(config, dict):
            raise _bad("output_config: Input should be a valid dictionary")
        effort = config.get("effort")
        if effort is not None:
            if effort not in EFFORTS:
                raise _bad(f"output_config.effort: Input should be {', '.join(map(repr, EFFORTS))}")
            if not EFFORT_MODELS.search(model):
                raise _bad(f"output_config.effort: effort is not supported on {model}")
            if effort == "max" and "opus" not in model:
                raise _bad(f"output_config.effort: 'max' is not supported on {model}")
    field = body.get("thinking")
    if field is None:
        return False
    kind = field.get("type") if isinstance(field, dict) else None
    if kind == "disabled":
        return False
    if kind == "adaptive":
        if not ADAPTIVE_MODELS.search(model):
            raise _bad(f"thinking.type: adaptive thinking is not supported on {model}; use 'enabled'")
        return True
    if kind == "enabled":
        budget = field.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
            raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= max_tokens:
            raise _bad("`max_tokens` must be greater than `thinking.budget_tokens`")
        return True
    raise _bad("thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'")


def _check_thinking_turn(messages: list) -> None:
    """With thinking on, the last assistant turn, when it used tools, must open with its signed
    thinking block (Anthropic's rule for tool use with extended thinking)."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") != "assistant":
            continue
        content = m.get("content")
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        if not any(b.get("type") == "tool_use" for b in blocks):
            return
        head = blocks[0]
        if head.get("type") == "redacted_thinking":
            return
        if head.get("type") != "thinking":
            raise _bad(
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{head.get('type')}`. When `thinking` is enabled, a final `assistant` message must start "
                "with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
            )
        if head.get("signature") != sign(head.get("thinking") or ""):
            raise _bad(f"messages.{i}.content.0: Invalid `signature` in `thinking` block")
        return


def _stop_sequences(value) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _bad("stop_sequences: Input should be a valid list of strings")
    return tuple(value)


def _json_delta(index: int, piece: str) -> bytes:
    return _event(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
    )
