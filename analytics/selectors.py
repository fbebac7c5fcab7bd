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
from django.db import connection
from django.db.models import Q

from billing.pricing import cost_of

from . import metrics, sql
from .models import UsageRecord
from .rollups import DAY, HOUR, day_floor, rolled_through

# Names callers group and filter by -> the column on both usage rows and rollups.
DIMENSIONS = sql.COLUMNS
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


def _pieces(rng: Range, whole_days: bool) -> list[tuple[str, datetime, datetime]]:
    """(piece, start, end) that together cover the range exactly once: "d" daily rollups, "h"/"h2"
    hourly rollups, "raw" the usage rows of the hours not rolled up yet."""
    rolled = rolled_through()
    boundary = rng.start if rolled is None else min(max(rolled, rng.start), rng.end)
    out = []
    hour_spans = [(rng.start, boundary)]
    if whole_days:
        d0 = day_floor(rng.start) + (DAY if day_floor(rng.start) < rng.start else timedelta(0))
        d1 = day_floor(boundary)
        if d0 < d1:
            out.append(("d", d0, d1))
            hour_spans = [(rng.start, d0), (d1, boundary)]
    names = iter(("h", "h2"))
    for a, b in hour_spans:
        if a < b:
            out.append((next(names), a, b))
    if boundary < rng.end:
        out.append(("raw", boundary, rng.end))
    return out


FULL = ("time", "key", "route", "model", "provider", "status")


class UsageReader:
    """Groupings of one organization's usage over one range and filters. The rolled-up pieces are
    read by one SQL query per grouping; the raw tail (hours not rolled up yet) is read once, by
    hour and every dimension, and folded into each grouping here."""

    def __init__(self, org_id: int, rng: Range, filters: Filters = Filters()):
        self.org_id, self.rng, self.filters = org_id, rng, filters
        self.set_filters = tuple(f.name for f in fields(filters) if getattr(filters, f.name) is not None)
        self._tail: dict | None = None

    def _params(self, pieces) -> dict:
        adapt = connection.ops.adapt_datetimefield_value
        params: dict[str, object] = {"org": self.org_id}
        for name, a, b in pieces:
            params[f"{name}_start"], params[f"{name}_end"] = adapt(a), adapt(b)
        for f in self.set_filters:
            params[f"f_{f}"] = getattr(self.filters, f)
        return params

    def groups(self, by: tuple[str, ...] = (), unit: str | None = None) -> dict:
        """{group values: merged metrics}, grouped by `by` (names of DIMENSIONS, or "time": steps
        of `unit`, "hour" or "day", the range's own by default). No `by`: one group, the key ()."""
        by, unit = tuple(by), unit or self.rng.unit
        pieces = _pieces(self.rng, whole_days="time" not in by or unit == "day")
        rolled = [p for p in pieces if p[0] != "raw"]
        result = (
            sql.run_grouped(by, unit, self._params(rolled), tuple(p[0] for p in rolled), self.set_filters)
            if rolled
            else {}
        )
        raw = [p for p in pieces if p[0] == "raw"]
        if raw:
            if self._tail is None:
                self._tail = sql.run_grouped(FULL, "hour", self._params(raw), ("raw",), self.set_filters)
            at = [FULL.index(d) for d in by]
            for key, m in self._tail.items():
                group = tuple(
                    (key[0] if unit == "hour" else day_floor(key[0])) if d == "time" else key[i]
                    for d, i in zip(by, at, strict=False)
                )
                metrics.add(result.setdefault(group, metrics.empty()), m)
        return result


def fold(groups: dict, keep: tuple[int, ...]) -> dict:
    """A coarser grouping from a finer one: keeps the group values at positions `keep`."""
    out: dict = {}
    for key, m in groups.items():
        metrics.add(out.setdefault(tuple(key[i] for i in keep), metrics.empty()), m)
    return out


def usage_groups(
    org_id: int, rng: Range, filters: Filters = Filters(), by: tuple[str, ...] = (), unit: str | None = None
) -> dict:
    return UsageReader(org_id, rng, filters).groups(by, unit)


def usage_totals(org_id: int, rng: Range, filters: Filters = Filters()) -> dict:
    return metrics.summary(usage_groups(org_id, rng, filters).get((), metrics.empty()))


def table_rows(groups: dict) -> list[dict]:
    """One row per group of a one-dimension grouping, dearest first."""
    rows = [{"group": k[0], **metrics.summary(m)} for k, m in groups.items()]
    rows.sort(key=lambda r: (-r["charged_nusd"], -r["requests"], str(r["group"])))
    return rows


def usage_table(org_id: int, rng: Range, filters: Filters, by: str) -> list[dict]:
    return table_rows(usage_groups(org_id, rng, filters, (by,)))


def total_of(groups: dict) -> dict:
    """The summary of every group together."""
    total = metrics.empty()
    for m in groups.values():
        metrics.add(total, m)
    return metrics.summary(total)


def markup_bp_of(org_id: int) -> int:
    from billing.models import CreditAccount

    bp = CreditAccount.objects.filter(organization_id=org_id).values_list("markup_bp", flat=True).first()
    return settings.AIPOWER_DEFAULT_MARKUP_BP if bp is None else bp


def savings_rows(route_groups: dict, baseline, *, markup_bp: int) -> list[dict]:
    """Per route (groups by route): what was charged, and what the same tokens would have cost on
    `baseline` (a catalog ModelInfo) at the organization's markup. Pinned models count under ""."""
    rows = []
    for (route,), m in route_groups.items():
        base = cost_of(
            prompt_tokens=m["prompt_tokens"],
            cached_tokens=m["cached_tokens"],
            completion_tokens=m["completion_tokens"],
            cache_write_tokens=m["cache_write_tokens"],
            cache_write_1h_tokens=m["cache_write_1h_tokens"],
            input_price_usd_micro_per_mtok=baseline.input_price_usd_micro_per_mtok,
            output_price_usd_micro_per_mtok=baseline.output_price_usd_micro_per_mtok,
            cached_input_price_usd_micro_per_mtok=baseline.cached_input_price_usd_micro_per_mtok,
            cache_write_price_usd_micro_per_mtok=baseline.cache_write_price_usd_micro_per_mtok,
            cache_write_1h_price_usd_micro_per_mtok=baseline.cache_write_1h_price_usd_micro_per_mtok,
            markup_bp=markup_bp,
        ).charged_nusd
        saved = base - m["charged_nusd"]
        pct = (Decimal(saved) * 100 / Decimal(base)).quantize(Decimal("0.1")) if base else None
        rows.append(
            {
                "route": route,
                "requests": m["requests"],
                "charged_nusd": m["charged_nusd"],
                "baseline_nusd": base,
                "saved_nusd": saved,
                "saved_pct": pct,
            }
        )
    rows.sort(key=lambda r: -r["saved_nusd"])
    return rows


def savings(org_id: int, rng: Range, filters: Filters, baseline, *, markup_bp: int) -> list[dict]:
    return savings_rows(usage_groups(org_id, rng, filters, ("route",)), baseline, markup_bp=markup_bp)


def series(rng: Range, per_time: dict, per_time_stack: dict) -> dict:
    """The charts' data from groupings by ("time",) and ("time", route or model): per time step,
    totals and the spend of each route or model."""
    steps = rng.steps()
    points_by_t = {k[0]: metrics.summary(m) for k, m in per_time.items()}
    stacked: dict = {}
    for (t, name), m in per_time_stack.items():
        stacked.setdefault(name or PINNED, {})[t] = m["charged_nusd"]
    empty = metrics.summary(metrics.empty())
    points = [points_by_t.get(t, empty) for t in steps]
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


def request_log(
    org_id: int, rng: Range, filters: Filters, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[UsageRecord], str | None]:
    """Newest first, `limit` rows after `cursor` (keyset: created_at, id); returns (rows, next cursor)."""
    qs = UsageRecord.objects.filter(
        filters.q(), organization_id=org_id, created_at__gte=rng.start, created_at__lt=rng.end
    )
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
