"""PostgreSQL stopped for over a minute under a running gateway, with requests in flight.

Requests already under way are served and charged once PostgreSQL is back (their settlements wait
and retry, never dropped); new requests get 503 in OpenAI's error shape with Retry-After at once,
never a hang; the gateway serves again within 2 s of PostgreSQL's return."""

import os
import threading
import time

import httpx
import psycopg
import pytest

from tests.servers import PrivatePostgres, start_gateway

OUTAGE_S = float(os.environ.get("AIPOWER_TEST_PG_OUTAGE_SECONDS", "65"))
BODY = {"model": "deepseek/deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def private_pg(test_database_url, tenant):
    pg = PrivatePostgres(test_database_url)  # a copy of the test database: catalog and tenant included
    yield pg
    pg.destroy()


def post(gw, key, body=BODY, headers=None, timeout=15.0):
    t = time.monotonic()
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json=body,
        timeout=timeout,
        headers={"authorization": f"Bearer {key}", **(headers or {})},
    )
    return r, time.monotonic() - t


def assert_unavailable(r, took):
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["type"] == "server_error" and r.json()["error"]["code"] == "service_unavailable"
    assert int(r.headers["retry-after"]) >= 1
    assert took < 1.0, took


def test_it_refuses_new_requests_at_once_and_charges_the_ones_in_flight_once(private_pg, simulator, tenant):
    gw = start_gateway(database_url=private_pg.url, simulator_url=simulator.url, REDIS_URL="")
    try:
        first = post(gw, tenant.key)[0]
        assert first.status_code == 200, first.text
        results = []

        def slow(stream: bool):
            body = {**BODY, "stream": stream}
            r, _ = post(gw, tenant.key, body, {"x-sim-latency-ms": "4000", "x-sim-stream-ms": "500"}, timeout=60)
            results.append((r.status_code, r.headers.get("x-request-id"), r.text))

        threads = [threading.Thread(target=slow, args=(i % 4 == 0,)) for i in range(20)]
        for th in threads:
            th.start()
        with psycopg.connect(private_pg.url) as conn:  # every one of them holds its credit, waiting on the upstream
            deadline = time.monotonic() + 30
            while (
                conn.execute(
                    "select count(*) from billing_reservation where organization_id = %s", (tenant.organization.pk,)
                ).fetchone()[0]
                < 20
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        private_pg.stop()
        down_at = time.monotonic()

        # New requests: 503 within a second, in OpenAI's shape, streams too.
        assert_unavailable(*post(gw, tenant.key))
        assert_unavailable(*post(gw, tenant.key, {**BODY, "stream": True}))
        for th in threads:
            th.join(60)
        # Those already under way were served in full.
        assert len(results) == 20 and all(status == 200 for status, _, _ in results), results
        assert all("[DONE]" in text for _, _, text in results if text.startswith("data:"))

        while time.monotonic() - down_at < OUTAGE_S:
            assert_unavailable(*post(gw, tenant.key))
            time.sleep(5)

        private_pg.start()
        back_at = time.monotonic()
        while True:
            r, _ = post(gw, tenant.key)
            if r.status_code == 200:
                break
            assert_unavailable(r, 0)
            assert time.monotonic() - back_at < 2.0, "not serving 2 s after PostgreSQL's return"
            time.sleep(0.05)

        # Every request served during the outage is charged exactly once, and the balance is the ledger's sum.
        ids = [rid for _, rid, _ in results]
        with psycopg.connect(private_pg.url.replace("postgres://", "postgresql://")) as conn:
            deadline = time.monotonic() + 10
            while True:
                charged = conn.execute(
                    "select request_id, count(*) from billing_ledgerentry "
                    "where request_id = any(%s) group by request_id",
                    (ids,),
                ).fetchall()
                if len(charged) == len(ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert len(charged) == 20 and all(n == 1 for _, n in charged), charged
            used = conn.execute(
                "select count(*) from analytics_usagerecord where request_id = any(%s)", (ids,)
            ).fetchone()[0]
            assert used == 20
            held = conn.execute(
                "select count(*) from billing_reservation where request_id = any(%s)", (ids,)
            ).fetchone()[0]
            assert held == 0
            org = tenant.organization.pk
            balance, reserved = conn.execute(
                "select balance_nusd, reserved_nusd from billing_creditaccount where organization_id = %s", (org,)
            ).fetchone()
            total = conn.execute(
                "select sum(amount_nusd) from billing_ledgerentry where organization_id = %s", (org,)
            ).fetchone()[0]
            assert balance == total and reserved == 0
    finally:
        gw.stop()
