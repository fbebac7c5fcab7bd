"""Per-key rate limits (GCRA) have two implementations, a Redis Lua script shared by every gateway
process and an in-process twin for the embedded default; the same rules run on both here, on a
clock of the test's own."""

import os
import uuid
from types import SimpleNamespace

import pytest

from routing import limits
from tests.twins import redis_halves

pytestmark = pytest.mark.twins


@pytest.fixture(params=redis_halves())
def store(request, settings, monkeypatch):
    """The limits' store, and a clock the test moves: `store.advance(seconds)`."""
    if request.param == "redis":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("no Redis here (REDIS_URL is not set)")
        settings.REDIS_URL = os.environ["REDIS_URL"]
    else:
        settings.REDIS_URL = ""
    clock = {"now": 1_800_000_000.0}
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: clock["now"]))
    local = {}
    monkeypatch.setattr(limits, "_local", local)

    def advance(seconds: float) -> None:
        clock["now"] += seconds

    yield SimpleNamespace(kind=request.param, advance=advance, local=local)


def key_id() -> int:
    return uuid.uuid4().int % 10**12  # a key no other test uses, in a shared Redis


async def test_it_admits_a_burst_of_the_limit_then_one_per_interval(store):
    key = key_id()
    for _ in range(3):
        assert await limits.admit(key, 3, None) is None
    which, wait = await limits.admit(key, 3, None)
    assert which == "requests" and 19.9 <= wait <= 20.1  # 3 a minute: one every 20 s
    store.advance(10)
    which, wait = await limits.admit(key, 3, None)
    assert which == "requests" and 9.9 <= wait <= 10.1
    store.advance(10)
    assert await limits.admit(key, 3, None) is None
    assert (await limits.admit(key, 3, None))[0] == "requests"


async def test_a_refused_request_is_not_charged(store):
    key = key_id()
    for _ in range(2):
        assert await limits.admit(key, 2, None) is None
    for _ in range(5):  # refusals do not push the next admission further away
        assert (await limits.admit(key, 2, None))[0] == "requests"
    store.advance(30)
    assert await limits.admit(key, 2, None) is None


async def test_tokens_are_counted_afterwards_and_a_key_in_debt_waits(store):
    key = key_id()
    assert await limits.admit(key, None, 1000) is None  # not in debt: admitted, whatever its size
    await limits.spend_tokens(key, 1000, 1500)  # 1,500 tokens against 1,000 a minute
    which, wait = await limits.admit(key, None, 1000)
    assert which == "tokens" and 29.9 <= wait <= 30.1  # the bucket holds a minute; 500 over = 30 s
    store.advance(30.1)
    assert await limits.admit(key, None, 1000) is None


async def test_both_limits_apply_and_keys_are_independent(store):
    key, other = key_id(), key_id()
    await limits.spend_tokens(key, 100, 500)
    assert (await limits.admit(key, 100, 100))[0] == "tokens"
    assert await limits.admit(other, 100, 100) is None
    assert await limits.admit(key, 100, None) is None  # the request limit alone still admits it


async def test_it_uses_the_store_it_is_meant_to(store):
    key = key_id()
    assert await limits.admit(key, 5, None) is None
    assert (f"r:{key}" in store.local) is (store.kind == "in_process")


async def test_it_describes_each_limit_in_openais_headers(store):
    key = key_id()
    seen = []
    for _ in range(4):
        headers: dict = {}
        await limits.admit(key, 3, 1000, headers)
        seen.append(headers)
    # 3 a minute: each admitted request takes 20 s of a one-minute bucket.
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["2", "1", "0", "0"]
    assert [h["x-ratelimit-reset-requests"] for h in seen] == ["20s", "40s", "1m0s", "1m0s"]
    assert seen[0]["x-ratelimit-limit-requests"] == "3" and seen[0]["x-ratelimit-limit-tokens"] == "1000"
    assert seen[0]["x-ratelimit-remaining-tokens"] == "1000" and seen[0]["x-ratelimit-reset-tokens"] == "0ms"

    await limits.spend_tokens(key, 1000, 1500)  # 1,500 tokens against 1,000 a minute: 90 s of bucket
    store.advance(20)
    headers = {}
    assert (await limits.admit(key, 3, 1000, headers))[0] == "tokens"
    assert headers["x-ratelimit-remaining-tokens"] == "0" and headers["x-ratelimit-reset-tokens"] == "1m10s"
    assert "x-ratelimit-remaining-requests" not in headers  # refused on tokens: no request used up
    store.advance(40.5)
    headers = {}
    assert await limits.admit(key, 3, 1000, headers) is None
    assert headers["x-ratelimit-remaining-tokens"] == "508" and headers["x-ratelimit-reset-tokens"] == "29.5s"
    assert headers["x-ratelimit-remaining-requests"] == "2" and headers["x-ratelimit-reset-requests"] == "20s"


def test_durations_are_written_as_openai_writes_them():
    assert [limits.duration_text(ms) for ms in (0, 20, 999, 1000, 1500, 59_999, 60_000, 90_500, 360_000)] == [
        "0ms",
        "20ms",
        "999ms",
        "1s",
        "1.5s",
        "59.999s",
        "1m0s",
        "1m30.5s",
        "6m0s",
    ]


def test_durations_read_back():
    for ms in (0, 20, 999, 1000, 1500, 59_999, 60_000, 90_500, 360_000):
        assert limits.duration_ms(limits.duration_text(ms)) == ms
    for bad in ("", "1h", "s", "5 s"):
        with pytest.raises(ValueError):
            limits.duration_ms(bad)


def test_anthropics_headers_say_when_the_bucket_is_full_as_a_time():
    now = 1_800_000_000.25  # 2027-01-15T08:00:00.25Z
    openai_style = {
        "x-request-id": "r1",
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "40s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "508",
        "x-ratelimit-reset-tokens": "29.5s",
    }
    assert limits.as_anthropic(openai_style, now) == {
        "x-request-id": "r1",
        "anthropic-ratelimit-requests-limit": "3",
        "anthropic-ratelimit-requests-remaining": "1",
        "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:41Z",  # 40.25 s on, rounded up
        "anthropic-ratelimit-tokens-limit": "1000",
        "anthropic-ratelimit-tokens-remaining": "508",
        "anthropic-ratelimit-tokens-reset": "2027-01-15T08:00:30Z",
    }
    only_requests = {k: v for k, v in openai_style.items() if "tokens" not in k}
    assert set(limits.as_anthropic(only_requests, now)) == {
        "x-request-id",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
    }
    plain = {"x-request-id": "r2"}
    assert limits.as_anthropic(plain, now) is plain
