"""Prometheus metrics of the request path, served at /metrics (routing/ops.py).

Names follow OpenTelemetry's GenAI semantic conventions where one fits (gen_ai.client.token.usage,
gen_ai.client.operation.duration, gen_ai.server.time_to_first_token, with gen_ai.provider.name,
gen_ai.request.model, gen_ai.response.model and gen_ai.token.type as labels, dots as underscores);
the rest are aipower_*. With several worker processes, set PROMETHEUS_MULTIPROC_DIR (an empty
directory, the same for every worker, emptied before they start): prometheus-client then keeps each
process's values in files there and /metrics sums them. Without it, each process reports its own.

Recording costs a few dictionary lookups and additions per request, done once, in Call.record().
"""

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from . import tracing

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "aipower_requests", "Requests to the API, by route and how they ended.", ["route", "status", "http_status"]
)
TOKENS = Counter(
    "gen_ai_client_token_usage",
    "Tokens, by type (input, output, cached_input, cache_write, cache_write_1h, reasoning), provider and served model.",
    ["gen_ai_token_type", "gen_ai_provider_name", "gen_ai_response_model"],
)
COST = Counter(
    "aipower_cost_nusd",
    "Charged to customers (nano-USD), by provider and served model.",
    ["gen_ai_provider_name", "gen_ai_response_model"],
)
UPSTREAM_COST = Counter(
    "aipower_upstream_cost_nusd",
    "Upstream list-price cost (nano-USD).",
    ["gen_ai_provider_name", "gen_ai_response_model"],
)
DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds",
    "Whole request time at the gateway.",
    ["gen_ai_request_model", "status"],
    buckets=LATENCY_BUCKETS,
)
TTFT = Histogram(
    "gen_ai_server_time_to_first_token_seconds",
    "Time to the first token (streams) or the answer.",
    ["gen_ai_provider_name", "gen_ai_response_model"],
    buckets=TTFT_BUCKETS,
)
ATTEMPTS = Counter(
    "aipower_upstream_attempts",
    "Upstream calls, by provider, model and outcome.",
    ["gen_ai_provider_name", "gen_ai_request_model", "outcome"],
)
ERRORS = Counter(
    "aipower_upstream_errors",
    "Failed upstream calls, by provider, model and error.",
    ["gen_ai_provider_name", "gen_ai_request_model", "error_type"],
)
FALLBACKS = Counter(
    "aipower_fallbacks", "Requests served by another model than the first choice.", ["from_model", "to_model"]
)
SETTLEMENT_BACKLOG = Gauge(
    "aipower_settlement_backlog", "Settlements waiting to be written.", multiprocess_mode="livesum"
)

_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


def _request_model(call) -> str:
    # The route asked for, or the pinned model; not the caller's free text (bounded label values).
    if call.route:
        return call.route
    return call.served.public_id if call.served is not None else "unknown"


def record(
    call, *, status: str, http_status: int, usage, charged_nusd: int, upstream_nusd: int, latency_s: float
) -> None:
    if tracing.enabled:  # the same outcome on the request's span
        tracing.request_recorded(
            call,
            status=status,
            http_status=http_status,
            usage=usage,
            charged_nusd=charged_nusd,
            upstream_nusd=upstream_nusd,
        )
    REQUESTS.labels(call.route or "", status, str(http_status)).inc()
    served = call.served
    DURATION.labels(_request_model(call), status).observe(latency_s)
    for attempt in call.attempts:
        outcome = attempt.get("status", "ok")
        ATTEMPTS.labels(attempt.get("provider", ""), attempt["model"], outcome).inc()
        if outcome == "error":
            ERRORS.labels(attempt.get("provider", ""), attempt["model"], attempt.get("error", "")).inc()
    if served is None:
        return
    provider, model = served.provider.slug, served.public_id
    if call.ttft is not None:
        TTFT.labels(provider, model).observe(max(call.ttft - call.started, 0.0))
    if call.first_choice is not None and served is not call.first_choice:
        FALLBACKS.labels(call.first_choice.public_id, model).inc()
    if usage is not None:
        for kind, n in (
            ("input", usage.prompt_tokens),
            ("output", usage.completion_tokens),
            ("cached_input", usage.cached_tokens),
            ("cache_write", usage.cache_write_tokens),
            ("cache_write_1h", usage.cache_write_1h_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if n:
                TOKENS.labels(kind, provider, model).inc(n)
    if charged_nusd:
        COST.labels(provider, model).inc(charged_nusd)
    if upstream_nusd:
        UPSTREAM_COST.labels(provider, model).inc(upstream_nusd)


class _Breakers:
    """Breaker states as this process sees them (shared through Redis, so any process will do)."""

    def collect(self):
        import time

        from .health import health

        g = GaugeMetricFamily("aipower_circuit_breaker_state", "0 closed, 1 half-open, 2 open.", labels=["breaker"])
        now = time.time()
        for key, until in sorted(health.open_until.items()):
            g.add_metric([key], 2 if until > now else 1)
        yield g


class _Holds:
    """Outstanding credit holds, from the database (one query per scrape)."""

    def collect(self):
        from billing.models import Reservation

        g = GaugeMetricFamily("aipower_holds_outstanding", "Credit holds not yet settled or expired.", labels=["kind"])
        try:
            from django.db import close_old_connections
            from django.db.models import Count, Sum

            close_old_connections()
            row = Reservation.objects.filter(expired=False).aggregate(n=Count("id"), total=Sum("amount_nusd"))
            g.add_metric(["count"], row["n"] or 0)
            g.add_metric(["nusd"], row["total"] or 0)
        except Exception:
            pass  # the database is away: /readyz says so
        yield g


def exposition() -> bytes:
    """The text /metrics answers (sync: run in a thread)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    extra = CollectorRegistry()
    extra.register(_Breakers())
    extra.register(_Holds())
    return generate_latest(registry) + generate_latest(extra)


def process_exited(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
