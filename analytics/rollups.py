"""Rolling usage rows up into hourly and daily rollups, and expiring old usage rows.

An hour's rollups are rebuilt from its usage rows (delete, then insert, in one transaction), and a
day's from its hours, so a rollup can be re-run at any time and gives the same numbers. Which hours
to rebuild: every hour not rolled up yet, the hour that just closed (rows still in flight when it
was last rolled), and any older hour a usage row arrived in since the last run (late rows: usage
rows above the last id seen). The last run's position is kept in RollupState.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.scoping import scopes_disabled

from . import metrics
from .models import RollupState, UsageRecord, UsageRollup

log = logging.getLogger("aipower.analytics")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DIMS = ("organization_id", "api_key_id", "route", "served_model", "provider", "status")


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def day_floor(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _errors_by_class(qs, dims) -> dict:
    """{dims tuple: {error class: count}} for the rows that did not end ok."""
    out: dict = {}
    for row in qs.exclude(status="ok").values(*dims, "error_type").annotate(n=Count("id")).order_by():
        key = tuple(row[d] for d in dims)
        out.setdefault(key, {})[row["error_type"] or row["status"]] = row["n"]
    return out


def _replace(period: str, bucket: datetime, rows: list[dict], errors: dict) -> int:
    """Swaps a bucket's rollups for the ones just computed, in one transaction."""
    built = []
    for r in rows:
        key = tuple(r[d] for d in DIMS)
        fields = {f: r[f] for f in metrics.SUMMED if f != "errors_total"}
        built.append(
            UsageRollup(
                period=period,
                bucket_start=bucket,
                **dict(zip(DIMS, key, strict=True)),
                errors=errors.get(key, {}),
                **fields,
            )
        )
    with transaction.atomic():
        UsageRollup.objects.filter(period=period, bucket_start=bucket).delete()
        UsageRollup.objects.bulk_create(built, batch_size=2000)
    return len(built)


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def rollup_hour(hour: datetime) -> int:
    """Rebuilds the hourly rollups of one hour (every organization) from its usage rows."""
    hour = hour_floor(hour)
    raw = UsageRecord.objects.filter(created_at__gte=hour, created_at__lt=hour + HOUR)
    agg = metrics.raw_metrics()
    rows = [metrics.unprefix(r) for r in raw.values(*DIMS).annotate(**agg).order_by()]
    errors = _errors_by_class(raw, DIMS)
    return _replace("h", hour, rows, errors)


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def rollup_day(day: datetime) -> int:
    """Rebuilds the daily rollups of one UTC day from its hourly rollups."""
    day = day_floor(day)
    hours = UsageRollup.objects.filter(period="h", bucket_start__gte=day, bucket_start__lt=day + DAY)
    rows = [metrics.unprefix(r) for r in hours.values(*DIMS).annotate(**metrics.rollup_metrics()).order_by()]
    errors: dict = {}
    for r in hours.exclude(errors={}).values(*DIMS, "errors"):
        merged = errors.setdefault(tuple(r[d] for d in DIMS), {})
        for cls, n in r["errors"].items():
            merged[cls] = merged.get(cls, 0) + n
    return _replace("d", day, rows, errors)


def _locked_state() -> RollupState:
    RollupState.objects.get_or_create(pk=1)
    return RollupState.objects.select_for_update().get(pk=1)


def retention_cutoff(now: datetime) -> datetime:
    return hour_floor(now - timedelta(days=settings.AIPOWER_USAGE_RETENTION_DAYS))


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def rollup_due(now: datetime | None = None) -> list[datetime]:
    """Rolls up every hour that needs it (see the module's notes); returns the hours rebuilt.
    One run at a time: the state row is locked for the run's length."""
    now = now or timezone.now()
    current = hour_floor(now)
    with transaction.atomic():
        state = _locked_state()
        max_id = UsageRecord.objects.aggregate(m=Max("id"))["m"] or 0
        todo: set[datetime] = set()
        start = state.rolled_through
        if start is None:
            first = UsageRecord.objects.aggregate(m=Min("created_at"))["m"]
            start = hour_floor(first) if first else current
        h = start
        while h < current:
            todo.add(h)
            h += HOUR
        if max_id > state.last_usage_id:
            late = (
                UsageRecord.objects.filter(id__gt=state.last_usage_id, id__lte=max_id, created_at__lt=current)
                .annotate(h=TruncHour("created_at"))
                .values_list("h", flat=True)
                .distinct()
                .order_by()
            )
            todo.update(late)
        todo.add(current - HOUR)
        # Hours whose usage rows may already be expired are never rebuilt (that would empty them).
        cutoff = retention_cutoff(now)
        hours = sorted(h for h in todo if h >= cutoff)
        for h in hours:
            rollup_hour(h)
        for d in sorted({day_floor(h) for h in hours}):
            rollup_day(d)
        state.rolled_through = max(current, state.rolled_through or current)
        state.last_usage_id = max(max_id, state.last_usage_id)
        state.save()
    forget_rolled_through()
    return hours


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def purge_expired(now: datetime | None = None, batch: int | None = None) -> int:
    """Deletes usage rows older than the retention period whose hours are rolled up, in batches
    (short transactions: the request path keeps writing meanwhile). Rollups stay."""
    now = now or timezone.now()
    batch = batch or settings.AIPOWER_USAGE_PURGE_BATCH
    state = RollupState.objects.filter(pk=1).first()
    if state is None or state.rolled_through is None:
        return 0
    before = min(retention_cutoff(now), state.rolled_through)
    deleted = 0
    while True:
        ids = list(UsageRecord.objects.filter(created_at__lt=before).order_by().values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += UsageRecord.objects.filter(id__in=ids).delete()[0]


_rolled: list = [0.0, None]  # [read at (monotonic), value]


def rolled_through() -> datetime | None:
    """Up to where hourly rollups exist (cached for a second: a value a little behind is always
    safe to read with, as usage rows are kept far longer than that)."""
    now = time.monotonic()
    if now - _rolled[0] > 1.0:
        _rolled[:] = [now, RollupState.objects.filter(pk=1).values_list("rolled_through", flat=True).first()]
    return _rolled[1]


def forget_rolled_through() -> None:
    _rolled[0] = 0.0


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def rollup_and_expire() -> tuple[int, int]:
    """What the Celery task runs: (hours rolled up, usage rows deleted)."""
    hours = rollup_due()
    return len(hours), purge_expired()
