"""Upstream timeouts (connect, first byte, idle between chunks, total), from the environment's
defaults and per provider, through a gateway of the test's own, the openai SDK and the simulator.

A timeout before the answer's first token fails over (invisibly); one after it ends the stream
with an error event and no [DONE]. Breakers stay shut here, so that timing out again and again
never turns into skipping.
"""

import json
import socket
import time
from contextlib import contextmanager

import openai
import pytest

from tests.servers import free_port

HELLO = [{"role": "user", "content": "Say something long enough to stream."}]
NO_BREAKERS = {
    "AIPOWER_BREAKER_CONSECUTIVE_FAILURES": 1_000_000,
    "AIPOWER_BREAKER_FAILURE_RATIO": 2,
    "AIPOWER_RETRY_BUDGET_RESERVE": 1_000_000,
}
# Streams whose content chunks come 1.25 s apart, the first one at once.
PACED = {"x-sim-ttft-ms": "0", "x-sim-chunks": "5", "x-sim-stream-ms": "5000"}


def sdk(gw, tenant):
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0, timeout=30)


def complete(client, headers, model="deepseek/deepseek-chat"):
    """(reply, response headers, seconds) of a whole answer."""
    t = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HELLO, extra_headers=headers)
    return raw.parse(), raw.headers, time.monotonic() - t


def stream(client, headers, model="deepseek/deepseek-chat"):
    """(events as sent: parsed JSON or "[DONE]", response headers, seconds) of a stream."""
    t = time.monotonic()
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=HELLO, stream=True, extra_headers=headers
    ) as raw:
        events = [
            line[6:] if line[6:] == "[DONE]" else json.loads(line[6:])
            for line in raw.iter_lines()
            if line.startswith("data: ")
        ]
        return events, raw.headers, time.monotonic() - t


def content_chunks(events):
    return [e for e in events if isinstance(e, dict) and e.get("choices") and e["choices"][0]["delta"].get("content")]


def served(result):
    """Model names of a whole answer or of a stream's events."""
    if isinstance(result, list):
        return {e["model"] for e in result if isinstance(e, dict) and "model" in e}
    return {result.model}


def exhausted(client, call, headers, usage):
    """Runs a request whose every attempt fails: (seconds until the 502, the attempt log)."""
    t = time.monotonic()
    with pytest.raises(openai.APIStatusError) as exc:
        call(client, headers)
    seconds = time.monotonic() - t
    response = exc.value.response
    assert response.status_code == 502 and response.headers["x-aipower-attempts"] == "3"
    [row] = usage(response.headers["x-request-id"])
    return seconds, row.attempt_log


def assert_cut_after_content(events):
    assert content_chunks(events), "the stream must have started"
    assert "[DONE]" not in events
    assert events[-1]["error"]["code"] == "upstream_stream_error"


def test_a_slow_or_hanging_first_byte_fails_over_after_the_first_byte_timeout(own_gateways, tenant, usage):
    gw = own_gateways(AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT=0.5, **NO_BREAKERS)
    with sdk(gw, tenant) as client:
        for spec in ("slow-first-byte:3000", "hang"):
            for call in (complete, stream):
                result, headers, seconds = call(client, {"x-sim-fault": f"deepseek={spec}"})
                assert served(result) == {"qwen/qwen-plus"}, (spec, call.__name__)
                assert headers["x-aipower-attempts"] == "2"
                assert seconds < 2.0, (spec, call.__name__, seconds)
                [row] = usage(headers["x-request-id"])
                first = row.attempt_log[0]
                assert (first["provider"], first["status"], first["error"]) == ("deepseek", "error", "timeout")
                assert 400 <= first["ms"] < 1500, first


def test_a_streams_first_byte_timeout_runs_until_its_first_token(own_gateways, tenant, usage):
    # Every provider answers at once but sends its first token only after 3 s.
    gw = own_gateways(AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT=0.5, **NO_BREAKERS)
    with sdk(gw, tenant) as client:
        seconds, log = exhausted(client, stream, {"x-sim-ttft-ms": "3000"}, usage)
    assert seconds < 2.5
    assert [a["error"] for a in log] == ["timeout"] * 3


def test_a_pause_between_chunks_past_the_idle_timeout_ends_the_stream(own_gateways, tenant, usage):
    gw = own_gateways(AIPOWER_UPSTREAM_IDLE_TIMEOUT=0.3, **NO_BREAKERS)
    with sdk(gw, tenant) as client:
        events, headers, seconds = stream(client, PACED)
    assert_cut_after_content(events)
    assert len(content_chunks(events)) == 1  # the second chunk was 1.25 s away
    assert served(events[:-1]) == {"deepseek/deepseek-chat"}
    assert seconds < 1.2
    [row] = usage(headers["x-request-id"])
    assert row.status == "stream_interrupted" and row.attempts == 1
    assert row.attempt_log[0]["error"] in ("timeout", "stream")


def test_a_streams_first_token_may_take_longer_than_the_idle_timeout(own_gateways, tenant):
    gw = own_gateways(AIPOWER_UPSTREAM_IDLE_TIMEOUT=0.5, AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT=5, **NO_BREAKERS)
    with sdk(gw, tenant) as client:
        events, headers, _ = stream(client, {"x-sim-ttft-ms": "1500"})
    assert events[-1] == "[DONE]" and headers["x-aipower-attempts"] == "1"


def test_the_total_timeout_ends_a_long_stream_and_fails_over_a_slow_answer(own_gateways, tenant, usage):
    gw = own_gateways(AIPOWER_UPSTREAM_TOTAL_TIMEOUT=1, **NO_BREAKERS)
    with sdk(gw, tenant) as client:
        # Ten chunks over 4 s, none more than 0.45 s apart: only the total limit can cut it.
        events, headers, seconds = stream(
            client, {"x-sim-ttft-ms": "0", "x-sim-chunks": "10", "x-sim-stream-ms": "4000"}
        )
        assert_cut_after_content(events)
        assert 1 <= len(content_chunks(events)) < 10
        assert 0.9 < seconds < 2.0
        [row] = usage(headers["x-request-id"])
        assert row.status == "stream_interrupted" and row.attempt_log[0]["error"] == "timeout"

        reply, headers, seconds = complete(client, {"x-sim-fault": "deepseek=slow-first-byte:3000"})
        assert reply.model == "qwen/qwen-plus" and seconds < 2.0
        [row] = usage(headers["x-request-id"])
        assert row.attempt_log[0]["error"] == "timeout" and 900 <= row.attempt_log[0]["ms"] < 1500


def test_a_refused_connection_fails_over_at_once(own_gateways, tenant, usage):
    gw = own_gateways(AIPOWER_SIMULATOR_URL=f"http://127.0.0.1:{free_port()}", **NO_BREAKERS)
    with sdk(gw, tenant) as client:
        seconds, log = exhausted(client, complete, {}, usage)
    assert seconds < 1.0
    errors = [a["error"] for a in log]
    assert errors == ["connect"] * 3


@contextmanager
def unanswered_port():
    """A port whose connections never complete: its listener's backlog is full, so the kernel
    drops further SYNs, as with an upstream behind a black-holing firewall."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    try:
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.parametrize("call", [complete, stream], ids=["whole", "stream"])
def test_the_connect_timeout_bounds_a_connection_that_never_completes(own_gateways, tenant, usage, call):
    with unanswered_port() as port:
        gw = own_gateways(
            AIPOWER_SIMULATOR_URL=f"http://127.0.0.1:{port}", AIPOWER_UPSTREAM_CONNECT_TIMEOUT=0.4, **NO_BREAKERS
        )
        with sdk(gw, tenant) as client:
            seconds, log = exhausted(client, call, {}, usage)
    assert seconds < 2.5  # three attempts of 0.4 s; the default (5 s) would take 15 s
    assert [a["error"] for a in log] == ["timeout"] * 3
    assert all(300 <= a["ms"] < 1000 for a in log), log


@contextmanager
def provider_timeouts(live_db, slug, **timeouts):
    """Sets a provider's own timeouts in the catalog, and puts the old values back afterwards."""
    from routing.models import Provider

    fields = list(timeouts)
    with live_db.unblock():
        provider = Provider.objects.get(slug=slug)
        old = {f: getattr(provider, f) for f in fields}
        Provider.objects.filter(pk=provider.pk).update(**timeouts)
    try:
        yield
    finally:
        with live_db.unblock():
            Provider.objects.filter(pk=provider.pk).update(**old)


def wait_for_catalog(gw, tenant):
    """The gateway reloads its catalog in the background once a request finds it older than
    AIPOWER_CATALOG_CACHE_SECONDS (0.2 here): let it age, ask, and give the reload a moment."""
    time.sleep(0.3)
    with sdk(gw, tenant) as client:
        client.models.list()
    time.sleep(0.5)


def test_a_providers_own_timeouts_win_over_the_defaults(own_gateways, tenant, usage, live_db):
    gw = own_gateways(
        AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT=10,
        AIPOWER_UPSTREAM_IDLE_TIMEOUT=30,
        AIPOWER_CATALOG_CACHE_SECONDS=0.2,
        **NO_BREAKERS,
    )
    slow = {"x-sim-fault": "deepseek=slow-first-byte:1500;qwen=slow-first-byte:1500"}
    paced = {"x-sim-ttft-ms": "0", "x-sim-chunks": "3", "x-sim-stream-ms": "2000"}  # 1 s between chunks
    with sdk(gw, tenant) as client:
        # The defaults: both are merely slow.
        assert complete(client, slow)[0].model == "deepseek/deepseek-chat"
        assert stream(client, paced)[0][-1] == "[DONE]"

        with provider_timeouts(live_db, "deepseek", first_byte_timeout_s=0.5, idle_timeout_s=0.3):
            wait_for_catalog(gw, tenant)
            reply, headers, seconds = complete(client, slow)
            assert reply.model == "qwen/qwen-plus"  # deepseek's 0.5 s, then qwen's default 10 s
            assert 1.9 < seconds < 3.5
            [row] = usage(headers["x-request-id"])
            assert row.attempt_log[0]["error"] == "timeout" and row.attempt_log[0]["ms"] < 1400

            events, headers, seconds = stream(client, paced)
            assert_cut_after_content(events)
            assert seconds < 1.0
            events, _, _ = stream(client, paced, model="qwen/qwen-plus")  # qwen keeps the default
            assert events[-1] == "[DONE]" and len(content_chunks(events)) == 3
        wait_for_catalog(gw, tenant)
        assert complete(client, slow)[0].model == "deepseek/deepseek-chat"
