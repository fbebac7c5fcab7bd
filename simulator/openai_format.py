"""OpenAI's chat-completions wire format (also spoken by DeepSeek, Qwen, GLM, Moonshot, MiniMax, Doubao).

`n` > 1 gives n choices (the same simulated reply, its tokens counted n times); `logprobs`
gives each content token's logprob (and `top_logprobs` alternatives), deterministic per token.

Errors: {"error": {"message", "type", "param", "code"}}. Streams: `data: {chat.completion.chunk}`
events, a last chunk with the finish reason, the usage chunk (choices: []) when
stream_options.include_usage is set, then `data: [DONE]`.

`stop` (a string or up to 4) ends the text before the first one generated, finish_reason "stop",
which is all OpenAI says. Servers built on vLLM add the matched string to the choice as
`stop_reason`, SGLang as `matched_stop`: x-sim-stop-field (stop_reason | matched_stop) answers so.
"""

from typing import Any

from .content import (
    TOKENS_PER_PDF_PAGE,
    Ask,
    Reply,
    audio_tokens,
    estimate_prompt_tokens,
    estimate_text_tokens,
    pdf_pages,
    seed_of,
    split_fixed,
    split_words,
)
from .controls import Controls
from .wire import Parsed, StreamPlan, Tokens, VendorError, WireFormat, dumps, new_id, now, text_of, text_pieces

_ERRORS = {  # status: (type, code, message)
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("authentication_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to access this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    408: ("server_error", "timeout", "Request timed out."),
    413: ("invalid_request_error", None, "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("rate_limit_exceeded", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
}
_SERVER_ERROR = ("server_error", None, "The server had an error while processing your request. Sorry about that!")
_OVERLOADED = ("server_error", "overloaded", "The engine is currently overloaded, please try again later.")

_DONE = b"data: [DONE]\n\n"


# Vendors that answer 400 to Anthropic's cache_control mark on a content part, as OpenAI does
# ("Unknown parameter") and Zhipu's GLM; Model Studio (qwen, alibaba) reads it, others ignore it.
REJECTS_CACHE_MARKS = frozenset({"openai", "zhipu"})


def _sse(obj) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


class OpenAIFormat(WireFormat):
    name = "openai"

    def authorized(self, request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth[:7].lower() == "bearer " and bool(auth[7:].strip())

    def error(self, err: VendorError) -> tuple[int, dict, bytes]:
        status = err.status
        code: str | None
        param: str | None
        if err.kind == "context":
            type_, code = "invalid_request_error", "context_length_exceeded"
            message = err.message or (
                "This model's maximum context length is 8192 tokens. However, your messages "
                "resulted in more tokens. Please reduce the length of the messages."
            )
            param = err.param or "messages"
        else:
            if status in _ERRORS:
                type_, code, default = _ERRORS[status]
            elif status in (503, 529):
                type_, code, default = _OVERLOADED
            elif status >= 500:
                type_, code, default = _SERVER_ERROR
            else:
                type_, code, default = "invalid_request_error", None, f"Request failed with status {status}."
            message = err.message or default
            param = err.param
        body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        return status, err.headers, dumps(body)

    def stream_error(self, parsed: Parsed, sent: int) -> bytes:
        type_, code, message = _SERVER_ERROR
        return _sse({"error": {"message": message, "type": type_, "param": None, "code": code}})

    def parse(self, body, request, model) -> Parsed:
        if not isinstance(body, dict):
            raise VendorError(400, "The request body must be a JSON object.")
        if not model:
            raise VendorError(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise VendorError(400, "'messages' must be a non-empty array.", param="messages")
        chars = images = pages = clips = media = 0
        last_user = ""
        strict = request.match_info.get("provider") in REJECTS_CACHE_MARKS
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise VendorError(400, "Each message must be an object with a 'role'.", param="messages")
            content = m.get("content")
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    if not isinstance(part, dict):
                        continue
                    if strict and "cache_control" in part:
                        raise VendorError(400, f"Unknown parameter: 'messages[{i}].content[{j}].cache_control'.")
                    kind = part.get("type")
                    if kind == "image_url":
                        images += 1
                    elif kind == "file":
                        file = part.get("file")
                        in_file = pdf_pages(file.get("file_data") if isinstance(file, dict) else None)
                        pages, media = pages + in_file, media + in_file * TOKENS_PER_PDF_PAGE
                    elif kind == "input_audio":
                        audio = part.get("input_audio")
                        clips += 1
                        media += audio_tokens(audio.get("data") if isinstance(audio, dict) else None)
                    elif isinstance(part.get("text"), str):
                        chars += len(part["text"])
            for call in m.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    chars += len(str(fn.get("name", ""))) + len(str(fn.get("arguments", "")))
            if m["role"] == "user":
                last_user = text_of(content)
        tools, tools_chars = _tools(body.get("tools"))
        chars += tools_chars

        last = messages[-1]
        tool_result = text_of(last.get("content")) if last.get("role") == "tool" else None
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        ask = Ask(
            model=model,
            prompt_tokens=estimate_prompt_tokens(
                chars=chars, messages=len(messages), images=images, media_tokens=media
            ),
            seed=seed_of(model + last_user),
            images=images,
            pages=pages,
            audio=clips,
            tools=tools,
            tool_choice=_tool_choice(body.get("tool_choice")),
            parallel_tools_allowed=body.get("parallel_tool_calls") is not False,
            tool_result=tool_result,
            json_mode=_json_mode(body.get("response_format")),
            max_tokens=max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
            stop=_stops(body.get("stop")),
        )
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        n = body.get("n")
        n = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
        top = body.get("top_logprobs") if isinstance(body.get("top_logprobs"), int) else 0
        if top and body.get("logprobs") is not True:
            raise VendorError(400, "logprobs must be true when top_logprobs is set.", param="top_logprobs")
        return Parsed(
            ask,
            body.get("stream") is True,
            {
                "include_usage": include_usage,
                "n": n,
                "logprobs": body.get("logprobs") is True,
                "top": top,
                # OpenAI says which tier served the request: the one asked for where it has one.
                "tier": body["service_tier"] if body.get("service_tier") in ("flex", "priority") else "default",
            },
        )

    def tokens(self, parsed: Parsed, reply: Reply, controls: Controls) -> Tokens:
        t = super().tokens(parsed, reply, controls)
        n = parsed.meta.get("n", 1)
        if n > 1:
            t = Tokens(prompt=t.prompt, completion=t.completion * n, cached=t.cached, reasoning=t.reasoning * n)
        return t

    def _usage(self, t: Tokens) -> dict:
        return {
            "prompt_tokens": t.prompt,
            "completion_tokens": t.completion,
            "total_tokens": t.prompt + t.completion,
            "prompt_tokens_details": {"cached_tokens": t.cached},
            "completion_tokens_details": {"reasoning_tokens": t.reasoning},
        }

    def complete(self, parsed: Parsed, reply: Reply, tokens: Tokens | None) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text if not reply.tool_calls else None}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
        body = {
            "id": "chatcmpl-" + new_id(),
            "object": "chat.completion",
            "created": now(),
            "model": parsed.ask.model,
            "choices": [
                {
                    "index": i,
                    "message": message,
                    "finish_reason": reply.finish,
                    "logprobs": _logprobs(parsed, reply.text) if not reply.tool_calls else None,
                    **_matched_stop(parsed, reply),
                }
                for i in range(parsed.meta.get("n", 1))
            ],
            "service_tier": parsed.meta["tier"],
            "system_fingerprint": "fp_simulator",
        }
        if tokens is not None:
            body["usage"] = self._usage(tokens)
        return dumps(body)

    def stream(self, parsed: Parsed, reply: Reply, tokens: Tokens | None, controls: Controls) -> StreamPlan:
        include_usage = parsed.meta.get("include_usage", False) and tokens is not None
        base = {
            "id": "chatcmpl-" + new_id(),
            "object": "chat.completion.chunk",
            "created": now(),
            "model": parsed.ask.model,
            "service_tier": parsed.meta["tier"],
            "system_fingerprint": "fp_simulator",
        }

        n = parsed.meta.get("n", 1)

        def chunk(delta: dict, finish=None, logprobs=None) -> bytes:
            obj = dict(base)
            extra = _matched_stop(parsed, reply) if finish else {}
            obj["choices"] = [
                {"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish, **extra} for i in range(n)
            ]
            if include_usage:
                obj["usage"] = None
            return _sse(obj)

        if reply.tool_calls:
            head = [chunk({"role": "assistant", "content": None})]
        else:
            head = [chunk({"role": "assistant", "content": ""})]
        content = []
        for piece in split_words(reply.reasoning):
            content.append((chunk({"reasoning_content": piece}), estimate_text_tokens(piece)))
        for piece in text_pieces(reply.text, controls):
            content.append(
                (chunk({"content": piece}, logprobs=_logprobs(parsed, piece, whole=False)), estimate_text_tokens(piece))
            )
        for i, call in enumerate(reply.tool_calls):
            content.append(
                (
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": i,
                                    "id": call.id,
                                    "type": "function",
                                    "function": {"name": call.name, "arguments": ""},
                                }
                            ]
                        }
                    ),
                    1,
                )
            )
            for piece in split_fixed(call.arguments):
                content.append(
                    (
                        chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                        estimate_text_tokens(piece),
                    )
                )
        tail = [chunk({}, reply.finish)]
        if include_usage and tokens is not None:
            obj = dict(base)
            obj["choices"] = []
            obj["usage"] = self._usage(tokens)
            tail.append(_sse(obj))
        tail.append(_DONE)
        return StreamPlan(head, content, tail)


def _stops(stop) -> tuple:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise VendorError(400, "'stop' must be a string or an array of at most 4 strings.", param="stop")
    return tuple(stop)


def _matched_stop(parsed: Parsed, reply: Reply) -> dict:
    """The choice's field naming the stop sequence the text ended at, as vLLM or SGLang add it."""
    field = parsed.meta.get("stop_field")
    return {field: reply.stop_sequence} if field else {}


def _logprobs(parsed: Parsed, text: str, whole: bool = True) -> dict | None:
    """OpenAI's logprobs object for `text` (a whole reply: one token a word; else one token),
    when the request asked for it."""
    if not parsed.meta.get("logprobs"):
        return None
    top = parsed.meta.get("top", 0)
    content = []
    words = text.split(" ") if whole and text else [text] if text else []
    for i, word in enumerate(words):
        token = " " + word if i and whole else word
        logprob = -round((sum(token.encode()) % 997) / 1000, 4)
        alts = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
        alts += [
            {"token": f"{token}~{k}", "logprob": round(logprob - k, 4), "bytes": list(f"{token}~{k}".encode())}
            for k in range(1, top)
        ]
        content.append({"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": alts[:top]})
    return {"content": content, "refusal": None}


def _tools(tools) -> tuple[list, int]:
    """[(name, parameters)] of the declared function tools, and the characters their definitions take."""
    out: list[tuple[str, dict]] = []
    chars = 0
    if not isinstance(tools, list):
        return out, 0
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out.append((fn["name"], fn.get("parameters") or {"type": "object", "properties": {}}))
            chars += len(dumps(fn))
    return out, chars


def _tool_choice(choice) -> str:
    if isinstance(choice, str) and choice in ("none", "auto", "required"):
        return choice
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return fn["name"]
    return "auto"


def _json_mode(fmt):
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return "object"
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else "object"
    return None
