"""Usage rows that arrive late (their hour rolled up long ago: a stream charged by the sweeper after
its process died, rows held back by a database outage) are counted into the rollups exactly once,
and no usage row is deleted before it is counted: however old its hour, however often the task
runs, whether its runs overlap, and whether a row's transaction commits after a higher id's."""

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.keys import apikey_create, organization_get_or_create
from analytics.models import UsageRecord, UsageRollup
from analytics.rollups import committed_id_mark, day_floor, hour_floor, purge_expired, rollup_due, rollup_hour
from analytics.selectors import markup_bp_of, savings_rows
from analytics.tasks import rollup_usage
from tests.analytics.conftest import by_hand, random_rows, stored, usage_row

URL = "/dashboard/analytics"


def run_task() -> int:
    """The Celery task, run as the test settings run it (eagerly, in this process)."""
    return rollup_usage.apply().get()


def hour_rollup(org_id: int, hour: datetime) -> tuple:
    rows = UsageRollup.objects.filter(period="h", organization_id=org_id, bucket_start=hour)
    errors: dict = defaultdict(int)
    for r in rows:
        for cls, n in r.errors.items():
            errors[cls] += n
    return sum(r.requests for r in rows), sum(r.charged_nusd for r in rows), dict(errors)


@pytest.fixture
def org_and_key(catalog):
    org = organization_get_or_create(name="Late Rows Co")
    return org, apikey_create(organization=org, name="k")[0].pk


@pytest.mark.django_db
def test_a_late_row_past_retention_is_counted_before_it_is_deleted(org_and_key, settings):
    org, key = org_and_key
    settings.AIPOWER_USAGE_RETENTION_DAYS = 2
    old = hour_floor(timezone.now()) - timedelta(days=3)
    UsageRecord.objects.bulk_create([usage_row(org.pk, old + timedelta(minutes=i), charged_nusd=5) for i in range(4)])
    run_task()
    assert hour_rollup(org.pk, old) == (4, 20, {})
    assert not UsageRecord.objects.filter(organization=org).exists()

    # Written three days after its hour, long past the retention period (a stream its dead process
    # never settled, charged by the sweeper from its last checkpoint).
    late = usage_row(
        org.pk,
        old + timedelta(minutes=30),
        api_key_id=key,
        status="stream_interrupted",
        error_type="aborted",
        charged_nusd=11,
    )
    UsageRecord.objects.bulk_create([late])
    assert purge_expired() == 0, "not counted yet, so not deleted"
    assert UsageRecord.objects.filter(request_id=late.request_id).exists()

    run_task()
    assert hour_rollup(org.pk, old) == (5, 31, {"aborted": 1})
    day = UsageRollup.objects.filter(period="d", organization=org, bucket_start=day_floor(old))
    assert (sum(d.requests for d in day), sum(d.charged_nusd for d in day)) == (5, 31)
    assert not UsageRecord.objects.filter(organization=org).exists(), "counted, then deleted"

    run_task()
    assert hour_rollup(org.pk, old) == (5, 31, {"aborted": 1})


@pytest.mark.django_db
def test_a_late_row_inside_retention_is_counted_once(org_and_key, rng):
    org, key = org_and_key
    now = timezone.now()
    start = hour_floor(now) - timedelta(hours=10)
    rows = random_rows(rng, org.pk, [key, None], start, 10, 300)
    UsageRecord.objects.bulk_create(rows)
    run_task()
    late = random_rows(rng, org.pk, [key], start, 10, 40)  # into hours rolled up already
    UsageRecord.objects.bulk_create(late)
    run_task()
    run_task()
    assert stored("h", org.pk) == by_hand(rows + late, hour_floor)
    assert stored("d", org.pk) == by_hand(rows + late, day_floor)
    # Rebuilding an hour from its rows (a repair) gives what the runs added up.
    for h in {hour_floor(r.created_at) for r in late}:
        rollup_hour(h)
    assert stored("h", org.pk) == by_hand(rows + late, hour_floor)


@pytest.mark.django_db
def test_a_row_of_the_current_hour_is_counted_once_its_hour_has_closed(org_and_key):
    org, key = org_and_key
    now = hour_floor(timezone.now()) + timedelta(minutes=30)
    row = usage_row(org.pk, now, api_key_id=key, charged_nusd=7)
    UsageRecord.objects.bulk_create([row])
    assert rollup_due(now) == []  # its hour is still open: read raw, not counted
    assert rollup_due(now + timedelta(hours=1)) == [hour_floor(now)]
    assert rollup_due(now + timedelta(hours=2)) == []
    assert hour_rollup(org.pk, hour_floor(now)) == (1, 7, {})


@pytest.mark.django_db
def test_the_dashboard_totals_equal_what_was_charged_late_rows_included(org, rng, settings):
    settings.AIPOWER_USAGE_RETENTION_DAYS = 2
    key = apikey_create(organization=org.organization, name="backend")[0].pk
    org_id = org.organization.pk
    now = timezone.now()
    start = hour_floor(now) - timedelta(days=4)
    rows = random_rows(rng, org_id, [key, None], start, 4 * 24, 500)
    UsageRecord.objects.bulk_create(rows)
    run_task()
    late = [
        *random_rows(rng, org_id, [key], start, 12, 15),  # past retention
        *random_rows(rng, org_id, [key], hour_floor(now) - timedelta(hours=20), 12, 15),  # inside it
        usage_row(org_id, now, api_key_id=key, charged_nusd=1_234),  # the current hour, read raw
    ]
    UsageRecord.objects.bulk_create(late)
    run_task()
    run_task()
    assert UsageRecord.objects.filter(organization_id=org_id, created_at__lt=now - timedelta(days=3)).count() == 0

    everything = rows + late
    resp = org.client_for(org.viewer).get(
        URL, {"range": "custom", "start": day_floor(start).date().isoformat(), "end": now.date().isoformat()}
    )
    assert resp.status_code == 200
    totals = resp.context["totals"]
    assert totals["requests"] == len(everything)
    assert totals["charged_nusd"] == sum(r.charged_nusd for r in everything)
    assert totals["upstream_cost_nusd"] == sum(r.upstream_cost_nusd for r in everything)
    assert totals["errors"] == sum(r.status != "ok" for r in everything)
    by_route: dict = defaultdict(lambda: defaultdict(int))
    for r in everything:
        g = by_route[(r.route,)]
        g["requests"] += 1
        for f in (
            "prompt_tokens",
            "cached_tokens",
            "completion_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "charged_nusd",
        ):
            g[f] += getattr(r, f)
    expected = savings_rows(by_route, resp.context["baseline"], markup_bp=markup_bp_of(org_id))
    assert resp.context["savings"] == expected
    assert sum(r["charged_nusd"] for r in expected) == totals["charged_nusd"]


# --- Overlapping runs and writers: committed data, seen by other connections and processes ------


def committed_rows(live_db, rows):
    with live_db.unblock():
        UsageRecord.objects.bulk_create(rows)


class SlowWriter(threading.Thread):
    """Writes a usage row in a transaction of its own, then holds it open until released."""

    def __init__(self, live_db, row):
        super().__init__()
        self.live_db, self.row = live_db, row
        self.taken, self.release = threading.Event(), threading.Event()

    def run(self):
        with self.live_db.unblock():
            try:
                with transaction.atomic():
                    UsageRecord.objects.bulk_create([self.row])
                    self.taken.set()
                    self.release.wait(10)
            finally:
                connection.close()


def test_a_row_whose_transaction_commits_after_a_higher_ids_is_not_skipped(live_db):
    """A writer that took its id and has not committed yet, while a later writer already has: the
    run waits for it rather than pass its id by (it would never be counted, then be deleted)."""
    with live_db.unblock():
        org = organization_get_or_create(name="Slow Writer Co")
    old = hour_floor(timezone.now()) - timedelta(hours=3)
    slow = SlowWriter(live_db, usage_row(org.pk, old + timedelta(minutes=1), charged_nusd=100))
    slow.start()
    assert slow.taken.wait(10)
    fast = usage_row(org.pk, old + timedelta(minutes=2), charged_nusd=20)
    committed_rows(live_db, [fast])
    with live_db.unblock():
        assert UsageRecord.objects.get(request_id=fast.request_id).pk > slow.row.pk

        # Still writing after the run's wait: the run keeps to the ids it had (neither row counted)...
        rollup_due()
        assert hour_rollup(org.pk, old) == (0, 0, {})
        # ... and a writer that commits while the run waits is counted, with the later one.
        threading.Timer(0.3, slow.release.set).start()
        t0 = time.monotonic()
        assert old in rollup_due()
        assert time.monotonic() - t0 >= 0.2, "the run waited for the writer"
        slow.join(10)
        assert hour_rollup(org.pk, old) == (2, 120, {})
        rollup_due()
        assert hour_rollup(org.pk, old) == (2, 120, {})


def test_the_id_mark_never_passes_a_row_still_being_written(live_db):
    with live_db.unblock():
        org = organization_get_or_create(name="Mark Co")
    writer = SlowWriter(live_db, usage_row(org.pk, timezone.now()))
    writer.start()
    assert writer.taken.wait(10)
    with live_db.unblock():
        assert committed_id_mark() is None
        writer.release.set()
        writer.join(10)
        assert committed_id_mark() >= writer.row.pk


@pytest.fixture
def two_workers(test_database_url):
    """Two real Celery workers on one queue, so that the task's runs overlap; retention two days."""
    import os

    from tests.servers import start_celery_worker, stop_process

    if not os.environ.get("REDIS_URL"):
        pytest.skip("real Celery workers need Redis (REDIS_URL)")
    queue, first = start_celery_worker(test_database_url, "late-rows", AIPOWER_USAGE_RETENTION_DAYS="2")
    _, second = start_celery_worker(test_database_url, "late-rows", queue=queue, AIPOWER_USAGE_RETENTION_DAYS="2")
    yield queue
    stop_process(first)
    stop_process(second)


def test_overlapping_runs_of_the_task_count_every_row_once(live_db, two_workers, rng):
    from aipower.celery import app

    with live_db.unblock():
        org = organization_get_or_create(name="Overlap Co")
        keys = [apikey_create(organization=org, name=f"k{i}")[0].pk for i in range(2)] + [None]
    now = timezone.now()
    start = hour_floor(now) - timedelta(days=3, hours=6)
    rows = random_rows(rng, org.pk, keys, start, 3 * 24 + 6, 3000)
    committed_rows(live_db, rows)

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        pending = [app.send_task("analytics.tasks.rollup_usage", queue=two_workers) for _ in range(4)]
        # Late rows, past retention and inside it, written while the runs go on.
        late = random_rows(rng, org.pk, keys, start, 12, 200)
        late += random_rows(rng, org.pk, keys, now - timedelta(hours=8), 6, 200)
        for i in range(0, len(late), 50):
            committed_rows(live_db, late[i : i + 50])
            pending.append(app.send_task("analytics.tasks.rollup_usage", queue=two_workers))
        pending += [app.send_task("analytics.tasks.rollup_usage", queue=two_workers) for _ in range(4)]
        for p in pending:
            p.get(timeout=120)
    finally:
        app.conf.task_always_eager = previous

    with live_db.unblock():
        end = timezone.now()
        rollup_due(end)  # what the last runs left of the current hour, if the hour turned meanwhile
        # Only rows whose hour has closed are in the rollups; the current hour's are read raw.
        closed = [r for r in rows + late if r.created_at < hour_floor(end)]
        assert stored("h", org.pk) == by_hand(closed, hour_floor)
        assert stored("d", org.pk) == by_hand(closed, day_floor)
        cutoff = hour_floor(datetime.now(UTC) - timedelta(days=2))
        assert not UsageRecord.objects.filter(organization=org, created_at__lt=cutoff - timedelta(hours=1)).exists()
