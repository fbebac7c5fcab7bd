"""The rollup runs in a real Celery worker on Redis, against the test database."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import UsageRecord, UsageRollup
from analytics.rollups import hour_floor
from tests.analytics.conftest import random_rows
from tests.conftest import make_tenant
from tests.servers import start_celery_worker, stop_process


@pytest.fixture
def worker(test_database_url):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("a real Celery worker needs Redis (REDIS_URL)")
    queue, proc = start_celery_worker(test_database_url, "analytics-test")
    yield queue
    stop_process(proc)


def test_a_real_worker_rolls_up_the_usage_rows(live_db, worker, rng):
    from aipower.celery import app

    tenant = make_tenant(live_db, credit_nusd=0)
    org = tenant.organization.pk
    start = hour_floor(timezone.now()) - timedelta(hours=4)
    rows = random_rows(rng, org, [tenant.key_id, None], start, 3, 300)
    with live_db.unblock():
        UsageRecord.objects.bulk_create(rows)

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        assert app.send_task("analytics.tasks.rollup_usage", queue=worker).get(timeout=60) >= 3
    finally:
        app.conf.task_always_eager = previous

    with live_db.unblock():
        hours = UsageRollup.objects.filter(period="h", organization_id=org)
        assert sorted({h.bucket_start for h in hours}) == sorted({hour_floor(r.created_at) for r in rows})
        assert sum(h.requests for h in hours) == 300
        assert sum(h.charged_nusd for h in hours) == sum(r.charged_nusd for r in rows)
        assert sum(h.cached_tokens for h in hours) == sum(r.cached_tokens for r in rows)
        days = UsageRollup.objects.filter(period="d", organization_id=org)
        assert sum(d.completion_tokens for d in days) == sum(r.completion_tokens for r in rows)
