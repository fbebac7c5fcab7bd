"""The OpenAI chat-completions wire format: OpenAI itself and the vendors that copy it.

The vendors differ in details; each difference is data in the provider's or model's `quirks`
(the model's keys win), editable in Django admin:

- "drop_params": [names]   parameters this upstream rejects (e.g. sampling parameters on
                           reasoning models); removed before sending.
- "max_tokens_param": name the name the upstream expects for the output cap
                           ("max_tokens" or "max_completion_tokens").
- "stream_options": false  the upstream rejects stream_options; usage is then taken from
                           whatever the stream carries, or counted by the gateway.
- "unsupported_params": [names] parameters this upstream cannot honour (e.g. n, logprobs): a
                           request that sets one is refused with a 400 naming it (a route moves
                           on to a model that can), never sent and silently ignored.
- "reasoning_field": name  the field in which the upstream returns reasoning text
                           ("reasoning_content" by default, "reasoning" for some); passed on to
                           the caller as `reasoning_content`, the field OpenAI-compatible clients read.

The matched stop sequence: OpenAI says only finish_reason "stop", for a natural end and for a stop
sequence alike. Servers built on vLLM add the matched string to the choice as `stop_reason`
(an int when a stop token ended it, null at the end-of-sequence token), SGLang as `matched_stop`.
Those fields are passed on as the upstream sent them; a request asking for STOP_SEQUENCE_FIELD
(base.py) also gets the matched string there, when it is one of the request's stop sequences.

Anthropic's prompt-caching mark, `cache_control` (which the Messages endpoint keeps for Claude, and
which OpenAI-format callers put on content parts as OpenRouter documents), is not sent on tools:
OpenAI's tool objects have no such field. On content parts it is sent only to vendors whose
quirks say "cache_control_marks": true, and a 1-hour mark only to a model with a 1-hour
cache-write price (common.marks_for); OpenAI answers 400 to an unknown field there, and the others
cache by prefix on their own. Alibaba Model Studio's explicit cache reads the mark, but bills its
writes at 125% and its hits at 10% of the input price: turn the quirk on for it only with those
prices in its models' cache-write and cached-input prices.
"""

import orjson

from routing.errors import UpstreamError, invalid
from routing.httpclient import HTTPError
from routing.pool import get_http

from .base import STOP_SEQUENCE_FIELD, Adapter, Completion, Target, Usage
from .common import marks_for, retry_after, stop_list, transport_error

# Fields the gateway itself consumes; never sent upstream.
# service_tier: every request is billed, so served, at the standard tier (routing/request.py).
GATEWAY_FIELDS = ("models", "x_anthropic_thinking", "x_anthropic_effort", STOP_SEQUENCE_FIELD, "service_tier")
_MATCHED_STOP_FIELDS = ("stop_reason", "matched_stop")  # vLLM's, SGLang's


def quirks_of(target: Target) -> dict:
    q = target.model.provider.quirks
    mq = target.model.quirks
    if not mq:
        return q
    return {**q, **mq} if q else mq


def build_body(request: dict, target: Target, stream: bool) -> dict:
    q = quirks_of(target)
    for name in q.get("unsupported_params", ()):
        value = request.get(name)
        if value is not None and value is not False and not (name == "n" and value == 1):
            raise invalid(
                f"'{name}' is not supported by {target.model.public_id}; remove it or pick another model.",
                param=name,
                code="unsupported_parameter",
            )
    body = {k: v for k, v in request.items() if k not in GATEWAY_FIELDS}
    body["model"] = target.model.upstream_id
    if "x_anthropic_thinking" in request:  # Anthropic's signed thinking blocks stay with Anthropic
        body["messages"] = [{k: v for k, v in m.items() if k != "x_anthropic_thinking"} for m in body["messages"]]
    if any("cache_control" in t for t in body.get("tools") or ()):
        body["tools"] = [{k: v for k, v in t.items() if k != "cache_control"} for t in body["tools"]]
    if _has_cache_marks(body["messages"]):
        if not q.get("cache_control_marks"):
            body["messages"] = [_without_cache_marks(m) for m in body["messages"]]
        else:  # 1-hour marks only where the model has a 1-hour price (common.marks_for)
            body["messages"] = [
                {**m, "content": marks_for(target.model, m["content"])} if type(m.get("content")) is list else m
                for m in body["messages"]
            ]
    for name in q.get("drop_params", ()):
        body.pop(name, None)
    wanted = q.get("max_tokens_param")
    if wanted:
        other = "max_completion_tokens" if wanted == "max_tokens" else "max_tokens"
        if other in body:
            body.setdefault(wanted, body.pop(other))
    if stream:
        body["stream"] = True
        if q.get("stream_options", True):
            # Usage is captured for every request, whatever the caller asked for.
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        else:
            body.pop("stream_options", None)
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    return body


def _has_cache_marks(messages: list) -> bool:
    for m in messages:
        content = m.get("content")
        if type(content) is list and any("cache_control" in p for p in content if type(p) is dict):
            return True
    return False


def _without_cache_marks(message: dict) -> dict:
    content = message.get("content")
    if type(content) is not list:
        return message
    parts = [{k: v for k, v in p.items() if k != "cache_control"} if type(p) is dict else p for p in content]
    return {**message, "content": parts}


def headers_for(target: Target) -> dict:
    h = {"content-type": "application/json"}
    if target.api_key:
        h["authorization"] = f"Bearer {target.api_key}"
    if target.extra_headers:
        h.update(target.extra_headers)
    return h


def usage_from(u: dict | None) -> Usage | None:
    if not u:
        return None
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=u.get("prompt_tokens") or 0,
        completion_tokens=u.get("completion_tokens") or 0,
        cached_tokens=ptd.get("cached_tokens") or u.get("prompt_cache_hit_tokens") or 0,
        cache_write_tokens=ptd.get("cache_write_tokens") or 0,
        cache_write_1h_tokens=ptd.get("cache_write_1h_tokens") or 0,  # the gateway's own (adapters' streams)
        reasoning_tokens=ctd.get("reasoning_tokens") or 0,
    )


def error_from_status(status: int, raw: bytes, headers) -> UpstreamError:
    try:
        payload = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        payload = {}
    err = payload.get("error") if isinstance(payload, dict) else None
    err = err if isinstance(err, dict) else {}
    message = err.get("message") or raw[:300].decode("utf-8", "replace") or f"HTTP {status}"
    code = err.get("code")
    if status == 400 and code == "context_length_exceeded":
        return UpstreamError(message, kind="context_length", status=status, upstream_body=payload)
    if status in (400, 422):
        return UpstreamError(message, kind="status", status=status, caller_fault=True, upstream_body=payload)
    return UpstreamError(message, kind="status", status=status, retry_after=retry_after(headers), upstream_body=payload)


def _mark_matched_stop(choice: dict, stops: list[str]) -> None:
    """Sets STOP_SEQUENCE_FIELD on a choice that ended at one of `stops`, when the upstream named it."""
    if choice.get("finish_reason") != "stop":
        return
    for name in _MATCHED_STOP_FIELDS:
        matched = choice.get(name)
        if isinstance(matched, str) and matched in stops:
            choice[STOP_SEQUENCE_FIELD] = matched
            return


def _rename_reasoning(message: dict, field: str) -> None:
    if field != "reasoning_content" and field in message:
        message["reasoning_content"] = message.pop(field)


async def _post(target: Target, path: str, body: dict) -> tuple[int, bytes]:
    """(status, raw body) of a 2xx answer to a POST of `body`; raises UpstreamError otherwise."""
    try:
        resp = await get_http().post(
            target.base_url + path,
            orjson.dumps(body),
            headers_for(target),
            connect_timeout=target.connect_timeout,
            read_timeout=target.read_timeout,
        )
        raw = await resp.read()
    except (TimeoutError, HTTPError) as exc:
        raise transport_error(exc) from None
    if resp.status >= 300:
        raise error_from_status(resp.status, raw, resp.headers)
    return resp.status, raw


class OpenAICompatAdapter(Adapter):
    """Calls routing/httpclient.py directly (routing/pool.py says why); `client` is not used."""

    async def complete(self, client, target, request):
        status, raw = await _post(target, "/chat/completions", build_body(request, target, False))
        try:
            body = orjson.loads(raw)
            choices = body["choices"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamError(
                "The upstream answered with a body that is not a chat completion.", kind="protocol", status=status
            ) from None
        field = quirks_of(target).get("reasoning_field", "reasoning_content")
        stops = _asked_stops(request)
        for choice in choices:
            msg = choice.get("message") or {}
            _rename_reasoning(msg, field)
            choice.setdefault("logprobs", None)
            msg.setdefault("refusal", None)
            if stops:
                _mark_matched_stop(choice, stops)
        return Completion(body=body, usage=usage_from(body.get("usage")))

    async def stream(self, client, target, request):
        url = target.base_url + "/chat/completions"
        field = quirks_of(target).get("reasoning_field", "reasoning_content")
        stops = _asked_stops(request)
        body = orjson.dumps(build_body(request, target, True))
        started = False
        resp = None
        try:
            resp = await get_http().post(
                url,
                body,
                headers_for(target),
                connect_timeout=target.connect_timeout,
                read_timeout=target.read_timeout,
            )
            if resp.status >= 300:
                raise error_from_status(resp.status, await resp.read(), resp.headers)
            started = True
            buffer = b""
            async for piece in resp:
                buffer += piece
                while True:
                    end = buffer.find(b"\n\n")
                    if end < 0:
                        break
                    event, buffer = buffer[:end], buffer[end + 2 :]
                    for line in event.split(b"\n"):
                        line = line.rstrip(b"\r")
                        if not line.startswith(b"data:"):
                            continue
                        data = line[5:].strip()
                        if data == b"[DONE]":
                            resp.close(finish=True)  # the connection may be kept for another call
                            return
                        chunk = _parse_chunk(data)
                        if field != "reasoning_content" or stops:
                            for choice in chunk.get("choices") or ():
                                _rename_reasoning(choice.get("delta") or {}, field)
                                if stops:
                                    _mark_matched_stop(choice, stops)
                        yield chunk
            # The connection ended without [DONE].
            raise UpstreamError("The upstream stream ended before it was complete.", kind="stream")
        except (TimeoutError, HTTPError) as exc:
            raise transport_error(exc, started=started) from None
        finally:
            if resp is not None:
                resp.close()

    async def embed(self, client, target, inputs: list, dimensions: int | None) -> tuple[list, int | None]:
        """(the vectors, in order, as lists of floats; the prompt tokens the upstream counted)."""
        body = {"model": target.model.upstream_id, "input": inputs, "encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        status, raw = await _post(target, "/embeddings", body)
        try:
            data = orjson.loads(raw)
            rows = sorted(data["data"], key=lambda d: d["index"])
            vectors = [row["embedding"] for row in rows]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamError(
                "The upstream answered with a body that is not an embedding list.", kind="protocol", status=status
            ) from None
        if len(vectors) != len(inputs):
            raise UpstreamError(
                "The upstream returned a different number of embeddings than inputs.", kind="protocol", status=status
            )
        return vectors, (data.get("usage") or {}).get("prompt_tokens")


def _asked_stops(request: dict) -> list[str] | None:
    """The request's stop sequences, when it asks which one ended the answer."""
    return stop_list(request) if request.get(STOP_SEQUENCE_FIELD) else None


def _parse_chunk(data: bytes) -> dict:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError("The upstream sent a stream event that is not JSON.", kind="protocol") from None
    if not isinstance(chunk, dict):
        raise UpstreamError("The upstream sent a stream event that is not an object.", kind="protocol")
    if "error" in chunk and "choices" not in chunk:
        err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
        raise UpstreamError(
            err.get("message") or "The upstream reported an error mid-stream.", kind="stream", upstream_body=chunk
        )
    return chunk
