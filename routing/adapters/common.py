"""What the non-OpenAI adapters (Anthropic, Gemini) share: calling the upstream with transport
errors mapped to UpstreamError, reading the caller's OpenAI request, and building OpenAI-shaped
answers and chunks.

Nothing here knows a vendor's wire format; the vendor modules pass in what differs (the URL, the
headers, how to read an error body).
"""

import asyncio
import contextlib
import email.utils
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import aiohttp
import httpx
import orjson

from routing.catalog import ModelInfo
from routing.errors import UpstreamError, invalid

from .base import Adapter, Completion, Target, Usage
from .sse import iter_sse

# Turns a non-2xx upstream answer (status, raw body, headers) into the error to raise.
StatusError = Callable[[int, bytes, Mapping[str, str]], UpstreamError]


# --- Calling the upstream -------------------------------------------------------------------


def transport_error(exc: Exception, *, started: bool = False) -> UpstreamError:
    """An UpstreamError for a failure to talk to the upstream at all: an httpx or aiohttp error,
    or one of routing/httpclient.py's (its timeouts are TimeoutErrors, the rest HTTPErrors).

    Classified by the underlying aiohttp error where there is one: httpx_aiohttp maps a refused
    connection to httpx.ConnectTimeout, which would log a dead port as a timeout.
    """
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else exc
    if started:
        kind = "stream"
    elif isinstance(cause, asyncio.TimeoutError):
        kind = "timeout"
    elif isinstance(cause, aiohttp.ClientConnectionError):
        kind = "connect"
    else:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connect"
    what = {
        "timeout": "The upstream timed out",
        "connect": "Could not reach the upstream",
        "stream": "The upstream connection failed mid-answer",
    }[kind]
    return UpstreamError(f"{what}: {exc!r}", kind=kind)


async def post_json(
    client: httpx.AsyncClient, url: str, *, body: dict, headers: dict, timeout: httpx.Timeout, status_error: StatusError
) -> dict:
    try:
        resp = await client.post(url, content=orjson.dumps(body), headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise transport_error(exc) from exc
    if not 200 <= resp.status_code < 300:
        raise status_error(resp.status_code, resp.content, resp.headers)
    try:
        data = orjson.loads(resp.content)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(
            f"The upstream answered with invalid JSON: {exc}", kind="protocol", status=resp.status_code
        ) from exc
    if not isinstance(data, dict):
        raise UpstreamError(
            "The upstream answered with JSON that is not an object.", kind="protocol", status=resp.status_code
        )
    return data


async def stream_sse(
    client: httpx.AsyncClient, url: str, *, body: dict, headers: dict, timeout: httpx.Timeout, status_error: StatusError
) -> AsyncGenerator[tuple[str | None, dict], None]:
    """POSTs `body` and yields (event name, parsed JSON data) for each server-sent event.

    Failing before the response headers arrive is kind connect/timeout; failing after them,
    kind "stream". Use it inside contextlib.aclosing() so that the connection is released as
    soon as the consumer stops, not when the generator is garbage-collected.
    """
    started = False
    # Compressed bytes would reach iter_sse through aiter_raw(): ask for none.
    headers = {**headers, "accept-encoding": "identity"}
    try:
        async with client.stream("POST", url, content=orjson.dumps(body), headers=headers, timeout=timeout) as resp:
            if not 200 <= resp.status_code < 300:
                raise status_error(resp.status_code, await resp.aread(), resp.headers)
            started = True
            raw = resp.aiter_bytes() if resp.headers.get("content-encoding") else resp.aiter_raw()
            async for event, data in iter_sse(raw):
                if data == "[DONE]":
                    continue
                try:
                    parsed = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    raise UpstreamError(
                        f"The upstream sent an event that is not JSON: {data[:200]!r}", kind="stream"
                    ) from exc
                yield event, parsed
    except httpx.HTTPError as exc:
        raise transport_error(exc, started=started) from exc
    except UnicodeDecodeError as exc:
        raise UpstreamError(f"The upstream sent an event that is not UTF-8: {exc}", kind="stream") from exc


# --- Reading upstream errors ----------------------------------------------------------------


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if any."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def json_or_none(raw: bytes) -> dict | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


# --- Reading the caller's request -----------------------------------------------------------

# Parameters no non-OpenAI vendor here can honour; each with the test for "set in a way that
# changes the answer". Sending them to Anthropic or Gemini is a 400 naming the parameter.
_NEVER_SUPPORTED: dict[str, Callable] = {
    "logprobs": bool,
    "top_logprobs": lambda v: v is not None,
    "logit_bias": bool,
    "functions": lambda v: v is not None,
    "function_call": lambda v: v is not None,
    "audio": lambda v: v is not None,
    "modalities": lambda v: bool(v) and any(m != "text" for m in v),
    "prediction": lambda v: v is not None,
    "web_search_options": lambda v: v is not None,
    "verbosity": lambda v: v is not None,
}


def reject_unsupported(request: dict, vendor: str, extra: Mapping[str, Callable] | None = None) -> None:
    for name, is_set in (*_NEVER_SUPPORTED.items(), *(extra or {}).items()):
        if name in request and is_set(request[name]):
            raise invalid(
                f"'{name}' is not supported by {vendor} models; remove it or pick another model.",
                param=name,
                code="unsupported_parameter",
            )
    for i, msg in enumerate(request["messages"]):
        if msg.get("role") == "function":
            raise invalid(
                f"'messages[{i}]': the 'function' role is not supported by {vendor} models; "
                "use tools and 'tool' messages.",
                param=f"messages[{i}].role",
                code="unsupported_parameter",
            )


def conversation(
    msgs: list[dict], vendor: str, *, system: Callable, user: Callable, assistant: Callable, tool: Callable
) -> tuple[list, list[tuple[str, list]]]:
    """Walks the caller's messages: (the system items, the turns) where a turn is (role, items),
    role "user" or "assistant", consecutive messages of one role merged and tool results counted
    as the user's. Each callable turns one message into vendor items: system(content, where),
    user(content, where), assistant(message, where) -> list; tool(message, where) -> one item.
    Messages that give no items are left out; none left at all is a 400."""
    system_items: list = []
    turns: list[tuple[str, list]] = []
    for i, msg in enumerate(msgs):
        role, where = msg["role"], f"messages[{i}]"
        if role in ("system", "developer"):
            system_items.extend(system(msg["content"], where))
            continue
        if role == "user":
            items = user(msg["content"], where)
        elif role == "assistant":
            items = assistant(msg, where)
        else:
            items, role = [tool(msg, where)], "user"
        if not items:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(items)
        else:
            turns.append((role, items))
    if not turns:
        raise invalid(
            f"{vendor} models need at least one non-empty user or assistant message.",
            param="messages",
            code="invalid_value",
        )
    return system_items, turns


def max_tokens(request: dict) -> int | None:
    return request.get("max_completion_tokens") or request.get("max_tokens")


def stop_list(request: dict) -> list[str] | None:
    stop = request.get("stop")
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop) or None


def text_parts(content, where: str) -> list[str]:
    """The texts of a string-or-parts content that may only hold text (system, tool)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for j, part in enumerate(content):
        if part.get("type") not in ("text", "refusal"):
            raise invalid(
                f"'{where}.content[{j}]' must be a text part here.", param=f"{where}.content[{j}]", code="invalid_value"
            )
        texts.append(part.get("text") if part["type"] == "text" else part.get("refusal", ""))
    return texts


def data_url(url: str, where: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a base64 data: URL; None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise invalid(
            f"'{where}' must be a base64 data URL (data:<media type>;base64,<data>).", param=where, code="invalid_value"
        )
    return media_type, data


def file_data(part: dict, where: str, vendor: str) -> tuple[str, str]:
    """(media type, base64 data) of a `file` content part; raw base64 counts as a PDF."""
    file = part.get("file")
    if not isinstance(file, dict):
        file = {}
    data = file.get("file_data")
    if not isinstance(data, str):
        raise invalid(
            f"'{where}.file': {vendor} models take files as base64 'file_data' only.",
            param=f"{where}.file",
            code="unsupported_parameter",
        )
    return data_url(data, f"{where}.file.file_data") or ("application/pdf", data)


def tool_call_arguments(call: dict, where: str) -> dict:
    """The parsed arguments of an assistant tool call (a JSON object; "" counts as {})."""
    raw = call["function"]["arguments"]
    if not raw.strip():
        return {}
    try:
        args = orjson.loads(raw)
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise invalid(
            f"'{where}.function.arguments' must be a JSON object.",
            param=f"{where}.function.arguments",
            code="invalid_value",
        )
    return args


def json_response_format(request: dict) -> tuple[dict, str | None] | None:
    """(JSON schema, description) when the caller asked for JSON output, else None."""
    rf = request.get("response_format")
    if not rf or rf.get("type") == "text":
        return None
    if rf["type"] == "json_object":
        return {"type": "object"}, None
    js = rf["json_schema"]
    return js.get("schema") or {"type": "object"}, js.get("description")


def marks_for(model: ModelInfo, blocks):
    """Content blocks or parts (or tools) as `model` is sent them. A 1-hour prompt-cache mark
    (`"cache_control": {"type": "ephemeral", "ttl": "1h"}`) reaches only a model with a 1-hour
    cache-write price; for any other it loses its ttl and caches for five minutes, so that every
    write is billed at a price the catalog has rather than a guessed one. Anything but a list is
    returned as it is."""
    if model.cache_write_1h_price_usd_micro_per_mtok is not None or type(blocks) is not list:
        return blocks
    return [_five_minute(b) for b in blocks]


def _five_minute(block):
    mark = block.get("cache_control") if type(block) is dict else None
    if type(mark) is dict and mark.get("ttl") == "1h":
        return {**block, "cache_control": {k: v for k, v in mark.items() if k != "ttl"}}
    return block


# --- Building OpenAI answers ----------------------------------------------------------------


def completion_body(id_: str, model: str, choices: list[dict], usage: Usage | None) -> dict:
    body = {"id": id_, "object": "chat.completion", "created": int(time.time()), "model": model, "choices": choices}
    if usage is not None:
        body["usage"] = usage.as_openai()
    return body


def choice(
    index: int, content: str | None, tool_calls: list[dict], finish_reason: str, reasoning: str | None = None
) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    return {"index": index, "message": message, "finish_reason": finish_reason, "logprobs": None}


def tool_call(id_: str, name: str, arguments: str) -> dict:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


class ChunkMaker:
    """Builds the chat.completion.chunk dicts of one stream (same id, created and model)."""

    __slots__ = ("id", "model", "created")

    def __init__(self, id_: str, model: str):
        self.id = id_
        self.model = model
        self.created = int(time.time())

    def delta(self, delta: dict, index: int = 0, finish_reason: str | None = None) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }

    def usage(self, usage: Usage) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.as_openai(),
        }


# --- The adapter skeleton -------------------------------------------------------------------


class VendorAdapter(Adapter):
    """complete() and stream() for a vendor with its own wire format; a subclass says how to
    build the call and read the answers."""

    @staticmethod
    def status_error(status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        raise NotImplementedError

    def build(self, target: Target, request: dict, *, stream: bool) -> tuple[str, dict, dict]:
        """(url, headers, body) of the upstream call."""
        raise NotImplementedError

    def read(self, data: dict, target: Target, request: dict) -> tuple[dict, Usage | None]:
        """The OpenAI chat.completion dict and usage of a whole answer."""
        raise NotImplementedError

    def translator(self, target: Target, request: dict):
        """An object whose feed(event data) and close() return the OpenAI chunks of a stream."""
        raise NotImplementedError

    async def complete(self, client: httpx.AsyncClient, target: Target, request: dict) -> Completion:
        url, headers, body = self.build(target, request, stream=False)
        data = await post_json(
            client, url, body=body, headers=headers, timeout=target.timeout(), status_error=self.status_error
        )
        answer, usage = self.read(data, target, request)
        return Completion(body=answer, usage=usage)

    async def stream(self, client: httpx.AsyncClient, target: Target, request: dict):
        url, headers, body = self.build(target, request, stream=True)
        translator = self.translator(target, request)
        events = stream_sse(
            client, url, body=body, headers=headers, timeout=target.timeout(), status_error=self.status_error
        )
        # aclosing: the connection goes back to the pool as soon as the consumer stops.
        async with contextlib.aclosing(events):
            async for _, data in events:
                for chunk in translator.feed(data):
                    yield chunk
        for chunk in translator.close():
            yield chunk
