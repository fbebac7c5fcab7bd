"""kill -9 of the gateway under mixed load (streams and not): after a restart and the sweeper,
every request a client saw complete is recorded and charged exactly once, nothing else is
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
    env = {"AIPOWER_RESERVATION_TTL_SECONDS": 3, "REDIS_URL": ""}
    gw = start_gateway(database_url=test_database_url, simulator_url=simulator.url, **env)
    completed, stop = [], threading.Event()

    def client(i):
        with httpx.Client(base_url=gw.url, timeout=30,
                          headers={"authorization": f"Bearer {tenant.key}", "x-sim-latency-ms": "30",
                                   "x-sim-stream-ms": "300"}) as http:
            while not stop.is_set():
                stream = i % 2 == 0
                body = {"model": "deepseek/deepseek-chat", "messages": HELLO, "stream": stream}
                try:
                    if stream:
                        with http.stream("POST", "/v1/chat/completions", json=body) as r:
                            rid = r.headers.get("x-request-id")
                            lines = list(r.iter_lines())
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
    time.sleep(4)
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
