"""Analytics fixtures: usage rows written straight to the database, as the gateway writes them."""

import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

# The accounts tests' organizations (a user of every role in each) serve here too.
from tests.accounts.conftest import catalog, fast_password_hashing, org, other_org  # noqa: F401

ROUTES = {
    "auto-best": ["anthropic/claude-opus-4.6", "openai/gpt-4.1"],
    "auto-cheap": ["bytedance/doubao-pro-256k"],
    "": ["deepseek/deepseek-chat"],
}
STATUSES = ["ok"] * 6 + ["upstream_error", "stream_interrupted", "client_disconnected", "client_error"]


def usage_row(organization_id: int, created_at: datetime, **fields):
    from analytics.models import UsageRecord

    row = {
        "organization_id": organization_id,
        "request_id": "req_" + uuid.uuid4().hex[:24],
        "created_at": created_at,
        "requested_model": "auto-best",
        "route": "auto-best",
        "served_model": "anthropic/claude-opus-4.6",
        "provider": "anthropic",
        "attempts": 1,
        "status": "ok",
        "http_status": 200,
        "latency_ms": 500,
        "ttft_ms": 200,
    }
    row.update(fields)
    return UsageRecord(**row)


def random_rows(rng: random.Random, organization_id: int, key_ids: list, start: datetime, hours: int, n: int):
    """n varied usage rows spread over `hours` hours from `start`: routes, models, keys, statuses,
    cached and cache-write tokens, streams cut short (no completion usage, no first token)."""
    rows = []
    for _ in range(n):
        route = rng.choice(list(ROUTES))
        model = rng.choice(ROUTES[route])
        status = rng.choice(STATUSES)
        prompt = rng.randint(0, 5000)
        cached = rng.randint(0, prompt // 2)
        written = rng.randint(0, (prompt - cached) // 2)
        ok_like = status in ("ok", "stream_interrupted", "client_disconnected")
        ttft = rng.choice([None, rng.randint(1, 30000)]) if status != "client_error" else None
        rows.append(
            usage_row(
                organization_id,
                start + timedelta(seconds=rng.randint(0, hours * 3600 - 1)),
                api_key_id=rng.choice(key_ids),
                route=route,
                requested_model=route or model,
                served_model=model,
                provider=model.split("/")[0],
                status=status,
                stream=status == "stream_interrupted",
                prompt_tokens=prompt if ok_like else 0,
                cached_tokens=cached if ok_like else 0,
                cache_write_tokens=written if ok_like else 0,
                cache_write_1h_tokens=rng.randint(0, written) if ok_like else 0,
                completion_tokens=rng.randint(0, 900) if ok_like else 0,
                reasoning_tokens=rng.randint(0, 50),
                upstream_cost_nusd=rng.randint(0, 10**7),
                charged_nusd=rng.randint(0, 10**7),
                attempts=rng.choice([0, 1, 1, 1, 2, 3]),
                latency_ms=rng.choice([0, 25, 26, 90000, 90001, rng.randint(0, 200000)]),
                ttft_ms=ttft,
                error_type="" if status == "ok" else rng.choice(["timeout", "upstream_unavailable", "aborted"]),
            )
        )
    return rows


# The usage row's fields a rollup adds up as they are, then everything a rollup counts.
AS_IS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "upstream_cost_nusd",
    "charged_nusd",
)
COUNTED = ("requests", *AS_IS, "fallbacks", "latency_sum_ms", "ttft_count")


def by_hand(rows, bucket) -> dict:
    """The rollup of `rows`, computed in Python from the rows themselves (not through SQL)."""
    from analytics import metrics
    from analytics.models import LAT_FIELDS, TTFT_FIELDS
    from analytics.rollups import DIMS

    out = defaultdict(lambda: {**dict.fromkeys(COUNTED + LAT_FIELDS + TTFT_FIELDS, 0), "errors": {}})
    for r in rows:
        g = out[(bucket(r.created_at),) + tuple(getattr(r, d) for d in DIMS)]
        g["requests"] += 1
        for f in AS_IS:
            g[f] += getattr(r, f)
        g["fallbacks"] += r.attempts > 1
        g["latency_sum_ms"] += r.latency_ms
        g[LAT_FIELDS[metrics.bucket_of(r.latency_ms)]] += 1
        if r.ttft_ms is not None:
            g["ttft_count"] += 1
            g[TTFT_FIELDS[metrics.bucket_of(r.ttft_ms)]] += 1
        if r.status != "ok":
            g["errors"][r.error_type] = g["errors"].get(r.error_type, 0) + 1
    return {k: dict(v) for k, v in out.items()}


def stored(period: str, org_id: int) -> dict:
    """The rollups of one organization, keyed as by_hand keys them."""
    from analytics.models import LAT_FIELDS, TTFT_FIELDS, UsageRollup
    from analytics.rollups import DIMS

    out = {}
    for r in UsageRollup.objects.filter(period=period, organization_id=org_id).values():
        key = (r["bucket_start"],) + tuple(r[d] for d in DIMS)
        assert key not in out, "one rollup row per group"
        out[key] = {f: r[f] for f in COUNTED + LAT_FIELDS + TTFT_FIELDS} | {"errors": r["errors"]}
    return out


@pytest.fixture
def rng():
    return random.Random(1234)


@pytest.fixture(autouse=True)
def _fresh_rollup_state():
    """Each test reads the rollup state of its own database transaction, not a cached one."""
    from analytics.rollups import forget_rolled_through

    forget_rolled_through()
    yield
    forget_rolled_through()
