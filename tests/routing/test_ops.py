"""Bounded and observable: /healthz, /readyz, /metrics (summed over worker processes), limits on a
request's head and on connections, failed authentications limited per client address through
Redis (X-Forwarded-For only from trusted proxies), and a SIGTERM drain with a real signal
(readiness 503 while the process still listens, then requests in flight finish or are cut at the
deadline)."""

import signal
import socket
import threading
import time

import httpx
import orjson

from tests.servers import start_gateway

HELLO = [{"role": "user", "content": "hi"}]
BAD_KEY = "sk-aip-" + "A" * 38


def chat(gw, key, headers=None, **body):
    body = {"model": "deepseek/deepseek-chat", "messages": HELLO, **body}
    return httpx.post(
        gw.url + "/v1/chat/completions",
        json=body,
        timeout=30,
        headers={"authorization": f"Bearer {key}", **(headers or {})},
    )


def stream_into(results: dict, gw, key, headers, started: threading.Event | None = None) -> None:
    """A streamed completion read to its end: its status, request id, data events and the time it
    ended go into `results`; `started` is set at the first event."""
    events = []
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        timeout=30,
        json={"model": "deepseek/deepseek-chat", "messages": HELLO, "stream": True},
        headers={"authorization": f"Bearer {key}", **headers},
    ) as r:
        results["status"], results["stream_id"] = r.status_code, r.headers["x-request-id"]
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                if started is not None:
                    started.set()
    results["events"], results["ended"] = events, time.monotonic()


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_health_readiness_and_metrics(own_gateways, tenant, sim):
    gw = own_gateways(AIPOWER_BREAKER_CONSECUTIVE_FAILURES=1)
    assert httpx.get(gw.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gw.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    assert chat(gw, tenant.key).status_code == 200
    assert chat(gw, tenant.key, stream=True).status_code == 200
    sim.fault("deepseek", "status:503", count=1)
    assert chat(gw, tenant.key).json()["model"] != "deepseek/deepseek-chat"  # a fallback
    time.sleep(0.3)
    text = httpx.get(gw.url + "/metrics").text
    assert metric(text, "aipower_requests_total", status="ok") == 3
    for kind in ("input", "output"):
        assert metric(text, "gen_ai_client_token_usage_total", gen_ai_token_type=kind) > 0
    assert metric(text, "aipower_cost_nusd_total") > 0
    assert metric(text, "gen_ai_client_operation_duration_seconds_count") == 3
    assert metric(text, "gen_ai_server_time_to_first_token_seconds_bucket", le="+Inf") == 3
    assert (
        metric(text, "aipower_upstream_attempts_total", gen_ai_request_model="deepseek/deepseek-chat", outcome="error")
        == 1
    )
    assert metric(text, "aipower_upstream_errors_total", gen_ai_provider_name="deepseek") == 1
    assert metric(text, "aipower_fallbacks_total", from_model="deepseek/deepseek-chat") == 1
    assert metric(text, "aipower_circuit_breaker_state", breaker="p:deepseek") == 2  # open
    assert "aipower_holds_outstanding" in text and "aipower_settlement_backlog" in text


def test_metrics_are_summed_over_worker_processes(test_database_url, simulator, tenant, tmp_path):
    gw = start_gateway(
        database_url=test_database_url,
        simulator_url=simulator.url,
        REDIS_URL="",
        workers=2,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    try:
        for _ in range(12):  # new connections: both workers serve some
            assert chat(gw, tenant.key).status_code == 200
        for _ in range(6):
            text = httpx.get(gw.url + "/metrics", headers={"connection": "close"}).text
            assert metric(text, "aipower_requests_total", status="ok") == 12
        assert len(list(tmp_path.glob("counter_*.db"))) >= 2  # two processes wrote their own values
    finally:
        gw.stop()


def test_a_request_head_over_the_limit_is_refused_before_any_work(own_gateways):
    gw = own_gateways(AIPOWER_MAX_HEADER_BYTES=16384)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-pad: ")
        sent = 0
        try:
            while sent < 50 * 1024 * 1024:  # a 50 MB header: the server stops it long before the end
                s.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:200]
    assert b"headers_too_large" in reply and sent < 50 * 1024 * 1024
    assert httpx.get(gw.url + "/healthz").status_code == 200  # the process is fine


def test_a_whole_request_in_one_read_past_the_head_limit_is_served(gateway, tenant):
    # A small head and a body of 40 kB (a PDF or a second of audio), sent at once: one read holds
    # more than the head limit, all of it a complete request.
    body = orjson.dumps({"model": "deepseek/deepseek-chat", "messages": [{"role": "user", "content": "a" * 40_000}]})
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {tenant.key}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as s:
            s.sendall(head + body)
            reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:300]


def test_connections_per_process_are_capped(own_gateways, tenant):
    gw = own_gateways(AIPOWER_MAX_CONNECTIONS=3)
    slow = [threading.Thread(target=chat, args=(gw, tenant.key, {"x-sim-latency-ms": "2000"})) for _ in range(3)]
    for t in slow:
        t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    r = httpx.get(gw.url + "/healthz")
    assert r.status_code == 503 and time.monotonic() - t0 < 1
    for t in slow:
        t.join()
    assert httpx.get(gw.url + "/healthz").status_code == 200


def test_failed_authentications_are_limited_per_address_across_processes(own_gateways, tenant):
    env = {"AIPOWER_AUTH_FAILURES_PER_MINUTE": 5, "AIPOWER_TRUSTED_PROXIES": "127.0.0.1"}
    a, b = own_gateways(**env), own_gateways(**env)
    attacker = {"x-forwarded-for": "203.0.113.9"}
    for _ in range(3):
        assert chat(a, BAD_KEY, attacker).status_code == 401
    for _ in range(3):  # the count is shared: b has seen only three of the six
        assert chat(b, BAD_KEY, attacker).status_code == 401
    refused = chat(b, BAD_KEY, attacker)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_failed_authentications"
    assert int(refused.headers["retry-after"]) >= 1
    # Valid keys from other addresses are not held up, nor is the address a spoofed header names
    # when it does not come from a trusted proxy.
    t0 = time.monotonic()
    assert chat(b, tenant.key, {"x-forwarded-for": "198.51.100.7"}).status_code == 200
    assert time.monotonic() - t0 < 2
    c = own_gateways(AIPOWER_AUTH_FAILURES_PER_MINUTE=5)  # no trusted proxies: the peer is the client
    for _ in range(5):
        chat(c, BAD_KEY, {"x-forwarded-for": f"192.0.2.{_}"})
    assert chat(c, BAD_KEY, {"x-forwarded-for": "192.0.2.200"}).status_code in (401, 429)
    assert chat(c, BAD_KEY).status_code == 429


def test_sigterm_drains_then_cuts_streams_with_an_error_event_after_recording_them(
    own_gateways, tenant, usage, live_db
):
    from billing.models import LedgerEntry

    gw = own_gateways(AIPOWER_DRAIN_SECONDS=3)
    results = {}

    def short():
        results["short"] = chat(gw, tenant.key, {"x-sim-latency-ms": "1500"})

    long_stream = threading.Thread(
        target=stream_into, args=(results, gw, tenant.key, {"x-sim-chunks": "200", "x-sim-stream-ms": "20000"})
    )
    threads = [threading.Thread(target=short), long_stream]
    for t in threads:
        t.start()
    time.sleep(0.7)
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    # The short request finished inside the drain; the stream was cut at the deadline with an error event.
    assert results["short"].status_code == 200 and results["short"].json()["choices"]
    events = results["events"]
    assert events[-1] != "[DONE]" and "[DONE]" not in events
    assert orjson.loads(events[-1])["error"]["code"] == "server_shutting_down"
    assert 2.5 < time.monotonic() - t0 < 10
    delivered = len(events) - 1
    assert delivered > 10
    gw.proc.wait(15)
    [row] = usage(results["stream_id"])
    assert row.status == "stream_interrupted" and row.error_type == "shutdown" and row.completion_tokens > 0
    with live_db.unblock():
        [entry] = LedgerEntry.objects.filter(request_id=results["stream_id"])
    assert entry.amount_nusd == -row.charged_nusd < 0
    [short_row] = usage(results["short"].headers["x-request-id"])
    assert short_row.status == "ok"


def test_readiness_says_not_ready_while_draining_and_the_request_in_flight_completes(own_gateways, tenant, usage):
    """SIGTERM: for AIPOWER_DRAIN_NOTICE_SECONDS the process keeps accepting connections and
    answering, /readyz says 503 (so that load balancers and orchestrators polling it take the
    process out of rotation) and /healthz 200; then it stops accepting, and the stream in flight
    still runs to its end."""
    gw = own_gateways(AIPOWER_DRAIN_SECONDS=20, AIPOWER_DRAIN_NOTICE_SECONDS=3)
    assert httpx.get(gw.url + "/readyz").status_code == 200
    results: dict = {}
    started = threading.Event()

    slow = {"x-sim-chunks": "40", "x-sim-stream-ms": "5000"}
    thread = threading.Thread(target=stream_into, args=(results, gw, tenant.key, slow, started))
    thread.start()
    assert started.wait(10)
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)  # the signal is handled between two of the server's ticks
    # Over new connections, as a probe makes them (refused once the notice is over): not ready,
    # but alive and still serving.
    ready = httpx.get(gw.url + "/readyz", headers={"connection": "close"})
    assert ready.status_code == 503, ready.text
    assert ready.json()["status"] == "not ready" and ready.json()["checks"]["draining"] is True
    assert ready.json()["checks"]["database"] == "ok"  # not ready because of the drain alone
    assert httpx.get(gw.url + "/healthz", headers={"connection": "close"}).status_code == 200
    assert chat(gw, tenant.key, {"connection": "close"}).status_code == 200
    # Past the notice the process stops accepting connections; the stream in flight goes on.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            httpx.get(gw.url + "/readyz", headers={"connection": "close"}, timeout=1)
        except httpx.ConnectError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the process still accepts connections 5 s after the notice began")
    assert time.monotonic() - t0 >= 2.9
    thread.join(30)
    assert not thread.is_alive() and results["status"] == 200
    events = results["events"]
    content = [e for e in events[:-1] if any(c["delta"].get("content") for c in orjson.loads(e)["choices"])]
    assert events[-1] == "[DONE]" and len(content) == 40  # every chunk, then [DONE]
    assert results["ended"] > t0 + 3  # it ran on after the process stopped accepting connections
    gw.proc.wait(15)  # and the process exits once it has ended
    [row] = usage(results["stream_id"])
    assert row.status == "ok" and row.completion_tokens > 0


def test_logs_are_json_lines_with_the_request_id(own_gateways, tenant, sim):
    gw = own_gateways(AIPOWER_LOG_FORMAT="json", AIPOWER_BREAKER_CONSECUTIVE_FAILURES=1)
    sim.fault("deepseek", "status:503", count=1)
    r = chat(gw, tenant.key)  # deepseek fails, its breaker opens (logged), another model serves
    assert r.status_code == 200
    rid = r.headers["x-request-id"]
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        lines = [orjson.loads(line) for line in gw.log_path.read_text().splitlines() if line.startswith("{")]
        if any(line.get("request_id") == rid for line in lines):
            break
        time.sleep(0.1)
    mine = [line for line in lines if line.get("request_id") == rid]
    assert mine and "circuit open" in mine[0]["message"] and mine[0]["level"] == "WARNING"
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)


def test_with_json_logs_uvicorns_lines_are_json_too_and_access_lines_carry_the_request_id(own_gateways, tenant):
    gw = own_gateways(AIPOWER_LOG_FORMAT="json", AIPOWER_ACCESS_LOG=1)
    r = chat(gw, tenant.key)
    streamed = chat(gw, tenant.key, stream=True)
    page = httpx.get(gw.url + "/", timeout=30)
    assert r.status_code == streamed.status_code == page.status_code == 200
    ids = {r.headers["x-request-id"], streamed.headers["x-request-id"]}
    gw.stop()  # its shutdown lines too
    lines = [orjson.loads(line) for line in gw.log_path.read_text().splitlines()]  # every line is JSON
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    messages = [line["message"] for line in lines if line["logger"] == "uvicorn.error"]
    assert any(m.startswith("Application startup complete") for m in messages)
    assert any(m.startswith("Application shutdown complete") for m in messages)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    api = [line for line in access if line["path"] == "/v1/chat/completions"]
    assert {line["request_id"] for line in api} == ids
    assert all(line["method"] == "POST" and line["status"] == 200 for line in api)
    [home] = [line for line in access if line["path"] == "/"]
    assert home["status"] == 200 and "request_id" not in home


def test_access_lines_are_off_by_default(own_gateways, tenant):
    gw = own_gateways()
    assert chat(gw, tenant.key).status_code == 200
    gw.stop()
    text = gw.log_path.read_text()
    assert "Application startup complete" in text and "uvicorn.access" not in text
