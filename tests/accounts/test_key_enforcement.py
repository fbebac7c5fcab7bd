"""A key's allow-list, rate limits and revocation, enforced by the gateway on every process."""

import math
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from accounts.keys import apikey_revoke
from accounts.models import ApiKey

HELLO = [{"role": "user", "content": "hi"}]


def set_key(live_db, key_id, **fields):
    with live_db.unblock():
        ApiKey.objects.filter(pk=key_id).update(**fields)


def post(gw, key, model="auto", **headers):
    return httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": model, "messages": HELLO},
        headers={"authorization": f"Bearer {key}", **headers},
        timeout=10,
    )


def test_the_allow_list_holds_through_routes_and_failover(gateway, tenant, live_db, sim):
    set_key(live_db, tenant.key_id, allowed_models=["auto-cheap"])
    assert post(gateway, tenant.key, "auto-cheap").json()["model"] == "qwen/qwen-turbo"
    for name in ("auto-best", "anthropic/claude-opus-4.6", "auto"):
        resp = post(gateway, tenant.key, name)
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "model_not_allowed"
    # Every target of auto-cheap down: the family chains would reach qwen-plus and gpt-4o-mini,
    # which this key may not use, so the request fails instead.
    before = sim.stats()["models"]
    resp = post(
        gateway,
        tenant.key,
        "auto-cheap",
        **{"x-sim-fault": "bytedance=status:503;qwen=status:503;deepseek=status:503;google=status:503"},
    )
    assert resp.status_code == 502
    after = sim.stats()["models"]
    for premium in ("qwen-plus", "gpt-4o-mini", "claude-sonnet-4-20250514"):
        assert after.get(premium, 0) == before.get(premium, 0)


def test_an_allowed_model_can_be_pinned(gateway, tenant, live_db):
    set_key(live_db, tenant.key_id, allowed_models=["deepseek/deepseek-chat"])
    assert post(gateway, tenant.key, "deepseek/deepseek-chat").status_code == 200
    assert post(gateway, tenant.key, "deepseek-chat").status_code == 200
    assert post(gateway, tenant.key, "qwen/qwen-plus").status_code == 403


def test_rate_limits_hold_across_two_processes(own_gateways, tenant, other_tenant, live_db):
    limit = 12
    set_key(live_db, tenant.key_id, rpm_limit=limit)
    a, b = own_gateways(), own_gateways()
    started = time.monotonic()

    def one(i):
        return post((a, b)[i % 2], tenant.key)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(one, range(4 * limit)))
    elapsed = time.monotonic() - started
    accepted = [r for r in replies if r.status_code == 200]
    limited = [r for r in replies if r.status_code == 429]
    assert len(accepted) + len(limited) == len(replies)
    # The burst (the limit) plus what refills while the test runs.
    assert limit <= len(accepted) <= limit + math.ceil(limit * elapsed / 60)
    err = limited[0].json()["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "requests"
    assert int(limited[0].headers["retry-after"]) >= 1
    # OpenAI's headers, from the bucket both processes share.
    assert {r.headers["x-ratelimit-limit-requests"] for r in replies} == {str(limit)}
    assert {r.headers["x-ratelimit-remaining-requests"] for r in limited} == {"0"}
    left = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in accepted)
    assert left[0] == 0 and left[-1] >= limit - 3 and len(set(left)) >= limit // 2
    # Another key is not affected.
    assert post(a, other_tenant.key).status_code == 200


def test_a_token_limit_stops_a_key_in_token_debt(own_gateways, tenant, live_db):
    set_key(live_db, tenant.key_id, tpm_limit=100)
    gw = own_gateways()
    first = post(gw, tenant.key, **{"x-sim-output-tokens": "400"})
    assert first.status_code == 200
    time.sleep(0.3)  # its tokens are counted just after it ends
    second = post(gw, tenant.key)
    assert second.status_code == 429 and second.json()["error"]["type"] == "tokens"


def test_a_key_with_limits_gets_openais_rate_limit_headers_on_every_endpoint(gateway, tenant, live_db):
    import openai

    set_key(live_db, tenant.key_id, rpm_limit=60, tpm_limit=100_000)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0)
    chat = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    emb = client.embeddings.with_raw_response.create(model="openai/text-embedding-3-small", input="hi")
    for raw, remaining in ((chat, 59), (emb, 58)):
        h = raw.headers
        assert h["x-ratelimit-limit-requests"] == "60" and h["x-ratelimit-limit-tokens"] == "100000"
        # One request a second refills: the remaining count is this call's, give or take a refill.
        assert int(h["x-ratelimit-remaining-requests"]) in (remaining, remaining + 1)
        assert h["x-ratelimit-reset-requests"].endswith("s") and int(h["x-ratelimit-remaining-tokens"]) <= 100_000
    set_key(live_db, tenant.key_id, rpm_limit=None, tpm_limit=None)
    time.sleep(2.1)  # keys are re-read within 2 s
    plain = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert not any(name.startswith("x-ratelimit-") for name in plain.headers)


def test_a_revoked_key_stops_on_every_process_within_5_seconds(own_gateways, tenant, live_db):
    a, b = own_gateways(), own_gateways()
    assert post(a, tenant.key).status_code == 200 and post(b, tenant.key).status_code == 200
    with live_db.unblock():
        apikey_revoke(key=ApiKey.objects.get(pk=tenant.key_id))
    revoked_at = time.monotonic()
    pending = {a.url: a, b.url: b}
    while pending:
        for url, gw in list(pending.items()):
            if post(gw, tenant.key).status_code == 401:
                del pending[url]
        assert time.monotonic() - revoked_at < 5, f"still accepted by {list(pending)} after 5 s"
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def _no_limits_leak(tenant, live_db):
    yield
    set_key(live_db, tenant.key_id, allowed_models=[], rpm_limit=None, tpm_limit=None)


def test_the_messages_api_speaks_anthropics_rate_limit_headers(gateway, tenant, live_db):
    """Through the anthropic SDK: Anthropic's anthropic-ratelimit-* headers (the reset a time),
    none of OpenAI's, a rate_limit_error with retry-after once the key is over, and the request id
    where the SDK reads it."""
    import datetime

    import anthropic

    set_key(live_db, tenant.key_id, rpm_limit=2, tpm_limit=100_000)
    hello = [{"role": "user", "content": "hi"}]
    with anthropic.Anthropic(base_url=gateway.url, api_key=tenant.key, max_retries=0, timeout=30) as client:
        before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        raw = client.messages.with_raw_response.create(model="auto", max_tokens=64, messages=hello)
        h = raw.headers
        assert h["anthropic-ratelimit-requests-limit"] == "2" and h["anthropic-ratelimit-requests-remaining"] == "1"
        assert h["anthropic-ratelimit-tokens-limit"] == "100000"
        assert int(h["anthropic-ratelimit-tokens-remaining"]) <= 100_000
        reset = datetime.datetime.fromisoformat(h["anthropic-ratelimit-requests-reset"])
        # One request of two a minute: the bucket is full again 30 s on (whole seconds, rounded up).
        assert before + datetime.timedelta(seconds=30) <= reset <= before + datetime.timedelta(seconds=32)
        assert h["anthropic-ratelimit-requests-reset"].endswith("Z")
        assert not any(name.startswith("x-ratelimit-") for name in h)
        assert raw.request_id == h["x-request-id"] and raw.parse().id

        with client.messages.with_streaming_response.create(
            model="auto", max_tokens=64, messages=hello, stream=True
        ) as stream:
            assert stream.headers["anthropic-ratelimit-requests-remaining"] == "0"
            assert "event: message_stop" in stream.read().decode()

        with pytest.raises(anthropic.RateLimitError) as refused:
            client.messages.create(model="auto", max_tokens=64, messages=hello)
    err = refused.value
    assert err.body["type"] == "error" and err.body["error"]["type"] == "rate_limit_error"
    assert int(err.response.headers["retry-after"]) >= 1
    assert err.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert not any(name.startswith("x-ratelimit-") for name in err.response.headers)
