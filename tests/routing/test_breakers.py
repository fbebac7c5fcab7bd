"""Circuit breakers and the retry budget, on gateways of the test's own (own Redis database).

The breakers have two implementations, Redis (Lua scripts, shared by every gateway process) and
in-process (the embedded default, and the fallback without Redis): the tests of their rules run
on both (`breaker_gateway`)."""

import os
import time

import openai
import pytest

from tests.twins import redis_halves

HELLO = [{"role": "user", "content": "hi"}]
FAST_BREAKERS = {
    "AIPOWER_BREAKER_CONSECUTIVE_FAILURES": 3,
    "AIPOWER_BREAKER_COOLDOWN_SECONDS": 1.5,
    "AIPOWER_BREAKER_MIN_REQUESTS": 1000,
    "AIPOWER_BREAKER_SYNC_SECONDS": 0.1,
}


@pytest.fixture(params=redis_halves())
def breaker_gateway(request, own_gateways):
    """start(**env) -> a gateway of this test's own whose breakers live in Redis or in the process."""
    if request.param == "redis" and not os.environ.get("REDIS_URL"):
        pytest.skip("no Redis here (REDIS_URL is not set)")

    def start(**env):
        if request.param == "in_process":
            env["REDIS_URL"] = ""
        return own_gateways(**env)

    return start


def sdk(gw, tenant):
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0, timeout=10)


def ask(client, **kw):
    kw.setdefault("model", "deepseek/deepseek-chat")
    raw = client.chat.completions.with_raw_response.create(messages=HELLO, **kw)
    return raw.parse(), raw.headers


@pytest.mark.twins
def test_it_opens_skips_probes_and_closes(breaker_gateway, tenant, sim):
    gw = breaker_gateway(**FAST_BREAKERS)
    with sdk(gw, tenant) as client:
        sim.fault("deepseek", "status:503")
        for _ in range(3):  # three failures in a row open deepseek's breakers
            assert ask(client)[0].model == "qwen/qwen-plus"
        before = sim.hits("deepseek")
        for _ in range(5):  # open: skipped, not tried and failed
            reply, headers = ask(client)
            assert reply.model == "qwen/qwen-plus" and headers["x-aipower-attempts"] == "1"
        assert sim.hits("deepseek") == before
        sim.clear()
        time.sleep(1.7)  # cooldown over: half-open, the next request probes and closes it
        reply, headers = ask(client)
        assert reply.model == "deepseek/deepseek-chat"
        assert ask(client)[0].model == "deepseek/deepseek-chat"


@pytest.mark.twins
def test_a_failed_probe_opens_it_again(breaker_gateway, tenant, sim):
    gw = breaker_gateway(**FAST_BREAKERS)
    with sdk(gw, tenant) as client:
        sim.fault("deepseek", "status:503")
        for _ in range(3):
            ask(client)
        time.sleep(1.7)
        before = sim.hits("deepseek")
        ask(client)  # the probe fails and reopens the breaker
        assert sim.hits("deepseek") == before + 1
        ask(client)
        assert sim.hits("deepseek") == before + 1


def test_two_gateway_processes_share_breakers_through_redis(own_gateways, tenant, sim):
    a, b = own_gateways(**FAST_BREAKERS), own_gateways(**FAST_BREAKERS)
    with sdk(a, tenant) as ca, sdk(b, tenant) as cb:
        ask(cb)  # b is warm and has read the (empty) shared state
        sim.fault("deepseek", "status:503")
        for _ in range(3):
            ask(ca)
        time.sleep(0.3)  # a few of b's sync periods
        before = sim.hits("deepseek")
        reply, headers = ask(cb)
        assert reply.model == "qwen/qwen-plus" and headers["x-aipower-attempts"] == "1"
        assert sim.hits("deepseek") == before


@pytest.mark.twins
def test_retry_after_sets_the_providers_cooldown(breaker_gateway, tenant, sim):
    gw = breaker_gateway(**{**FAST_BREAKERS, "AIPOWER_BREAKER_CONSECUTIVE_FAILURES": 100})
    with sdk(gw, tenant) as client:
        sim.fault("deepseek", "status:429:retry-after=2", count=1)
        assert ask(client)[0].model == "qwen/qwen-plus"
        before = sim.hits("deepseek")
        # Another deepseek model is skipped too: the cooldown is the provider's.
        assert ask(client, model="deepseek/deepseek-reasoner")[0].model != "deepseek/deepseek-reasoner"
        assert sim.hits("deepseek") == before
        time.sleep(2.2)
        assert ask(client)[0].model == "deepseek/deepseek-chat"


@pytest.mark.twins
def test_the_callers_faults_never_count_against_a_provider(breaker_gateway, tenant, sim):
    gw = breaker_gateway(**FAST_BREAKERS)
    with sdk(gw, tenant) as client:
        for _ in range(5):  # the caller's own invalid requests
            with pytest.raises(openai.BadRequestError):
                ask(client, extra_headers={"x-sim-fault": "deepseek=status:400"})
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0, timeout=0.3) as impatient:
            for _ in range(5):  # the caller gives up first
                with pytest.raises(openai.APITimeoutError):
                    ask(impatient, extra_headers={"x-sim-latency-ms": "2000"})
        reply, headers = ask(client)
        assert reply.model == "deepseek/deepseek-chat" and headers["x-aipower-attempts"] == "1"


def test_the_retry_budget_bounds_upstream_attempts(own_gateways, tenant, sim):
    budget = 0.2
    gw = own_gateways(
        AIPOWER_RETRY_BUDGET=budget,
        AIPOWER_RETRY_BUDGET_RESERVE=0,
        AIPOWER_BREAKER_CONSECUTIVE_FAILURES=1_000_000,
        AIPOWER_BREAKER_FAILURE_RATIO=2,
    )
    sim.fault("deepseek", "status:503")
    sim.fault("qwen", "status:503")
    sim.fault("openai", "status:503")
    before = sim.stats()["total"]
    requests = 100
    with sdk(gw, tenant) as client:
        for _ in range(requests):
            with pytest.raises(openai.APIStatusError):
                ask(client, model="auto")
    attempts = sim.stats()["total"] - before
    assert requests < attempts <= (1 + budget) * requests
