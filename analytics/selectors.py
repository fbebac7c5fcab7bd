"""Reading usage for one organization: totals and groups over a time range, savings against a
baseline model, and the request log. Every function takes the organization's id first and
filters by it; nothing here reads across organizations.

A range is read from daily rollups for its whole days, hourly rollups for its other rolled-up
hours, and the usage rows themselves for the hours not rolled up yet (the current hour, or every
hour in the embedded default with no Celery beat), so figures are complete and exact either way.
"""

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Trunc

from billing.pricing import cost_of

from . import metrics
from .models import UsageRecord, UsageRollup
from .rollups import DAY, HOUR, day_floor, rolled_through

# Names callers group and filter by -> the column on both usage rows and rollups.
DIMENSIONS = {"key": "api_key_id", "route": "route", "model": "served_model", "provider": "provider",
              "status": "status"}
STATUSES = tuple(UsageRecord.Status.values)
PINNED = "(pinned)"  # the "route" of requests that named a model, not a route


@dataclass(frozen=True)
class Filters:
    key: int | None = None
    route: str | None = None
    model: str | None = None
    provider: str | None = None
    status: str | None = None

    def q(self) -> Q:
        q = Q()
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                q &= Q(**{DIMENSIONS[f.name]: value})
        return q

    def as_params(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Range:
    """[start, end), both on whole hours; `unit` is the time axis' step ("hour" or "day")."""

    start: datetime
    end: datetime

    @property
    def unit(self) -> str:
        return "hour" if self.end - self.start <= timedelta(hours=48) else "day"

    def steps(self) -> list[datetime]:
        step = HOUR if self.unit == "hour" else DAY
        t = self.start if self.unit == "hour" else day_floor(self.start)
        out = []
        while t < self.end:
            out.append(t)
            t += step
        return out


def _pieces(org_id: int, rng: Range, filters: Filters, whole_days: bool) -> list[tuple]:
    """(queryset, kind) pieces that together cover the range exactly once."""
    q = filters.q()
    rolled = rolled_through()
    boundary = rng.start if rolled is None else min(max(rolled, rng.start), rng.end)
    out = []
    rollups = UsageRollup.objects.filter(q, organization_id=org_id)
    hour_spans = [(rng.start, boundary)]
    if whole_days:
        d0 = day_floor(rng.start) + (DAY if day_floor(rng.start) < rng.start else timedelta(0))
        d1 = day_floor(boundary)
        if d0 < d1:
            out.append((rollups.filter(period="d", bucket_start__gte=d0, bucket_start__lt=d1), "rollup"))
            hour_spans = [(rng.start, d0), (d1, boundary)]
    for a, b in hour_spans:
        if a < b:
            out.append((rollups.filter(period="h", bucket_start__gte=a, bucket_start__lt=b), "rollup"))
    if boundary < rng.end:
        raw = UsageRecord.objects.filter(q, organization_id=org_id, created_at__gte=boundary, created_at__lt=rng.end)
        out.append((raw, "raw"))
    return out


def usage_groups(org_id: int, rng: Range, filters: Filters = Filters(), by: tuple[str, ...] = (),
                 unit: str | None = None) -> dict:
    """{group values: merged metrics}, grouped by `by` (names of DIMENSIONS, or "time": steps of
    `unit`, "hour" or "day", the range's own by default). No `by`: one group, the key ()."""
    result: dict = {}
    unit = unit or rng.unit
    whole_days = "time" not in by or unit == "day"
    for qs, kind in _pieces(org_id, rng, filters, whole_days):
        names = []
        if "time" in by:
            qs = qs.annotate(g_time=Trunc("created_at" if kind == "raw" else "bucket_start", unit))
        for d in by:
            names.append("g_time" if d == "time" else DIMENSIONS[d])
        agg = metrics.raw_metrics() if kind == "raw" else metrics.rollup_metrics()
        rows = qs.values(*names).annotate(**agg).order_by() if names else [qs.aggregate(**agg)]
        for row in rows:
            row = metrics.unprefix(row)
            if not names and not row["requests"]:
                continue
            key = tuple(row[n] for n in names)
            metrics.add(result.setdefault(key, metrics.empty()), row)
    return result


def usage_totals(org_id: int, rng: Range, filters: Filters = Filters()) -> dict:
    return metrics.summary(usage_groups(org_id, rng, filters).get((), metrics.empty()))


def usage_table(org_id: int, rng: Range, filters: Filters, by: str) -> list[dict]:
    """One row per value of `by`, dearest first."""
    rows = [{"group": k[0], **metrics.summary(m)} for k, m in usage_groups(org_id, rng, filters, (by,)).items()]
    rows.sort(key=lambda r: (-r["charged_nusd"], -r["requests"], str(r["group"])))
    return rows


def markup_bp_of(org_id: int) -> int:
    from billing.models import CreditAccount

    bp = CreditAccount.objects.filter(organization_id=org_id).values_list("markup_bp", flat=True).first()
    return settings.AIPOWER_DEFAULT_MARKUP_BP if bp is None else bp


def savings(org_id: int, rng: Range, filters: Filters, baseline, *, markup_bp: int) -> list[dict]:
    """Per route: what was charged, and what the same tokens would have cost on `baseline` (a
    catalog ModelInfo) at the organization's markup. Requests to pinned models count under ""."""
    groups = usage_groups(org_id, rng, filters, ("route",))
    rows = []
    for (route,), m in groups.items():
        base = cost_of(prompt_tokens=m["prompt_tokens"], cached_tokens=m["cached_tokens"],
                       completion_tokens=m["completion_tokens"], cache_write_tokens=m["cache_write_tokens"],
                       input_price=baseline.input_price, output_price=baseline.output_price,
                       cached_input_price=baseline.cached_input_price,
                       cache_write_price=baseline.cache_write_price, markup_bp=markup_bp).charged_nusd
        saved = base - m["charged_nusd"]
        pct = (Decimal(saved) * 100 / Decimal(base)).quantize(Decimal("0.1")) if base else None
        rows.append({"route": route, "requests": m["requests"], "charged_nusd": m["charged_nusd"],
                     "baseline_nusd": base, "saved_nusd": saved, "saved_pct": pct})
    rows.sort(key=lambda r: -r["saved_nusd"])
    return rows


def series(org_id: int, rng: Range, filters: Filters, stack: str) -> dict:
    """The charts' data: per time step, totals and spend stacked by `stack` (route or model)."""
    steps = rng.steps()
    per_time = {k[0]: metrics.summary(m) for k, m in usage_groups(org_id, rng, filters, ("time",)).items()}
    stacked: dict = {}
    for (t, name), m in usage_groups(org_id, rng, filters, ("time", stack)).items():
        stacked.setdefault(name or PINNED, {})[t] = m["charged_nusd"]
    empty = metrics.summary(metrics.empty())
    points = [per_time.get(t, empty) for t in steps]
    return {
        "labels": [t.isoformat() for t in steps],
        "unit": rng.unit,
        "requests": [p["requests"] for p in points],
        "prompt_tokens": [p["prompt_tokens"] for p in points],
        "completion_tokens": [p["completion_tokens"] for p in points],
        "charged_nusd": [p["charged_nusd"] for p in points],
        "latency_p50_ms": [p["latency_p50_ms"] for p in points],
        "latency_p95_ms": [p["latency_p95_ms"] for p in points],
        "ttft_p50_ms": [p["ttft_p50_ms"] for p in points],
        "ttft_p95_ms": [p["ttft_p95_ms"] for p in points],
        "error_rate": [round(p["error_rate"] * 100, 2) for p in points],
        "fallback_rate": [round(p["fallback_rate"] * 100, 2) for p in points],
        "spend": {name: [by_t.get(t, 0) for t in steps] for name, by_t in sorted(stacked.items())},
    }


# --- The request log ------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(row: UsageRecord) -> str:
    return f"{(row.created_at - _EPOCH) // timedelta(microseconds=1)}.{row.pk}"


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        us, pk = cursor.split(".")
        return _EPOCH + timedelta(microseconds=int(us)), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def request_log(org_id: int, rng: Range, filters: Filters, *, cursor: str | None = None,
                limit: int = 50) -> tuple[list[UsageRecord], str | None]:
    """Newest first, `limit` rows after `cursor` (keyset: created_at, id); returns (rows, next cursor)."""
    qs = UsageRecord.objects.filter(filters.q(), organization_id=org_id, created_at__gte=rng.start,
                                    created_at__lt=rng.end)
    if cursor:
        at = decode_cursor(cursor)
        if at is not None:
            qs = qs.filter(Q(created_at__lt=at[0]) | Q(created_at=at[0], pk__lt=at[1]))
    rows = list(qs.order_by("-created_at", "-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def request_of(org_id: int, request_id: str) -> UsageRecord | None:
    return UsageRecord.objects.filter(organization_id=org_id, request_id=request_id).first()
