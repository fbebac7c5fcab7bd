"""`python -m bench.analytics [--rows N] [--samples N]`: the analytics dashboard at size.

Seeds one organization with N usage rows (5 million by default) over the last 30 days, in bulk
with PostgreSQL's generate_series, 200,000 of them in one busy hour three days ago; rolls
everything up; then measures, in this process (server time: Django's handler, queries and
templates, no network):
  - the rollup of the busy hour (< 10 s),
  - /dashboard/analytics and GET /api/usage/ for 30 days (and 7 days, 24 hours): p95 <= 300 ms,
  - the request log's first page (page and API): < 100 ms.
Results go to bench/results/analytics.json and analytics.md; exits non-zero when a target is missed.
PostgreSQL is private to the run (scripts/services.sh, like `make bench`) and removed afterwards.
"""

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from .report import at_most, failed, markdown, percentile, table
from .stack import ROOT, Stack

RESULTS = ROOT / "bench" / "results"
BUSY_ROWS = 200_000

# (route, served model, provider, weight): the traffic mix of the seeded organization.
MIX = [
    ("auto", "deepseek/deepseek-chat", "deepseek", 30),
    ("auto", "qwen/qwen-plus", "qwen", 5),
    ("auto-cheap", "bytedance/doubao-pro-256k", "bytedance", 20),
    ("auto-fast", "qwen/qwen-turbo", "qwen", 10),
    ("auto-code", "anthropic/claude-sonnet-4", "anthropic", 15),
    ("auto-best", "anthropic/claude-opus-4.6", "anthropic", 5),
    ("auto-free", "zhipu/glm-4-flash", "zhipu", 5),
    ("", "openai/gpt-4.1", "openai", 10),
]
KEYS = 5


def log(msg: str) -> None:
    print(msg, flush=True)


def _seed_sql(n: int, start_expr: str, span_expr: str) -> str:
    """One INSERT ... SELECT generating n rows spread evenly over [start, start + span)."""
    slots = []
    for route, model, provider, weight in MIX:
        slots += [(route, model, provider)] * weight
    routes = "ARRAY[" + ",".join(f"'{r}'" for r, _, _ in slots) + "]"
    models = "ARRAY[" + ",".join(f"'{m}'" for _, m, _ in slots) + "]"
    providers = "ARRAY[" + ",".join(f"'{p}'" for _, _, p in slots) + "]"
    k = len(slots)
    return f"""
    INSERT INTO analytics_usagerecord (organization_id, api_key_id, request_id, created_at, requested_model, route,
        served_model, provider, attempts, attempt_log, stream, prompt_tokens, completion_tokens, cached_tokens,
        cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, usage_estimated, upstream_cost_nusd, charged_nusd,
        latency_ms, ttft_ms, status, http_status, error_type, markup_bp, route_tier, route_reason)
    SELECT %(org)s, (%(keys)s)[1 + (i / 7) %% {KEYS}], %(prefix)s || i,
        {start_expr} + ({span_expr}) * (i::float8 / %(n)s),
        coalesce(nullif(({routes})[1 + s], ''), ({models})[1 + s]),
        ({routes})[1 + s], ({models})[1 + s], ({providers})[1 + s],
        CASE WHEN (i / 11) %% 50 = 0 THEN 2 ELSE 1 END, '[]'::jsonb, i %% 3 = 0,
        200 + (i * 7919) %% 3000, 20 + (i * 104729) %% 800, CASE WHEN i %% 4 = 0 THEN (i * 31) %% 1000 ELSE 0 END,
        CASE WHEN i %% 10 = 0 THEN 100 ELSE 0 END, 0, 0, false,
        1000 + (i * 15485863) %% 2000000, 1150 + (i * 15485863) %% 2300000,
        40 + (i * 2654435761) %% 4000, CASE WHEN i %% 3 = 0 THEN 20 + (i * 40503) %% 900 END,
        CASE WHEN e %% 100 = 7 THEN 'upstream_error' WHEN e %% 200 = 11 THEN 'client_error'
             WHEN e %% 500 = 13 THEN 'stream_interrupted' ELSE 'ok' END,
        CASE WHEN e %% 100 = 7 THEN 502 WHEN e %% 200 = 11 THEN 400 ELSE 200 END,
        CASE WHEN e %% 100 = 7 THEN 'upstream_unavailable' WHEN e %% 200 = 11 THEN 'invalid_request_error'
             WHEN e %% 500 = 13 THEN 'timeout' ELSE '' END,
        1500, '', ''
    FROM generate_series(1::bigint, %(n)s::bigint) AS i, LATERAL (SELECT ((i * 2654435761) %% {k})::int AS s,
                                                     ((i / 3) %% 1000)::int AS e) AS pick
    """


def seed(org_id: int, key_ids: list[int], rows: int) -> None:
    from django.db import connection

    background = rows - BUSY_ROWS
    chunk = 500_000
    with connection.cursor() as cur:
        done = 0
        while done < background:
            n = min(chunk, background - done)
            # Each chunk covers its share of the 30 days, so created_at keeps rising with the id.
            cur.execute(
                _seed_sql(
                    n,
                    f"now() - interval '30 days' + interval '30 days' * {done / background}",
                    f"interval '30 days' * {n / background}",
                ),
                {"org": org_id, "keys": key_ids, "prefix": f"req_bench{done}_", "n": n},
            )
            done += n
            log(f"  {done:,} rows")
        cur.execute(
            _seed_sql(BUSY_ROWS, "date_trunc('hour', now() - interval '3 days')", "interval '1 hour'"),
            {"org": org_id, "keys": key_ids, "prefix": "req_busy_", "n": BUSY_ROWS},
        )
        cur.execute("ANALYZE analytics_usagerecord")


def timed(fn, samples: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def profile(measures, get) -> None:
    """One request of each measure, with the time of each SQL query it ran."""
    from django.db import connection

    for _, name, path, params, _ in measures:
        spent = []

        def wrapper(execute, sql, params_, many, context, spent=spent):
            t = time.perf_counter()
            try:
                return execute(sql, params_, many, context)
            finally:
                spent.append((time.perf_counter() - t, sql))

        t = time.perf_counter()
        with connection.execute_wrapper(wrapper):
            get(path, params)()
        total = time.perf_counter() - t
        log(f"{name}: {total * 1000:.1f} ms, {len(spent)} queries, {sum(s for s, _ in spent) * 1000:.1f} ms in SQL")
        for s, sql in sorted(spent, reverse=True)[:4]:
            log(f"    {s * 1000:7.1f} ms  {sql[:160]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="print each query's time for one request of each")
    args = parser.parse_args(argv)

    stack = Stack(gateway_core=0, load_core=1, log=log)
    try:
        log("Starting PostgreSQL and Redis")
        stack.start_services()
        stack.manage("migrate", "--noinput", "-v", "0")
        stack.manage("load_catalog")
        os.environ.update(
            DATABASE_URL=stack.database_url,
            REDIS_URL=stack.redis_url,
            DJANGO_SETTINGS_MODULE="aipower.settings",
            DEBUG="0",
            LOG_LEVEL="ERROR",
            ALLOWED_HOSTS="testserver",
            SECURE_COOKIES="0",
        )
        import django

        django.setup()
        from accounts.scoping import scopes_disabled

        with scopes_disabled():  # the operator's seeding and rollups; each page enters its own scope
            return run(args, stack)
    finally:
        stack.stop()


def run(args, stack) -> int:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from accounts.keys import apikey_create
    from accounts.orgs import organization_create
    from analytics.models import UsageRollup
    from analytics.rollups import hour_floor, rollup_due, rollup_hour

    owner = get_user_model().objects.create_user(username="bench@example.com", email="bench@example.com")
    org = organization_create(name="Bench", owner=owner)
    key_ids = [apikey_create(organization=org, name=f"key {i}")[0].pk for i in range(KEYS)]

    log(f"Seeding {args.rows:,} usage rows over 30 days ({BUSY_ROWS:,} in one busy hour)")
    t = time.perf_counter()
    seed(org.pk, key_ids, args.rows)
    seed_s = time.perf_counter() - t
    log(f"  seeded in {seed_s:.1f} s")

    log("Rolling up every hour (the first run of the Celery task on this data)")
    t = time.perf_counter()
    hours = rollup_due()
    full_s = time.perf_counter() - t
    with connection.cursor() as cur:
        cur.execute("ANALYZE analytics_usagerollup")
    log(f"  {len(hours)} hours in {full_s:.1f} s; {UsageRollup.objects.count():,} rollup rows")

    with connection.cursor() as cur:
        cur.execute("SELECT date_trunc('hour', now() - interval '3 days')")
        busy = cur.fetchone()[0]
    busy_runs = []
    for _ in range(3):
        t = time.perf_counter()
        rollup_hour(busy)
        busy_runs.append(time.perf_counter() - t)
    busy_rows = connection.cursor()
    busy_rows.execute(
        "SELECT count(*) FROM analytics_usagerecord WHERE created_at >= %s AND created_at < %s",
        [busy, busy + timedelta(hours=1)],
    )
    busy_count = busy_rows.fetchone()[0]
    log(f"  busy hour ({busy_count:,} rows): {', '.join(f'{s:.2f} s' for s in busy_runs)}")

    client = Client()
    client.force_login(owner)
    token_client = client  # the API accepts the session too

    def get(path, params):
        def call():
            resp = token_client.get(path, params)
            assert resp.status_code == 200, (path, resp.status_code, resp.content[:500])
            if hasattr(resp, "streaming_content"):
                b"".join(resp.streaming_content)

        return call

    measures = [
        ("dash30", "Dashboard page, 30 days", "/dashboard/analytics", {"range": "30d"}, 300),
        ("dash7", "Dashboard page, 7 days", "/dashboard/analytics", {"range": "7d"}, 300),
        ("dash24", "Dashboard page, 24 hours", "/dashboard/analytics", {"range": "24h"}, 300),
        (
            "dash30key",
            "Dashboard page, 30 days, one key",
            "/dashboard/analytics",
            {"range": "30d", "key": key_ids[1]},
            300,
        ),
        ("api30", "GET /api/usage/, 30 days, totals", "/api/usage/", {"range": "30d"}, 300),
        ("api30day", "GET /api/usage/, 30 days, group_by=day", "/api/usage/", {"range": "30d", "group_by": "day"}, 300),
        (
            "api30model",
            "GET /api/usage/, 30 days, group_by=model",
            "/api/usage/",
            {"range": "30d", "group_by": "model"},
            300,
        ),
        (
            "api30hour",
            "GET /api/usage/, 30 days, group_by=hour",
            "/api/usage/",
            {"range": "30d", "group_by": "hour"},
            300,
        ),
        ("log", "Request log, first page (page)", "/dashboard/analytics/requests", {"range": "30d"}, 100),
        ("logapi", "Request log, first page (GET /api/usage/requests/)", "/api/usage/requests/", {"range": "30d"}, 100),
        (
            "logfilter",
            "Request log, first page, filtered by key and status",
            "/dashboard/analytics/requests",
            {"range": "30d", "key": key_ids[2], "status": "upstream_error"},
            100,
        ),
    ]
    if args.profile:
        profile(measures, get)
    checks = [
        at_most("busy_rollup", f"Rollup of one busy hour ({busy_count:,} rows), slowest of 3", max(busy_runs), 10, "s")
    ]
    for ident, name, path, params, limit in measures:
        samples = timed(get(path, params), args.samples)
        p95 = percentile(samples, 95) * 1000
        log(f"  {name}: p50 {percentile(samples, 50) * 1000:.1f} ms, p95 {p95:.1f} ms")
        checks.append(at_most(ident, name + " (p95)", p95, limit, "ms", digits=1))

    rows_now = connection.cursor()
    rows_now.execute(
        "SELECT count(*) FROM analytics_usagerecord WHERE created_at >= %s",
        [hour_floor(__import__("django.utils.timezone", fromlist=["now"]).now())],
    )
    current_hour_rows = rows_now.fetchone()[0]
    load = os.getloadavg()[0]
    conditions = (
        f"Measured by `python -m bench.analytics` on a shared 2-CPU machine (load average {load:.1f} at the end; other "
        f"work on the machine adds noise): {args.rows:,} usage rows of one organization over 30 days (5 keys, 8 "
        f"route/model pairs, 4 statuses), seeded in {seed_s:.0f} s, first full rollup of {len(hours)} hours in "
        f"{full_s:.0f} s; server time in-process (Django handler, queries, templates), {args.samples} samples after "
        f"3 warm-ups. The current hour ({current_hour_rows:,} rows) is read from raw rows, the rest from rollups."
    )
    print()
    print(table(checks))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analytics.json").write_text(
        json.dumps({"conditions": conditions, "checks": [c.as_dict() for c in checks]}, indent=2)
    )
    (RESULTS / "analytics.md").write_text(markdown(checks, conditions))
    missed = failed(checks)
    print(
        f"\n{'All targets met.' if not missed else f'{len(missed)} target(s) missed.'} "
        f"Results: {Path(RESULTS / 'analytics.md').relative_to(ROOT)}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
