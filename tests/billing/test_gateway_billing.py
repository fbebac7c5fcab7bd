"""Credits on the gateway's request path, through a real gateway and the openai SDK."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson

from billing.models import CreditAccount, LedgerEntry
from billing.pricing import worst_case_nusd
from routing.models import CatalogModel
from tests.billing.conftest import fund, state
from tests.servers import stream_then_hang_up

MODEL = "deepseek/deepseek-chat"
HELLO = [{"role": "user", "content": "hi"}]


def ask(gw, key, **extra_headers):
    # max_tokens equal to what the simulator writes: the worst case is (nearly) the real cost.
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 60}
    headers = {
        "authorization": f"Bearer {key}",
        "x-sim-output-tokens": "60",
        "x-aipower-fallback": "off",
        **extra_headers,
    }
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_concurrent_requests_never_overspend_and_each_is_charged_once(gateway, tenant, live_db, usage):
    with live_db.unblock():
        m = CatalogModel.objects.get(public_id=MODEL)
        worst = worst_case_nusd(
            prompt_tokens=20,
            max_tokens=60,
            model_max_output=m.max_output_tokens,
            input_price_usd_micro_per_mtok=m.input_price_usd_micro_per_mtok,
            output_price_usd_micro_per_mtok=m.output_price_usd_micro_per_mtok,
            markup_bp=1500,
        )
        fund(tenant.organization.pk, 4 * worst)  # enough for a few of the fifty
    lowest, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            with live_db.unblock():
                lowest.append(CreditAccount.objects.get(organization_id=tenant.organization.pk).balance_nusd)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(lambda _: ask(gateway, tenant.key), range(50)))
    time.sleep(0.5)  # settlements run just after the responses
    stop.set()
    watcher.join()

    accepted = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code == 402]
    assert len(accepted) + len(refused) == 50 and 1 <= len(accepted) < 50 and refused
    for r in refused:
        assert r.json()["error"]["code"] == "insufficient_quota" and r.json()["error"]["type"] == "insufficient_quota"
    assert min(lowest) >= 0
    with live_db.unblock():
        s = state(tenant.organization.pk)
        assert s["balance"] >= 0 and s["balance"] == s["ledger"]
        assert s["open"] == 0 and s["reserved"] == 0
        for r in accepted:
            rid = r.headers["x-request-id"]
            [row] = usage(rid)
            [entry] = LedgerEntry.objects.filter(request_id=rid)
            assert entry.kind == "usage" and entry.amount_nusd == -row.charged_nusd < 0
        for r in refused:
            assert not LedgerEntry.objects.filter(request_id=r.headers["x-request-id"]).exists()


def test_a_disconnect_mid_stream_charges_what_was_delivered(gateway, tenant, live_db, usage):
    with live_db.unblock():
        fund(tenant.organization.pk, 10**9)
    body = orjson.dumps({"model": MODEL, "stream": True, "messages": HELLO})
    rid = stream_then_hang_up(
        gateway, tenant.key, body, {"x-sim-chunks": "40", "x-sim-output-tokens": "400", "x-sim-stream-ms": "4000"}
    )
    [row] = usage(rid, timeout=10)
    time.sleep(0.3)
    with live_db.unblock():
        [entry] = LedgerEntry.objects.filter(request_id=rid)
        s = state(tenant.organization.pk)
    assert row.status == "client_disconnected" and 0 < row.completion_tokens < 400 and row.charged_nusd > 0
    assert entry.amount_nusd == -row.charged_nusd
    assert s["open"] == 0 and s["balance"] == s["ledger"]


def test_a_failed_request_is_not_charged_and_releases_its_hold(gateway, tenant, live_db):
    with live_db.unblock():
        fund(tenant.organization.pk, 10**9)
        before = state(tenant.organization.pk)["balance"]
    r = ask(gateway, tenant.key, **{"x-sim-fault": "status:503"})
    assert r.status_code == 502
    time.sleep(0.3)
    with live_db.unblock():
        s = state(tenant.organization.pk)
        assert not LedgerEntry.objects.filter(request_id=r.headers["x-request-id"]).exists()
    assert s["open"] == 0 and s["reserved"] == 0 and s["balance"] == before


def test_an_organization_without_credit_gets_402_not_429(gateway, live_db):
    from tests.conftest import make_tenant

    broke = make_tenant(live_db, credit_nusd=0)
    r = ask(gateway, broke.key)
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "insufficient_quota"


def test_rows_keep_the_price_and_markup_they_were_billed_at(gateway, tenant, live_db, usage):
    with live_db.unblock():
        fund(tenant.organization.pk, 10**9)
        CreditAccount.objects.filter(organization_id=tenant.organization.pk).update(markup_bp=0)
        m = CatalogModel.objects.get(public_id=MODEL)
    r = ask(gateway, tenant.key)
    [row] = usage(r.headers["x-request-id"])
    # The organization's own markup (none) overrides the global 15%.
    assert row.markup_bp == 0 and row.charged_nusd == row.upstream_cost_nusd > 0
    assert (row.input_price_usd_micro_per_mtok, row.output_price_usd_micro_per_mtok) == (
        m.input_price_usd_micro_per_mtok,
        m.output_price_usd_micro_per_mtok,
    )
    # A later price edit changes nothing already billed.
    with live_db.unblock():
        CatalogModel.objects.filter(pk=m.pk).update(
            output_price_usd_micro_per_mtok=m.output_price_usd_micro_per_mtok * 10
        )
        try:
            row.refresh_from_db()
            assert row.output_price_usd_micro_per_mtok == m.output_price_usd_micro_per_mtok
            assert LedgerEntry.objects.get(request_id=row.request_id).amount_nusd == -row.charged_nusd
        finally:
            CatalogModel.objects.filter(pk=m.pk).update(
                output_price_usd_micro_per_mtok=m.output_price_usd_micro_per_mtok
            )


def test_an_answer_with_no_output_is_charged_for_its_input_only(gateway, tenant, live_db, usage):
    with live_db.unblock():
        fund(tenant.organization.pk, 10**9)
        m = CatalogModel.objects.get(public_id=MODEL)
    r = ask(gateway, tenant.key, **{"x-sim-output-tokens": "0"})
    assert r.status_code == 200
    [row] = usage(r.headers["x-request-id"])
    assert row.completion_tokens == 0 and row.prompt_tokens > 0 and not row.usage_estimated
    pico = row.prompt_tokens * m.input_price_usd_micro_per_mtok
    assert row.upstream_cost_nusd == -(-pico // 1000)
    assert row.charged_nusd == -(-pico * 11500 // 10_000_000)


def test_a_keys_monthly_budget_is_enforced_by_the_gateway(gateway, tenant, live_db):
    from accounts.models import ApiKey
    from billing.services import key_budget_set

    with live_db.unblock():
        fund(tenant.organization.pk, 10**9)
        key_budget_set(api_key=ApiKey.objects.get(pk=tenant.key_id), monthly_budget_nusd=1000)
    r = ask(gateway, tenant.key)
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "insufficient_quota" and "budget" in r.json()["error"]["message"]
