"""Rolling usage rows up into hourly and daily rollups, and expiring old usage rows.

Every usage row is counted into the hourly rollups exactly once, and deleted only after it was.
RollupState says which rows are counted: those with `id <= last_usage_id` and `created_at <
rolled_through`. A run moves both marks forward and adds the rows between the old marks and the
new ones to their hours (the rollups already there plus the new rows), in one transaction with
the state row locked: a run that fails counts nothing, and runs that overlap take turns.

That covers rows that arrive late (their hour rolled up long ago: a stream charged by the
sweeper after its process died, rows held back by a database outage), however old their hour:
they are added to what the hour has, not rebuilt from rows retention may have deleted. Retention
deletes only counted rows.

`last_usage_id` must never pass a row still being written (a transaction that took its id from
the sequence but has not committed yet would otherwise be skipped for good). So the run reads the
highest id while holding a SHARE lock on the table: it waits for the transactions writing usage
rows to finish, and every id up to the one it reads is then committed (or never will be).

A day's rollups are rebuilt from its hours.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.scoping import scopes_disabled

from . import metrics
from .models import RollupState, UsageRecord, UsageRollup

log = logging.getLogger("aipower.analytics")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DIMS = ("organization_id", "api_key_id", "route", "served_model", "provider", "status")
FIELDS = tuple(f for f in metrics.SUMMED if f != "errors_total")  # what a rollup row stores
# How long a run waits for the usage rows being written to commit before it reads the highest id.
# Writers queue behind the lock meanwhile, so keep it short; a run that gives up counts the rows
# below the mark it already had, and the next run moves the mark.
ID_LOCK_TIMEOUT_MS = 1000


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def day_floor(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _aggregate(qs) -> tuple[list[dict], dict]:
    """The rollup rows of some usage rows, by DIMS, and {dims tuple: {error class: count}}."""
    rows = [metrics.unprefix(r) for r in qs.values(*DIMS).annotate(**metrics.raw_metrics()).order_by()]
    errors: dict = {}
    for row in qs.exclude(status="ok").values(*DIMS, "error_type").annotate(n=Count("id")).order_by():
        _add_errors(errors, tuple(row[d] for d in DIMS), {row["error_type"] or row["status"]: row["n"]})
    return rows, errors


def _add_errors(into: dict, key: tuple, by_class: dict) -> None:
    merged = into.setdefault(key, {})
    for cls, n in by_class.items():
        merged[cls] = merged.get(cls, 0) + n


def _replace(period: str, bucket: datetime, rows: list[dict], errors: dict) -> int:
    """Swaps a bucket's rollups for the ones just computed, in one transaction."""
    built = []
    for r in rows:
        key = tuple(r[d] for d in DIMS)
        built.append(
            UsageRollup(
                period=period,
                bucket_start=bucket,
                **dict(zip(DIMS, key, strict=True)),
                errors=errors.get(key, {}),
                **{f: r[f] for f in FIELDS},
            )
        )
    with transaction.atomic():
        UsageRollup.objects.filter(period=period, bucket_start=bucket).delete()
        UsageRollup.objects.bulk_create(built, batch_size=2000)
    return len(built)


def _add_to_hour(hour: datetime, rows: list[dict], errors: dict) -> int:
    """Adds newly counted usage (rows by DIMS, errors by class) to the hourly rollups of an hour."""
    merged: dict = {}
    merged_errors: dict = {}
    existing = UsageRollup.objects.filter(period="h", bucket_start=hour).values(*DIMS, *FIELDS, "errors")
    for r in list(existing) + rows:
        key = tuple(r[d] for d in DIMS)
        into = merged.setdefault(key, {**dict(zip(DIMS, key, strict=True)), **dict.fromkeys(FIELDS, 0)})
        for f in FIELDS:
            into[f] += r[f]
        _add_errors(merged_errors, key, r.get("errors", {}))
    for key, by_class in errors.items():
        _add_errors(merged_errors, key, by_class)
    return _replace("h", hour, list(merged.values()), merged_errors)


def _counted(state: RollupState) -> Q:
    """The usage rows the rollups hold (see the module's notes)."""
    if state.rolled_through is None:
        return Q(pk__in=[])
    return Q(id__lte=state.last_usage_id, created_at__lt=state.rolled_through)


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def rollup_hour(hour: datetime) -> int:
    """Rebuilds the hourly rollups of one hour (every organization) from its counted usage rows:
    a repair, giving what the runs added up. Only for hours whose usage rows are all still kept."""
    hour = hour_floor(hour)
    if hour < retention_cutoff(timezone.now()):
        raise ValueError(f"usage rows of {hour} may have been deleted: its rollups cannot be rebuilt from them")
    with transaction.atomic():
        state = _locked_state()
        raw = UsageRecord.objects.filter(_counted(state), created_at__gte=hour, created_at__lt=hour + HOUR)
        return _replace("h", hour, *_aggregate(raw))


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def rollup_day(day: datetime) -> int:
    """Rebuilds the daily rollups of one UTC day from its hourly rollups."""
    day = day_floor(day)
    hours = UsageRollup.objects.filter(period="h", bucket_start__gte=day, bucket_start__lt=day + DAY)
    rows = [metrics.unprefix(r) for r in hours.values(*DIMS).annotate(**metrics.rollup_metrics()).order_by()]
    errors: dict = {}
    for r in hours.exclude(errors={}).values(*DIMS, "errors"):
        _add_errors(errors, tuple(r[d] for d in DIMS), r["errors"])
    return _replace("d", day, rows, errors)


def _locked_state() -> RollupState:
    RollupState.objects.get_or_create(pk=1)
    return RollupState.objects.select_for_update().get(pk=1)


def retention_cutoff(now: datetime) -> datetime:
    return hour_floor(now - timedelta(days=settings.AIPOWER_USAGE_RETENTION_DAYS))


def committed_id_mark() -> int | None:
    """The highest usage row id at a moment no usage row was being written: every row with an id
    up to it is committed. None when the writers did not finish within ID_LOCK_TIMEOUT_MS."""
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute(f"SET LOCAL lock_timeout = {int(ID_LOCK_TIMEOUT_MS)}")
                cur.execute(f"LOCK TABLE {table} IN SHARE MODE")
            # (SQLite has one writer at a time, which commits before the next takes an id.)
            cur.execute(f"SELECT MAX(id) FROM {table}")
            return cur.fetchone()[0] or 0
    except DatabaseError:
        log.warning("usage rows were being written for over %d ms; counting up to the last mark", ID_LOCK_TIMEOUT_MS)
        return None


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def rollup_due(now: datetime | None = None) -> list[datetime]:
    """Counts the usage rows not counted yet whose hour has closed (see the module's notes);
    returns the hours they were added to."""
    now = now or timezone.now()
    current = hour_floor(now)
    mark = committed_id_mark()
    with transaction.atomic():
        state = _locked_state()
        old_id, old_through = state.last_usage_id, state.rolled_through
        state.last_usage_id = max(mark if mark is not None else 0, old_id)
        state.rolled_through = max(current, old_through or current)
        # Counted now and not before, written as two ranges each index can serve: rows with new
        # ids, and rows with old ids whose hour has closed since.
        new_ids = Q(id__gt=old_id, id__lte=state.last_usage_id, created_at__lt=state.rolled_through)
        if old_through is not None:
            new_ids |= Q(id__lte=old_id, created_at__gte=old_through, created_at__lt=state.rolled_through)
        new = UsageRecord.objects.filter(new_ids)
        hours = sorted(new.annotate(h=TruncHour("created_at")).values_list("h", flat=True).distinct().order_by())
        for h in hours:
            _add_to_hour(h, *_aggregate(new.filter(created_at__gte=h, created_at__lt=h + HOUR)))
        for d in sorted({day_floor(h) for h in hours}):
            rollup_day(d)
        state.save()
    forget_rolled_through()
    return hours


@scopes_disabled()  # every organization's rows: rollups are the operator's, not one tenant's
def purge_expired(now: datetime | None = None, batch: int | None = None) -> int:
    """Deletes usage rows older than the retention period that the rollups have counted, in
    batches (short transactions: the request path keeps writing meanwhile). Rollups stay. A row
    not counted yet (written late, after the last run) stays until a run has counted it."""
    now = now or timezone.now()
    batch = batch or settings.AIPOWER_USAGE_PURGE_BATCH
    state = RollupState.objects.filter(pk=1).first()
    if state is None:
        return 0
    # The marks only move forward: rows counted by this state stay counted whatever runs meanwhile.
    expired = UsageRecord.objects.filter(_counted(state), created_at__lt=retention_cutoff(now))
    deleted = 0
    while True:
        ids = list(expired.order_by().values_list("id", flat=True)[:batch])
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
