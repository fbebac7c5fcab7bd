"""The numbers every analytics view adds up, as SQL aggregates over usage rows (raw) or rollups.

Both sides give the same keys, so one piece of a time range may come from daily rollups, another
from hourly ones and the not-yet-rolled tail from the raw rows, and their sums are merged as
plain integers. Latency and time-to-first-token are fixed-bucket histograms: bucket counts add
up, and percentiles are read off the merged counts.
"""

from django.db.models import Count, IntegerField, Q, Sum, Value
from django.db.models.functions import Coalesce

from .models import LAT_FIELDS, LATENCY_BOUNDS_MS, N_BUCKETS, TTFT_FIELDS

SUMMED = (
    (
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
        "upstream_cost_nusd",
        "charged_nusd",
        "fallbacks",
        "latency_sum_ms",
        "ttft_count",
        "errors_total",
    )
    + LAT_FIELDS
    + TTFT_FIELDS
)

_RAW_SUMS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "upstream_cost_nusd",
    "charged_nusd",
)


def bucket_of(ms: int) -> int:
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if ms <= bound:
            return i
    return N_BUCKETS - 1


def _bucket_q(field: str, i: int) -> Q:
    q = Q()
    if i > 0:
        q &= Q(**{f"{field}__gt": LATENCY_BOUNDS_MS[i - 1]})
    if i < N_BUCKETS - 1:
        q &= Q(**{f"{field}__lte": LATENCY_BOUNDS_MS[i]})
    if field == "ttft_ms":
        q &= Q(ttft_ms__isnull=False)
    return q


def _zero_sum(expr):
    return Coalesce(expr, Value(0), output_field=IntegerField())


P = "m_"  # aggregate aliases differ from the rollup's field names (Django requires it)


def unprefix(row: dict) -> dict:
    """A values() row with its aggregates renamed back to the metric names."""
    return {(k[2:] if k.startswith(P) else k): v for k, v in row.items()}


def raw_metrics() -> dict:
    """Aggregates over UsageRecord rows (aliases prefixed with P)."""
    return {P + k: v for k, v in _raw_metrics().items()}


def _raw_metrics() -> dict:
    agg = {"requests": Count("id")}
    for f in _RAW_SUMS:
        agg[f] = _zero_sum(Sum(f))
    agg["fallbacks"] = Count("id", filter=Q(attempts__gt=1))
    agg["latency_sum_ms"] = _zero_sum(Sum("latency_ms"))
    agg["ttft_count"] = Count("id", filter=Q(ttft_ms__isnull=False))
    agg["errors_total"] = Count("id", filter=~Q(status="ok"))
    for i in range(N_BUCKETS):
        agg[LAT_FIELDS[i]] = Count("id", filter=_bucket_q("latency_ms", i))
        agg[TTFT_FIELDS[i]] = Count("id", filter=_bucket_q("ttft_ms", i))
    return agg


def rollup_metrics() -> dict:
    """The same aggregates over UsageRollup rows."""
    agg = {P + f: _zero_sum(Sum(f)) for f in SUMMED if f != "errors_total"}
    agg[P + "errors_total"] = _zero_sum(Sum("requests", filter=~Q(status="ok")))
    return agg


def empty() -> dict:
    return dict.fromkeys(SUMMED, 0)


def add(into: dict, row: dict) -> dict:
    for f in SUMMED:
        into[f] += row.get(f) or 0
    return into


def percentile(hist: list[int], q: float) -> int | None:
    """The q-quantile (0..1) of a bucket histogram, interpolated inside its bucket (ms)."""
    total = sum(hist)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            lo = LATENCY_BOUNDS_MS[i - 1] if i > 0 else 0
            if i == N_BUCKETS - 1:
                return lo
            hi = LATENCY_BOUNDS_MS[i]
            return round(lo + (hi - lo) * max(rank - seen, 0) / n)
        seen += n
    return LATENCY_BOUNDS_MS[-1]


def summary(m: dict) -> dict:
    """Derived figures of one merged group: percentiles, rates, averages."""
    lat = [m[f] for f in LAT_FIELDS]
    ttft = [m[f] for f in TTFT_FIELDS]
    n = m["requests"]
    return {
        "requests": n,
        "prompt_tokens": m["prompt_tokens"],
        "completion_tokens": m["completion_tokens"],
        "cached_tokens": m["cached_tokens"],
        "cache_write_tokens": m["cache_write_tokens"],
        "cache_write_1h_tokens": m["cache_write_1h_tokens"],
        "reasoning_tokens": m["reasoning_tokens"],
        "total_tokens": m["prompt_tokens"] + m["completion_tokens"],
        "upstream_cost_nusd": m["upstream_cost_nusd"],
        "charged_nusd": m["charged_nusd"],
        "avg_charged_nusd": m["charged_nusd"] // n if n else 0,
        "errors": m["errors_total"],
        "error_rate": m["errors_total"] / n if n else 0.0,
        "fallbacks": m["fallbacks"],
        "fallback_rate": m["fallbacks"] / n if n else 0.0,
        "latency_p50_ms": percentile(lat, 0.5),
        "latency_p95_ms": percentile(lat, 0.95),
        "latency_p99_ms": percentile(lat, 0.99),
        "ttft_p50_ms": percentile(ttft, 0.5),
        "ttft_p95_ms": percentile(ttft, 0.95),
        "ttft_p99_ms": percentile(ttft, 0.99),
    }
