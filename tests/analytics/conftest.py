"""Analytics fixtures: usage rows written straight to the database, as the gateway writes them."""

import random
import uuid
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
