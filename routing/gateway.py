"""The gateway's request path, top to bottom: authenticate, parse, choose, call with failover,
answer, record. No signals, no hidden hooks.

A stream is held back until its first content token, so that any failure before it can still
fail over invisibly; after it, a failure ends the stream with an error event and no [DONE].
"""

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from django.utils import timezone

from accounts import keys
from aipower import background, logs
from billing import reservations, settlement

from . import costs, credit, drain, limits, metrics, policy, smart, tracing
from .adapters import Usage, adapter_for
from .adapters.openai_compat import usage_from
from .api_types import ApiResponse, ApiStream, acknowledged
from .api_types import error_response as _error_response
from .catalog import NO_PRICES, ModelInfo, billed_prices, get_snapshot
from .errors import GatewayError, UpstreamError
from .explain import route_explain  # noqa: F401  (POST /v1/route/explain, see routing/http.py)
from .health import HALF_OPEN, OPEN, breaker_keys, health, provider_key, retry_budget
from .latency import latency
from .request import Features, estimate_completion_tokens, parse_body, validate
from .upstream import get_client, target_for

SSE_DONE = b"data: [DONE]\n\n"
log = logging.getLogger("aipower.gateway")


@dataclass(slots=True)
class Call:
    """What is known about one request as it goes down the path; becomes its usage row."""

    request_id: str
    started: float
    key: keys.KeyIdentity | None = None
    requested_model: str = ""
    route: str | None = None
    stream: bool = False
    include_usage: bool = False
    features: Features | None = None
    served: ModelInfo | None = None
    first_choice: ModelInfo | None = None
    attempts: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # candidates passed over with an open breaker
    context_floor: int = 0  # after a context-length error, only larger windows are tried
    # The first candidate whose wire format cannot express the request (e.g. n > 1 on Anthropic):
    # another candidate may, so this is returned only when none could serve.
    inexpressible: GatewayError | None = None
    markup_bp: int = 0
    reserved: bool = False  # credit is held for this request until it settles
    hold_task: asyncio.Future | None = None  # a hold placed while the upstream call runs (credit.confirm)
    held_nusd: int = 0  # how much is held: the most it may be charged (topped up before a dearer failover)
    output_cap: int | None = None  # max_tokens the gateway set because the credit covers no more
    unaffordable: list = field(default_factory=list)  # candidates skipped: the credit could not cover them
    ttft: float | None = None
    recorded: bool = False
    committed: asyncio.Future | None = None  # done once the charge and usage row are committed
    plan: policy.Plan | None = None
    charged_nusd: int | None = None  # set when recorded: what the caller pays (usage.cost)
    ratelimit: dict = field(default_factory=dict)  # x-ratelimit-* headers, for a key with limits

    def route_fields(self) -> dict:
        p = self.plan
        if p is None or p.route is None:
            return {}
        return {"route_difficulty": p.difficulty, "route_tier": p.tier, "route_reason": p.reason[:200]}

    def charge_of(self, usage: Usage) -> int:
        """What `usage` on the served model costs the caller: the price with markup, never above the hold."""
        assert self.served is not None
        charged = costs.price(self.served, usage, self.markup_bp)[1]
        return min(charged, self.held_nusd) if self.reserved else charged

    def headers(self) -> dict:
        h = {"x-request-id": self.request_id}
        if self.route:
            h["x-aipower-route"] = self.route
            if self.plan is not None and self.plan.reason:
                h["x-aipower-route-reason"] = smart.header_safe(self.plan.reason)
        if self.served is not None:
            h["x-aipower-provider"] = self.served.provider.slug
            h["x-aipower-model"] = self.served.public_id
        h["x-aipower-attempts"] = str(len(self.attempts))
        if self.served is not None and self.first_choice is not None and self.served is not self.first_choice:
            h["x-aipower-fallback-from"] = self.first_choice.public_id
        if self.output_cap is not None:
            h[credit.CAPPED_HEADER] = str(self.output_cap)
        if self.charged_nusd is not None:
            h[costs.COST_HEADER] = costs.usd_text(self.charged_nusd)
        if self.ratelimit:
            h.update(self.ratelimit)
        return h

    def record(
        self,
        *,
        status: str,
        http_status: int,
        usage: Usage | None = None,
        estimated: bool = False,
        error_type: str = "",
    ) -> None:
        """Writes this request's one usage row (never twice, whatever calls it)."""
        if self.recorded or self.key is None:
            return
        self.recorded = True
        if self.hold_task is not None:  # never confirmed: nothing was served, nothing is charged
            credit.release_unconfirmed(self)
        usage = usage or Usage()
        if self.key.tpm_limit:
            _spend_tokens(self.key.key_id, self.key.tpm_limit, usage.prompt_tokens + usage.completion_tokens)
        row = self.usage_row(
            status=status, http_status=http_status, usage=usage, estimated=estimated, error_type=error_type
        )
        metrics.record(
            self,
            status=status,
            http_status=http_status,
            usage=usage,
            charged_nusd=row["charged_nusd"],
            upstream_nusd=row["upstream_cost_nusd"],
            latency_s=row["latency_ms"] / 1000,
        )
        # The charge (settled once per request id) and the usage row, committed together with other
        # requests' by the settlement queue: done even when this request's task is being cancelled
        # (the caller went away) or the database is away.
        self.committed = settlement.record(settle_nusd=row["charged_nusd"] if self.reserved else None, **row)

    def usage_row(
        self, *, status: str, http_status: int, usage: Usage, estimated: bool = False, error_type: str = ""
    ) -> dict:
        """This request's usage row as it stands, with its charge (never above the hold)."""
        assert self.key is not None  # record() writes no row for a request without a key
        served = self.served
        upstream_nusd = charged_nusd = 0
        if served is not None:
            upstream_nusd, charged_nusd = costs.price(served, usage, self.markup_bp)
        if self.reserved:
            charged_nusd = min(charged_nusd, self.held_nusd)  # as billing_settle does: never above the hold
        self.charged_nusd = charged_nusd
        now = time.perf_counter()
        return dict(
            organization_id=self.key.organization_id,
            api_key_id=self.key.key_id,
            request_id=self.request_id,
            created_at=timezone.now(),
            requested_model=self.requested_model[:160],
            route=self.route or "",
            served_model=served.public_id if served else "",
            provider=served.provider.slug if served else "",
            attempts=len(self.attempts),
            attempt_log=self.attempts
            + [{"model": m, "status": "skipped", "error": "circuit_open"} for m in self.skipped]
            + [{"model": m, "status": "skipped", "error": "insufficient_credit"} for m in self.unaffordable],
            stream=self.stream,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            usage_estimated=estimated,
            upstream_cost_nusd=upstream_nusd,
            charged_nusd=charged_nusd,
            latency_ms=int((now - self.started) * 1000),
            ttft_ms=None if self.ttft is None else int((self.ttft - self.started) * 1000),
            status=status,
            http_status=http_status,
            error_type=error_type,
            **(billed_prices(served, usage.prompt_tokens) if served else NO_PRICES),  # the prices it was billed at
            markup_bp=self.markup_bp,
            **self.route_fields(),
        )


def error_response(err: GatewayError, call: Call | None = None) -> ApiResponse:
    return _error_response(err, call.headers() if call is not None else None)


def _rate_limited(which: str, wait_s: float) -> GatewayError:
    seconds = max(1, int(wait_s + 0.999))
    return GatewayError(
        429,
        f"Rate limit reached for {which} per minute on this API key. Try again in {wait_s:.1f}s.",
        which,
        code="rate_limit_exceeded",
        headers={"retry-after": str(seconds)},
    )


def _spend_tokens(key_id: int, tpm_limit: int, tokens: int) -> None:
    """Counts a finished request's tokens against its key's limit."""
    background.start(limits.spend_tokens(key_id, tpm_limit, tokens))


async def _reserve(call: Call, candidates, features: Features, body: dict, overlap: bool = False) -> None:
    """Holds the worst case of the first candidate (routing/credit.py): 402 when it cannot be.
    With `overlap`, the hold may still be under way on return: credit.confirm() before answering.
    The hold is for the first candidate that will be called: one whose circuit breaker is open is
    passed over (_tries), so holding for it would only make a dearer next one top the hold up."""
    first = next((m for m in candidates if health.state(breaker_keys(m)) != OPEN), candidates[0])
    await credit.hold_first(call, first, features, body, overlap=overlap)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


async def authenticate(request) -> keys.KeyIdentity:
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raw = request.headers.get("x-api-key", "")  # Anthropic's clients send the key this way
    if not raw.strip():
        raise GatewayError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
            "invalid_request_error",
            code="missing_api_key",
        )
    identity = await keys.authenticate(raw.strip())
    if identity is None:
        raise GatewayError(401, "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key")
    if keys.needs_last_used_write(identity.key_id):
        await keys.touch_last_used(identity.key_id)
    return identity


def _attempt(model: ModelInfo, started: float, error: UpstreamError | None = None) -> dict:
    entry = {
        "model": model.public_id,
        "provider": model.provider.slug,
        "ms": int((time.perf_counter() - started) * 1000),
    }
    if error is None:
        entry["status"] = "ok"
    else:
        entry["status"] = "error"
        entry["error"] = error.label()
    if tracing.enabled:
        tracing.attempt(model, started, error)
    return entry


def _caller_fault_error(err: UpstreamError) -> GatewayError:
    status = err.status if err.status and 400 <= err.status < 500 else 400
    body = err.upstream_body.get("error") if isinstance(err.upstream_body, dict) else None
    param = body.get("param") if isinstance(body, dict) else None
    code = body.get("code") if isinstance(body, dict) else None
    return GatewayError(
        status, err.message, "invalid_request_error", param=param, code=code if isinstance(code, str) else None
    )


_DESCRIBE = {
    "connect": "could not connect",
    "timeout": "timed out",
    "status": "error status",
    "protocol": "malformed answer",
    "stream": "stream failed",
    "context_length": "prompt too long",
}


def _exhausted(last: UpstreamError | None, call: Call) -> GatewayError:
    if last is not None and last.kind == "context_length":
        # No candidate with a larger window was left: the prompt is too long for what may serve it.
        return GatewayError(
            400,
            "The prompt plus max_tokens is longer than the context window of every model "
            "that could serve this request.",
            "invalid_request_error",
            param="messages",
            code="context_length_exceeded",
        )
    # The upstream's own words may name internal hosts; the caller gets the class of failure.
    detail = f" Last error: {_DESCRIBE.get(last.kind, last.kind)}" if last is not None else ""
    if last is not None and last.status:
        detail += f" (HTTP {last.status})"
    if last is None and call.unaffordable and not call.attempts:
        return credit.unaffordable_error(call)
    if last is None and call.skipped:
        detail = " Every candidate's provider is failing right now (circuit open); try again shortly."
    headers = {}
    if last is not None and last.retry_after:
        headers["retry-after"] = str(int(last.retry_after + 0.999))
    return GatewayError(
        502,
        "Every upstream that could serve this request failed." + detail,
        "server_error",
        code="upstream_unavailable",
        headers=headers,
    )


async def chat_completions(request) -> ApiResponse | ApiStream:
    call = Call(request_id=new_request_id(), started=time.perf_counter())
    logs.request_id.set(call.request_id)  # in every log line of this request (aipower/logs.py)
    try:
        call.key = await authenticate(request)
        body = parse_body(request.body)
        features = validate(body)
        call.requested_model = body["model"]
        call.stream, call.include_usage, call.features = features.stream, features.include_usage, features
        snapshot = await get_snapshot()
        fallback = request.headers.get("x-aipower-fallback", "on").lower() not in ("off", "0", "false", "no")
        plan = policy.plan(
            body["model"],
            features,
            snapshot,
            fallback=fallback,
            extra_models=body.get("models"),
            **smart.policy_inputs(request.headers, call.key, snapshot, body),
        )
        key = call.key
        if key.allowed:
            plan = policy.restrict(plan, body["model"], key.allowed, snapshot)
        call.route, call.plan = plan.route, plan
        if key.rpm_limit or key.tpm_limit:
            over = await limits.admit(key.key_id, key.rpm_limit, key.tpm_limit, call.ratelimit)
            if over is not None:
                raise _rate_limited(*over)
        await _reserve(call, plan.candidates, features, body, overlap=True)
    except GatewayError as err:
        call.record(status="client_error", http_status=err.status, error_type=err.code or err.type)
        return error_response(err, call)

    candidates = plan.candidates
    call.first_choice = candidates[0]
    retry_budget().deposit()
    client = get_client()
    try:
        if features.stream:
            return await _stream(call, body, candidates, snapshot, request.headers, client)
        return await _complete(call, body, candidates, snapshot, request.headers, client)
    except GatewayError as err:
        call.record(
            status="client_error" if err.status < 500 else "upstream_error",
            http_status=err.status,
            error_type=err.code or err.type,
        )
        return error_response(err, call)
    except asyncio.CancelledError:
        # The client went away, or the shutdown's deadline passed: the request still gets its usage row.
        if drain.draining:
            call.record(status="gateway_error", http_status=503, error_type="shutdown")
        else:
            call.record(status="client_disconnected", http_status=499, error_type="aborted")
        raise
    except Exception as exc:
        # A bug on odd input, or the database going away mid-request: recorded as what it was, and
        # answered in OpenAI's shape (routing/http.py).
        call.record(status="gateway_error", http_status=500, error_type=type(exc).__name__[:60])
        raise


async def _tries(call: Call, candidates):
    """The candidates to call, in order: open breakers are skipped (not tried), a half-open one
    is tried by one request at a time, and retries stop at the attempt limit or the retry budget."""
    budget = retry_budget()
    for model in candidates:
        if len(call.attempts) >= settings.AIPOWER_MAX_ATTEMPTS:
            return
        if model.context_window <= call.context_floor:
            continue
        keys = breaker_keys(model)
        state = health.state(keys)
        if state == OPEN or (state == HALF_OPEN and not await health.claim_probe(keys)):
            call.skipped.append(model.public_id)
            continue
        if not await credit.covers(call, model):
            continue  # dearer than the credit covers: skipped, the hold unchanged
        if call.attempts and not budget.withdraw():
            return
        yield model


async def _failed(call: Call, model: ModelInfo, started: float, err: UpstreamError) -> None:
    """Books a failed attempt; raises at once when failing over makes no sense."""
    call.attempts.append(_attempt(model, started, err))
    if err.caller_fault:
        raise _caller_fault_error(err)
    if err.kind == "context_length":
        call.context_floor = max(call.context_floor, model.context_window)
    else:
        forced = {provider_key(model.provider.slug): err.retry_after} if err.retry_after else None
        if forced:
            health.cool_down(forced)
        # The next candidate is called at once; the shared breaker state is updated meanwhile.
        background.start(health.failure(breaker_keys(model), forced=forced))


async def _complete(call, body, candidates, snapshot, headers, client) -> ApiResponse | ApiStream:
    last = None
    async for model in _tries(call, candidates):
        target = target_for(model, snapshot, headers, stream=False)
        t = time.perf_counter()
        try:
            async with asyncio.timeout(target.total_timeout):
                completion = await adapter_for(model.provider.wire_format).complete(client, target, body)
        except TimeoutError:
            last = UpstreamError("The upstream did not answer in time.", kind="timeout")
            await _failed(call, model, t, last)
            continue
        except GatewayError as err:
            if call.route is None:
                raise  # a pinned model is not swapped for another behind the caller's back
            call.inexpressible = call.inexpressible or err
            continue
        except UpstreamError as err:
            last = err
            await _failed(call, model, t, err)
            if not err.retryable:
                break
            continue
        call.attempts.append(_attempt(model, t))
        await health.success(breaker_keys(model))
        await credit.confirm(call)  # the answer is the caller's only once its hold is placed
        call.served = model
        call.ttft = time.perf_counter()
        latency.record(model.public_id, call.ttft - t)
        out = completion.body
        out["id"] = "chatcmpl-" + call.request_id[4:]
        out["object"] = "chat.completion"
        out["model"] = model.public_id
        usage, estimated = completion.usage, False
        if usage is None:
            usage, estimated = _estimate(call, out.get("choices") or ()), True
        call.record(status="ok", http_status=200, usage=usage, estimated=estimated)
        out["usage"] = costs.with_cost(usage.as_openai(), call.charged_nusd)
        # Sent while the commit runs; its last byte waits for it (ApiResponse.ack).
        return ApiResponse(orjson.dumps(out), headers=call.headers(), ack=call.committed)
    if last is None and call.inexpressible is not None:
        raise call.inexpressible
    raise _exhausted(last, call)


def _estimate(call: Call, choices, streamed_chars: int = 0) -> Usage:
    chars = streamed_chars
    for choice in choices:
        msg = choice.get("message") or {}
        chars += len(msg.get("content") or "") + len(msg.get("reasoning_content") or "")
        for tc in msg.get("tool_calls") or ():
            chars += len((tc.get("function") or {}).get("arguments") or "")
    assert call.features is not None  # set when the request was parsed
    return Usage(prompt_tokens=call.features.prompt_tokens, completion_tokens=estimate_completion_tokens(chars))


def _has_content(chunk: dict) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if (
            delta.get("content")
            or delta.get("tool_calls")
            or delta.get("reasoning_content")
            or choice.get("finish_reason")
        ):
            return True
    return False


def _delta_chars(chunk: dict) -> int:
    n = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        n += len(delta.get("content") or "") + len(delta.get("reasoning_content") or "")
        for tc in delta.get("tool_calls") or ():
            n += len((tc.get("function") or {}).get("arguments") or "")
    return n


class _Relay:
    """Carries a started upstream stream to the caller, rewriting ids and model names."""

    def __init__(self, call: Call, upstream, held: list, created: int, deadline: float, idle: float):
        self.call = call
        self.deadline = deadline
        self.idle = idle
        self.upstream = upstream
        self.held = held
        self.created = created
        self.chat_id = "chatcmpl-" + call.request_id[4:]
        self.usage: Usage | None = None
        self.chars = 0
        self.next_checkpoint = time.perf_counter() + settings.AIPOWER_STREAM_CHECKPOINT_SECONDS

    def _frame(self, chunk: dict) -> bytes | None:
        usage = chunk.pop("usage", None)
        if usage:
            self.usage = usage_from(usage)
        if not chunk.get("choices"):
            return None  # a usage-only chunk: the caller gets ours at the end, if asked
        chunk["id"] = self.chat_id
        chunk["object"] = "chat.completion.chunk"
        chunk["created"] = self.created
        assert self.call.served is not None  # the relay starts once a model has answered
        chunk["model"] = self.call.served.public_id
        self.chars += _delta_chars(chunk)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _checkpoint(self) -> None:
        """Writes down what has been delivered so far: if this process dies, the sweeper charges it
        and keeps this usage row (billing.reservations.sweep_expired)."""
        self.next_checkpoint = time.perf_counter() + settings.AIPOWER_STREAM_CHECKPOINT_SECONDS
        usage, estimated = self._final_usage()
        row = self.call.usage_row(
            status="stream_interrupted", http_status=200, usage=usage, estimated=estimated, error_type="process_died"
        )
        row["created_at"] = row["created_at"].isoformat()
        background.start(
            reservations.checkpoint(request_id=self.call.request_id, charged_nusd=row["charged_nusd"], row=row)
        )

    def _final_usage(self) -> tuple[Usage, bool]:
        if self.usage is not None:
            return self.usage, False
        assert self.call.features is not None  # set when the request was parsed
        return Usage(
            prompt_tokens=self.call.features.prompt_tokens, completion_tokens=estimate_completion_tokens(self.chars)
        ), True

    async def __aiter__(self):
        call = self.call
        status, http_status, error_type = "client_disconnected", 200, "client_disconnected"
        try:
            for chunk in self.held:
                frame = self._frame(chunk)
                if frame:
                    yield frame
            self.held = []
            try:
                # The total time limit is checked around each wait, never around a yield: the
                # caller's side of a yield is not ours to cancel.
                while True:
                    left = self.deadline - time.perf_counter()
                    try:
                        async with asyncio.timeout(max(min(self.idle, left), 0.0)):
                            try:
                                chunk = await anext(self.upstream)
                            except StopAsyncIteration:
                                break
                    except TimeoutError:
                        what = "went quiet for too long" if self.idle < left else "ran past its time limit"
                        raise UpstreamError(f"The upstream stream {what}.", kind="timeout") from None
                    frame = self._frame(chunk)
                    if frame:
                        yield frame
                        if call.reserved and time.perf_counter() >= self.next_checkpoint:
                            self._checkpoint()
            except (UpstreamError, TimeoutError) as exc:
                err = (
                    exc
                    if isinstance(exc, UpstreamError)
                    else UpstreamError("The upstream stream ran past its time limit.", kind="timeout")
                )
                status, error_type = "stream_interrupted", err.label()
                call.attempts[-1].update(status="error", error=err.label())
                background.start(health.failure(breaker_keys(call.served)))
                yield (
                    b"data: "
                    + orjson.dumps(
                        {
                            "error": {
                                "message": f"The upstream failed mid-stream: {err.message}",
                                "type": "server_error",
                                "param": None,
                                "code": "upstream_stream_error",
                            }
                        }
                    )
                    + b"\n\n"
                )
                return
            except asyncio.CancelledError:
                if not drain.draining:
                    raise  # the caller went away
                # The shutdown's deadline: recorded for what was delivered, ended with an error event.
                asyncio.current_task().uncancel()
                status, error_type = "stream_interrupted", "shutdown"
                yield (
                    b"data: "
                    + orjson.dumps(
                        {
                            "error": {
                                "message": "The server is shutting down; the stream was cut.",
                                "type": "server_error",
                                "param": None,
                                "code": "server_shutting_down",
                            }
                        }
                    )
                    + b"\n\n"
                )
                return
            except Exception as exc:  # a bug on odd input: the stream ends with an error event
                log.exception("stream %s failed", call.request_id)
                status, error_type = "gateway_error", type(exc).__name__[:60]
                yield (
                    b"data: "
                    + orjson.dumps(
                        {
                            "error": {
                                "message": "The gateway failed mid-stream.",
                                "type": "server_error",
                                "param": None,
                                "code": "internal_error",
                            }
                        }
                    )
                    + b"\n\n"
                )
                return
            if call.include_usage:
                usage, _ = self._final_usage()
                yield (
                    b"data: "
                    + orjson.dumps(
                        {
                            "id": self.chat_id,
                            "object": "chat.completion.chunk",
                            "created": self.created,
                            "model": call.served.public_id,
                            "choices": [],
                            "usage": costs.with_cost(usage.as_openai(), call.charge_of(usage)),
                        }
                    )
                    + b"\n\n"
                )
            status, error_type = "ok", ""
            usage, estimated = self._final_usage()
            call.record(status=status, http_status=http_status, usage=usage, estimated=estimated)
            await acknowledged(call.committed)
            yield SSE_DONE
        finally:
            if status == "client_disconnected" and drain.draining:
                status, error_type = "stream_interrupted", "shutdown"
            usage, estimated = self._final_usage()
            call.record(status=status, http_status=http_status, usage=usage, estimated=estimated, error_type=error_type)
            await self.upstream.aclose()


async def _first_token(upstream, held: list) -> None:
    """Pulls chunks into `held` until one carries content (or the stream ends)."""
    async for chunk in upstream:
        held.append(chunk)
        if _has_content(chunk):
            return


async def _stream(call, body, candidates, snapshot, headers, client) -> ApiResponse | ApiStream:
    last = None
    async for model in _tries(call, candidates):
        target = target_for(model, snapshot, headers, stream=True)
        t = time.perf_counter()
        upstream = adapter_for(model.provider.wire_format).stream(client, target, body)
        held: list[dict] = []
        try:
            async with asyncio.timeout(min(target.first_byte_timeout, target.total_timeout)):
                await _first_token(upstream, held)
        except GatewayError as err:
            await upstream.aclose()
            if call.route is None:
                raise
            call.inexpressible = call.inexpressible or err
            continue
        except (UpstreamError, TimeoutError) as exc:
            await upstream.aclose()
            failure = (
                exc
                if isinstance(exc, UpstreamError)
                else UpstreamError("The upstream sent no token in time.", kind="timeout")
            )
            last = failure
            await _failed(call, model, t, failure)
            if not failure.retryable:
                break
            continue
        except BaseException:
            await upstream.aclose()
            raise
        call.attempts.append(_attempt(model, t))
        await health.success(breaker_keys(model))
        try:
            await credit.confirm(call)  # no byte goes out before the hold is placed
        except BaseException:
            await upstream.aclose()
            raise
        call.served = model
        call.ttft = time.perf_counter()
        latency.record(model.public_id, call.ttft - t)
        deadline = t + target.total_timeout
        return ApiStream(
            _Relay(call, upstream, held, int(time.time()), deadline, target.idle_timeout).__aiter__(),
            headers={**call.headers(), "cache-control": "no-cache", "x-accel-buffering": "no"},
        )
    if last is None and call.inexpressible is not None:
        raise call.inexpressible
    raise _exhausted(last, call)
