"""Redis killed or paused under a running gateway: breakers, half-open probes and rate limits go on
per process within the 100 ms bound, sign-in keeps working, and shared state returns with Redis."""

import time

import openai
import pytest
from django.test import Client, override_settings

from tests.servers import PrivateRedis, start_gateway

HELLO = [{"role": "user", "content": "hi"}]
FAST_BREAKERS = {
    "AIPOWER_BREAKER_CONSECUTIVE_FAILURES": 3,
    "AIPOWER_BREAKER_COOLDOWN_SECONDS": 1.5,
    "AIPOWER_BREAKER_MIN_REQUESTS": 1000,
    "AIPOWER_BREAKER_SYNC_SECONDS": 0.1,
    "AIPOWER_REDIS_PROBE_SECONDS": 0.2,
}


@pytest.fixture
def redis_server(tmp_path):
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def redis_gateway(redis_server, test_database_url, simulator):
    gw = start_gateway(
        database_url=test_database_url, simulator_url=simulator.url, REDIS_URL=redis_server.url, **FAST_BREAKERS
    )
    yield gw
    gw.stop()


def limited_key(live_db, tenant, rpm: int) -> str:
    from accounts.keys import apikey_create

    with live_db.unblock():
        _, raw = apikey_create(organization=tenant.organization, name="limited", rpm_limit=rpm)
    return raw


def timed(client, **kw):
    kw.setdefault("model", "auto")
    t = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(messages=HELLO, **kw)
    return raw.parse(), raw.headers, time.monotonic() - t


def sdk(gw, key):
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=10)


def test_it_keeps_serving_auto_with_an_open_breaker_while_redis_is_dead(redis_gateway, redis_server, tenant, sim):
    with sdk(redis_gateway, tenant.key) as client:
        sim.fault("deepseek", "status:503")
        for _ in range(3):  # deepseek's breakers open, shared through Redis
            assert timed(client)[0].model != "deepseek/deepseek-chat"
        assert redis_server.client().zcard("aip:cb:open") >= 1
        sim.clear()
        redis_server.kill()
        time.sleep(1.7)  # cooldown over: the next request claims the half-open probe, with Redis dead
        latencies = []
        for _ in range(10):
            reply, headers, took = timed(client)
            latencies.append(took)
        # Every request served (no 500), none waiting on Redis past the bound, and the probe closed it.
        assert reply.model == "deepseek/deepseek-chat"
        assert max(latencies) < 1.0, latencies

        # A breaker opens per process while Redis is away...
        sim.fault("deepseek", "status:503")
        for _ in range(3):
            timed(client)
        before = sim.hits("deepseek")
        reply, headers, _ = timed(client)
        assert sim.hits("deepseek") == before and headers["x-aipower-attempts"] == "1"
        sim.clear()

        # ... and is shared with every process once Redis is back.
        redis_server.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not redis_server.client().zcard("aip:cb:open"):
            timed(client)
            time.sleep(0.1)
        assert redis_server.client().zcard("aip:cb:open") >= 1


def test_rate_limited_keys_keep_working_and_limiting_while_redis_is_dead(redis_gateway, redis_server, tenant, live_db):
    roomy, tight = limited_key(live_db, tenant, 1000), limited_key(live_db, tenant, 2)
    with sdk(redis_gateway, roomy) as a, sdk(redis_gateway, tight) as b:
        timed(a)
        redis_server.kill()
        for _ in range(5):
            assert timed(a)[2] < 1.0
        # The limit still holds, in this process: two at once, then 429 with Retry-After.
        timed(b)
        timed(b)
        with pytest.raises(openai.RateLimitError) as exc:
            timed(b)
        assert exc.value.response.headers["retry-after"]

        redis_server.start()
        time.sleep(0.5)  # the gateway's probe finds Redis again
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not redis_server.client().keys("aip:rl:*"):
            timed(a)
            time.sleep(0.1)
        assert redis_server.client().keys("aip:rl:*"), "rate limits did not go back to Redis"


def test_a_paused_redis_costs_at_most_its_time_bound(redis_gateway, redis_server, tenant, live_db, sim):
    key = limited_key(live_db, tenant, 1000)
    with sdk(redis_gateway, key) as client:
        sim.fault("deepseek", "status:503", count=1)  # a failure: the breaker bookkeeping writes to Redis
        timed(client)
        redis_server.pause()
        try:
            latencies = [timed(client)[2] for _ in range(10)]
            # The first request that meets the stalled Redis waits for its 100 ms bound; the rest do not wait.
            assert max(latencies) < 0.6, latencies
            assert sorted(latencies)[5] < 0.2, latencies
        finally:
            redis_server.resume()
        redis_server.client().flushdb()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not redis_server.client().keys("aip:rl:*"):
            timed(client)
            time.sleep(0.1)
        assert redis_server.client().keys("aip:rl:*")


def test_sign_in_works_while_redis_is_dead(db, redis_server):
    from tests.accounts.conftest import PASSWORD, make_user

    caches = {
        "default": {
            "BACKEND": "aipower.cache.ResilientRedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"socket_timeout": 0.1, "socket_connect_timeout": 0.1},
        }
    }
    with override_settings(CACHES=caches):
        user = make_user()
        redis_server.kill()
        web = Client(REMOTE_ADDR="10.9.8.7")
        t = time.monotonic()
        response = web.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.content[:500]
        assert time.monotonic() - t < 2.0
        assert web.get("/keys/").status_code == 200
        # Throttling goes on in this process: repeated failures still lock the account.
        other = make_user()
        for _ in range(5):
            Client(REMOTE_ADDR="10.9.8.8").post("/accounts/login/", {"login": other.email, "password": "wrong"})
        refused = Client(REMOTE_ADDR="10.9.8.9").post("/accounts/login/", {"login": other.email, "password": PASSWORD})
        assert "Too many failed login attempts" in refused.content.decode()
