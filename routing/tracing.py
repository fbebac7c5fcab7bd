"""OpenTelemetry traces of the API, exported over OTLP/HTTP when an endpoint is configured.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and
OTEL_SDK_DISABLED is not true). Off, the request path pays a check of `enabled` at each hook and
nothing else: the SDK is not even imported.

On, each /v1/ request is one SERVER span, and each upstream attempt one CLIENT span under it,
named and attributed after OpenTelemetry's GenAI semantic conventions ("chat {model}",
gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model, gen_ai.response.model,
gen_ai.usage.input_tokens / output_tokens, error.type), plus the gateway's own aipower.* attributes
(request id, route, tier, cost, fallback). A caller's W3C `traceparent` makes the request span a
child of the caller's. Spans are queued and exported in batches by the SDK's own thread
(BatchSpanProcessor): export never waits on the request path, and a full queue drops spans rather
than holding a request up. The SDK's standard variables apply (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, ...).

Hooks: routing/http.py wraps its ASGI app (the request span), routing/gateway.py's _attempt()
reports each attempt as it ends, and routing/metrics.record() each request as it is recorded.
"""

import contextvars
import time

from django.conf import settings

enabled: bool = settings.AIPOWER_TRACING

OPERATIONS = {"/v1/embeddings": "embeddings"}  # by path; everything else is a chat


class _Request:
    """One traced request: its span, and the attempt that served it (open until it is recorded:
    a stream's attempt lasts as long as the stream)."""

    __slots__ = ("span", "operation", "attempts", "serving")

    def __init__(self, span, operation: str):
        self.span = span
        self.operation = operation
        self.attempts = 0
        self.serving = None


_current: contextvars.ContextVar[_Request | None] = contextvars.ContextVar("aipower_trace", default=None)
_tracer = None
_provider = None


def _get_tracer():
    global _tracer, _provider
    if _tracer is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "aipower"}))
        _provider = TracerProvider(resource=resource)
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _tracer = _provider.get_tracer("aipower")
    return _tracer


def shutdown() -> None:
    """Exports what is queued and stops the exporter (blocking: the lifespan runs it in a thread)."""
    if _provider is not None:
        _provider.shutdown()


def _error(span, error_type: str, description: str | None = None) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, description))


def traced(app):
    """`app` (an ASGI app) with one SERVER span per request."""
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()

    async def traced_app(scope, receive, send):
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _PROPAGATED}
        method, path = scope["method"], scope["path"]
        span = _get_tracer().start_span(
            f"{method} {path}",
            context=propagator.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )
        state = _Request(span, OPERATIONS.get(path.rstrip("/"), "chat"))
        token = _current.set(state)
        status = 0

        async def traced_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                span.set_attribute("http.response.status_code", status)
                for k, v in message.get("headers") or ():
                    if k == b"x-request-id":
                        span.set_attribute("aipower.request_id", v.decode("latin-1"))
            await send(message)

        try:
            await app(scope, receive, traced_send)
        except BaseException as exc:
            _error(span, type(exc).__qualname__, str(exc)[:200] or None)
            raise
        finally:
            if status >= 500 and not span.attributes.get("error.type"):
                _error(span, str(status))
            if state.serving is not None:  # never recorded (a bug): still ended
                state.serving.end()
            span.end()
            _current.reset(token)

    return traced_app


_PROPAGATED = (b"traceparent", b"tracestate")


def attempt(model, started: float, error=None) -> None:
    """An upstream attempt on `model` that began at `started` (time.perf_counter()) has just ended
    (`error`: the UpstreamError it failed with). A successful one stays open until the request is
    recorded (request_recorded), which knows its usage."""
    state = _current.get()
    if state is None:
        return
    from opentelemetry.trace import SpanKind, set_span_in_context

    now = time.time_ns()
    state.attempts += 1
    operation = "embeddings" if model.kind == "embedding" else state.operation
    span = _get_tracer().start_span(
        f"{operation} {model.upstream_id}",
        context=set_span_in_context(state.span),
        kind=SpanKind.CLIENT,
        start_time=now - int((time.perf_counter() - started) * 1e9),
        attributes={
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": model.provider.slug,
            "gen_ai.request.model": model.upstream_id,
            "aipower.model": model.public_id,
            "aipower.attempt": state.attempts,
        },
    )
    if error is None:
        span.set_attribute("http.response.status_code", 200)
        state.serving = span
        return
    if error.status:
        span.set_attribute("http.response.status_code", error.status)
    _error(span, error.label(), error.message[:200])
    span.end(end_time=now)


def request_recorded(call, *, status: str, http_status: int, usage, charged_nusd: int, upstream_nusd: int) -> None:
    """The request's outcome, on its span (and on the attempt that served it, which ends here)."""
    state = _current.get()
    if state is None:
        return
    span = state.span
    op = state.operation
    if call.requested_model:
        span.update_name(f"{op} {call.requested_model}")
    attrs = {
        "gen_ai.operation.name": op,
        "aipower.request_id": call.request_id,
        "aipower.status": status,
        "aipower.attempts": len(call.attempts),
        "aipower.cost_nusd": charged_nusd,
        "aipower.upstream_cost_nusd": upstream_nusd,
    }
    if call.requested_model:
        attrs["gen_ai.request.model"] = call.requested_model
    if call.route:
        attrs["aipower.route"] = call.route
    for name, value in call.route_fields().items():  # route_tier, route_difficulty, route_reason
        if value is not None and value != "":
            attrs["aipower." + name.replace("_", ".", 1)] = value
    if call.key is not None:
        attrs["aipower.organization_id"] = call.key.organization_id
    served = call.served
    if served is not None:
        attrs["gen_ai.provider.name"] = served.provider.slug
        attrs["gen_ai.response.model"] = served.public_id
        fallback = call.first_choice is not None and served is not call.first_choice
        attrs["aipower.fallback"] = fallback
        if fallback:
            attrs["aipower.fallback_from"] = call.first_choice.public_id
    if usage is not None and served is not None:
        attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
    span.set_attributes(attrs)
    if http_status >= 500 or status not in ("ok", "client_error"):
        _error(span, status)
    attempt_span, state.serving = state.serving, None
    if attempt_span is None:
        return
    assert served is not None  # an attempt served
    attempt_span.set_attribute("gen_ai.response.model", served.upstream_id)
    if usage is not None:
        attempt_span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        attempt_span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
    last = call.attempts[-1] if call.attempts else {}
    if last.get("status") == "error":  # the stream failed after its first token
        _error(attempt_span, last.get("error", "error"))
    attempt_span.end()
