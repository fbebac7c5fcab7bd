"""kill -9 of the gateway under mixed load (streams and not): after a restart and the sweeper,
every request a client saw complete is recorded and charged exactly once, a stream cut by the
crash is charged (and recorded) for what it delivered up to its last checkpoint, nothing else is
charged, and the balance is the ledger's sum."""

import signal
import threading
import time

import httpx

from tests.conftest import make_tenant
from tests.servers import start_gateway

HELLO = [{"role": "user", "content": "hi"}]


def test_it_loses_and_doubles_nothing_when_killed_under_load(test_database_url, simulator, live_db):
    from analytics.models import UsageRecord
    from billing.models import CreditAccount, LedgerEntry, Reservation
    from billing.reservations import sweep_expired

    tenant = make_tenant(live_db)
    env = {"AIPOWER_RESERVATION_TTL_SECONDS": 3, "REDIS_URL": "", "AIPOWER_STREAM_CHECKPOINT_SECONDS": 0.5}
    gw = start_gateway(database_url=test_database_url, simulator_url=simulator.url, **env)
    completed, cut, stop = [], {}, threading.Event()

    def client(i):
        long = i % 4 == 0  # long streams: cut by the crash after a few checkpoints
        with httpx.Client(
            base_url=gw.url,
            timeout=30,
            headers={
                "authorization": f"Bearer {tenant.key}",
                "x-sim-latency-ms": "30",
                "x-sim-stream-ms": "6000" if long else "300",
                "x-sim-chunks": "120" if long else "10",
            },
        ) as http:
            while not stop.is_set():
                stream = i % 2 == 0
                body = {"model": "deepseek/deepseek-chat", "messages": HELLO, "stream": stream}
                try:
                    if stream:
                        lines = []
                        with http.stream("POST", "/v1/chat/completions", json=body) as r:
                            rid = r.headers.get("x-request-id")
                            try:
                                for line in r.iter_lines():
                                    lines.append(line)
                            finally:
                                if r.status_code == 200 and "data: [DONE]" not in lines:
                                    cut[rid] = sum(1 for line in lines if '"content"' in line)
                        if r.status_code == 200 and "data: [DONE]" in lines:
                            completed.append(rid)
                    else:
                        r = http.post("/v1/chat/completions", json=body)
                        if r.status_code == 200 and r.json()["choices"]:
                            completed.append(r.headers["x-request-id"])
                except (httpx.HTTPError, ValueError):
                    pass  # cut by the crash

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    time.sleep(5)
    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(completed) > 50

    # A restart, then the sweeper once the crashed process's holds have expired.
    gw2 = start_gateway(database_url=test_database_url, simulator_url=simulator.url, **env)
    try:
        assert httpx.get(gw2.url + "/readyz").status_code == 200
        time.sleep(3.5)
        with live_db.unblock():
            sweep_expired()
            org = tenant.organization.pk
            rows = {r.request_id: r for r in UsageRecord.objects.filter(request_id__in=completed)}
            missing = [rid for rid in completed if rid not in rows]
            assert not missing, f"{len(missing)} completed requests have no usage row"
            entries = {}
            for e in LedgerEntry.objects.filter(organization_id=org, kind="usage"):
                entries.setdefault(e.request_id, []).append(e.amount_nusd)
            for rid in completed:
                assert entries.get(rid) == [-rows[rid].charged_nusd], rid  # charged once, what was recorded
            # Streams cut by the crash: those that got past a checkpoint are charged what it says, once,
            # with their usage row; none is charged more than its row.
            cut_rows = list(UsageRecord.objects.filter(request_id__in=list(cut)))
            assert cut_rows, "no stream cut by the crash was checkpointed"
            for row in cut_rows:
                # A stream whose upstream had ended is committed before its [DONE] goes out: the
                # crash may fall between the two, and the caller, who had every content chunk but not
                # the terminator, is charged once for the whole answer ("ok").
                assert (row.status, row.error_type) in {("stream_interrupted", "process_died"), ("ok", "")}
                assert entries.get(row.request_id) == [-row.charged_nusd] and row.charged_nusd > 0
                assert row.completion_tokens > 0
            assert any(row.status == "stream_interrupted" for row in cut_rows), "no checkpoint was charged"
            # Nothing is charged without its usage row.
            recorded = set(UsageRecord.objects.filter(organization_id=org).values_list("request_id", flat=True))
            assert set(entries) <= recorded
            account = CreditAccount.objects.get(organization_id=org)
            ledger = sum(LedgerEntry.objects.filter(organization_id=org).values_list("amount_nusd", flat=True))
            assert account.balance_nusd == ledger
            assert account.reserved_nusd == 0
            assert not Reservation.objects.filter(organization_id=org, expired=False).exists()
    finally:
        gw.stop()
        gw2.stop()
