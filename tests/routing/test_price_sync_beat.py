"""The price sync's schedule, run by a real Celery beat and worker on Redis against the test
database, reading a price list from a local HTTP server."""

import os
import subprocess
import sys
import time
import uuid

import pytest

from routing.models import CatalogModel, PriceSyncRun, PriceVersion, Provider
from tests.routing.price_lists import PriceListServer
from tests.servers import ROOT


def celery(*argv, env, log_name):
    log = ROOT / "test-artifacts" / log_name
    log.parent.mkdir(exist_ok=True)
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "aipower", *argv],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_the_beat_schedule_runs_the_sync_in_a_worker(live_db, test_database_url):
    base = os.environ.get("REDIS_URL")
    if not base:
        pytest.skip("a real Celery worker and beat need Redis (REDIS_URL)")
    import redis

    from tests.conftest import _redis_dbs

    redis_url = base.rsplit("/", 1)[0] + f"/{next(_redis_dbs)}"
    redis.Redis.from_url(redis_url).flushdb()
    tag = uuid.uuid4().hex[:8]
    with live_db.unblock():
        probe = CatalogModel.objects.create(
            provider=Provider.objects.get(slug="deepseek"),
            upstream_id=f"beat-probe-{tag}",
            public_id=f"deepseek/beat-probe-{tag}",
            display_name="beat probe",
            context_window=64_000,
            max_output_tokens=4_096,
            input_price_usd_micro_per_mtok=1_000_000,
            output_price_usd_micro_per_mtok=2_000_000,
            enabled=False,
            litellm_id=f"beat-probe-{tag}",
        )
    server = PriceListServer()
    url = server.serve(
        "/prices.json",
        {
            f"beat-probe-{tag}": {
                "litellm_provider": "deepseek",
                "mode": "chat",
                "max_input_tokens": 64000,
                "max_output_tokens": 8192,
                "input_cost_per_token": 1.2e-06,
                "output_cost_per_token": 2.5e-06,
            }
        },
    )
    env = dict(
        os.environ,
        DATABASE_URL=test_database_url,
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="0",
        DJANGO_SETTINGS_MODULE="aipower.settings",
        AIPOWER_PRICE_SYNC_SCHEDULE="1",
        AIPOWER_PRICE_SOURCES=f"litellm={url}",
    )
    worker = celery(
        "worker",
        "--pool",
        "solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
        env=env,
        log_name=f"celery-prices-worker-{tag}.log",
    )
    beat = celery(
        "beat",
        "--schedule",
        str(ROOT / "test-artifacts" / f"celerybeat-prices-{tag}"),
        "--loglevel",
        "INFO",
        env=env,
        log_name=f"celery-prices-beat-{tag}.log",
    )
    try:
        deadline = time.monotonic() + 90
        runs = []
        while time.monotonic() < deadline and len(runs) < 2:
            assert worker.poll() is None and beat.poll() is None, "the worker or beat exited; see test-artifacts"
            with live_db.unblock():
                runs = list(PriceSyncRun.objects.filter(url=url, finished_at__isnull=False).order_by("id"))
            time.sleep(0.2)
    finally:
        for proc in (beat, worker):
            proc.terminate()
        for proc in (beat, worker):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        server.stop()
    assert len(runs) >= 2, "the schedule did not run the sync twice within 90 s"
    first, second = runs[0], runs[1]
    assert (first.trigger, first.ok, first.applied, first.entries) == ("schedule", True, 1, 1)
    assert (second.ok, second.applied, second.held) == (True, 0, 0)  # nothing left to change
    assert server.hits.count("/prices.json") >= 2
    with live_db.unblock():
        probe.refresh_from_db()
        assert (
            probe.input_price_usd_micro_per_mtok,
            probe.output_price_usd_micro_per_mtok,
            probe.max_output_tokens,
        ) == (1_200_000, 2_500_000, 8_192)
        assert probe.enabled is False
        version = PriceVersion.objects.filter(model=probe).latest("id")
        assert (version.source, version.input_price_usd_micro_per_mtok) == ("sync", 1_200_000)
