"""Overlapped holds (routing/credit.py): with room to spare, the hold is placed while the upstream
call runs; nothing reaches the caller before it is placed, and a hold refused after all is a 402
that charges nothing. Through a real gateway, PostgreSQL and the simulator."""

import asyncio
import threading
import time

import httpx
import psycopg
import pytest

from billing import reservations
from billing.models import LedgerEntry, Reservation
from tests.billing.conftest import fund, state

MODEL = "deepseek/deepseek-chat"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 60}


def ask(gw, key, stream=False):
    headers = {"authorization": f"Bearer {key}", "x-sim-output-tokens": "60", "x-aipower-fallback": "off"}
    body = {**BODY, "stream": stream}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def calls(simulator) -> int:
    return httpx.get(simulator.url + "/_sim/stats").json()["total"]


def test_the_upstream_is_called_while_the_hold_waits_and_the_answer_waits_for_the_hold(
    gateway, simulator, tenant, live_db, usage, test_database_url
):
    org = tenant.organization.pk
    with live_db.unblock():
        fund(org, 10**12)  # room for far more than AIPOWER_HOLD_OVERLAP_MARGIN requests
    assert ask(gateway, tenant.key).status_code == 200  # the gateway now knows the room

    # Another transaction holds the organization's credit account: a hold cannot be placed now.
    with psycopg.connect(test_database_url) as blocker:
        blocker.execute("SELECT 1 FROM billing_creditaccount WHERE organization_id = %s FOR UPDATE", [org])
        before = calls(simulator)
        reply: list = []
        t = threading.Thread(target=lambda: reply.append(ask(gateway, tenant.key)))
        t.start()
        deadline = time.monotonic() + 2
        while calls(simulator) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls(simulator) == before + 1, "the upstream was not called while the hold waited"
        time.sleep(0.3)
        assert t.is_alive() and not reply, "the answer went out before its hold was placed"
        blocker.rollback()
    t.join(10)
    [resp] = reply
    assert resp.status_code == 200, resp.text
    rid = resp.headers["x-request-id"]
    [row] = usage(rid)
    with live_db.unblock():
        [entry] = LedgerEntry.objects.filter(request_id=rid)
        assert entry.amount_nusd == -row.charged_nusd < 0
        s = state(org)
        assert s["balance"] == s["ledger"] and s["open"] == 0 and s["reserved"] == 0


async def _take_the_room(org, key_id, amount):
    await reservations.reserve(
        organization_id=org, api_key_id=key_id, request_id=f"elsewhere-{org}", amount_nusd=amount
    )
    await reservations.close_pool()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_hold_refused_after_the_upstream_answered_is_a_402_and_charges_nothing(
    gateway, simulator, tenant, live_db, usage, stream
):
    import asyncio

    org = tenant.organization.pk
    with live_db.unblock():
        fund(org, 10**12)
    assert ask(gateway, tenant.key).status_code == 200
    # Another gateway process takes all the room meanwhile: this one does not know yet.
    with live_db.unblock():
        room = state(org)["balance"]
        asyncio.run(_take_the_room(org, tenant.key_id, room))

    before = calls(simulator)
    refused = ask(gateway, tenant.key, stream)
    assert refused.status_code == 402, refused.text  # before any byte of the stream
    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert calls(simulator) == before + 1  # overlapped: the upstream had been called
    [row] = usage(refused.headers["x-request-id"])
    assert row.http_status == 402 and row.charged_nusd == 0

    # The refusal is remembered: the next request is held first, and refused before any upstream call.
    again = ask(gateway, tenant.key, stream)
    assert again.status_code == 402
    assert calls(simulator) == before + 1
    with live_db.unblock():
        for r in (refused, again):
            rid = r.headers["x-request-id"]
            assert not LedgerEntry.objects.filter(request_id=rid).exists()
            assert not Reservation.objects.filter(request_id=rid).exists()
        s = state(org)
        assert s["balance"] == s["ledger"] == room and s["open"] == 1  # only the other process's hold


async def _holds_together(tenant, amounts):
    """Asks for holds in one turn of the event loop; returns the outcomes and the statements sent."""
    from unittest import mock

    sent = []
    real = reservations._fetchall_retrying

    async def counting(sql, params):
        sent.append(len(params[1]))
        return await real(sql, params)

    async def one(i, amount):
        try:
            return await reservations.reserve(
                organization_id=tenant.organization.pk,
                api_key_id=tenant.key_id,
                request_id=f"together-{tenant.organization.pk}-{i}",
                amount_nusd=amount,
            )
        except reservations.InsufficientCredit as exc:
            return exc.limit

    with mock.patch.object(reservations, "_fetchall_retrying", counting):
        try:
            out = await asyncio.gather(*(one(i, a) for i, a in enumerate(amounts)))
        finally:
            await reservations.close_pool()
    return out, sent


def test_holds_asked_together_go_in_one_statement_and_each_gets_its_own_answer(tenant, live_db, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    org = tenant.organization.pk
    with live_db.unblock():
        fund(org, 1000)
        out, sent = asyncio.run(_holds_together(tenant, [400, 400, 400, 100]))
        # One round trip for all four, placed in order: the third no longer fits, the fourth does.
        assert sent == [4]
        assert out[2] == "balance"
        first, second, _, fourth = out
        # What is left to hold, as each saw it: the holds before it in the batch are counted.
        assert (first.nusd, second.nusd, fourth.nusd) == (600, 200, 100)
        s = state(org)
        assert s["reserved"] == 900 and s["open"] == 3 and s["balance"] == s["ledger"] == 1000


async def _hold_for(tenant, candidates, features):
    from accounts.keys import KeyIdentity
    from routing import gateway

    key = KeyIdentity(key_id=tenant.key_id, organization_id=tenant.organization.pk, expires_at=None)
    call = gateway.Call(request_id=f"first-callable-{tenant.organization.pk}", started=0.0, key=key, features=features)
    try:
        await gateway._reserve(call, candidates, features, {})
    finally:
        await reservations.close_pool()
    return call.held_nusd


def test_the_hold_is_for_the_first_candidate_whose_breaker_is_not_open(tenant, live_db, monkeypatch):
    """A candidate passed over with an open breaker is not held for: otherwise a dearer next one
    would have to top the hold up (a database round trip) before it is called."""
    from routing import credit
    from routing.catalog import load_snapshot
    from routing.health import breaker_keys, health
    from routing.request import validate

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    features = validate({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100})
    with live_db.unblock():
        fund(tenant.organization.pk, 10**12)
        models = load_snapshot().models
        cheap = models[MODEL]
        dear = max(models.values(), key=lambda m: m.output_price_usd_micro_per_mtok)
        markup = asyncio.run(reservations.markup_bp_for(tenant.organization.pk))
        for key in breaker_keys(cheap):
            monkeypatch.setitem(health.open_until, key, time.time() + 60)
        held = asyncio.run(_hold_for(tenant, [cheap, dear], features))
    assert held == credit.worst_case(dear, features, markup) > credit.worst_case(cheap, features, markup)


def test_an_answer_is_sent_but_for_its_last_byte_until_its_charge_is_committed(
    gateway, tenant, live_db, usage, test_database_url
):
    """The body goes out while the commit runs; its last byte waits for the commit (ApiResponse.ack)."""
    import json as jsonlib

    org = tenant.organization.pk
    with live_db.unblock():
        fund(org, 10**12)
    headers = {"authorization": f"Bearer {tenant.key}", "x-sim-latency-ms": "400", "x-aipower-fallback": "off"}
    got: dict = {}

    def read():
        with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=BODY, headers=headers, timeout=30) as r:
            got["length"] = int(r.headers["content-length"])
            got["id"] = r.headers["x-request-id"]
            data = b""
            for piece in r.iter_raw():
                data += piece
                got["received"] = len(data)
            got["body"] = data

    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.2)  # the hold is placed, the upstream is still answering
    with psycopg.connect(test_database_url) as blocker:
        # The settlement must update this account: while it is locked, the commit waits.
        blocker.execute("SELECT 1 FROM billing_creditaccount WHERE organization_id = %s FOR UPDATE", [org])
        deadline = time.monotonic() + 3
        while got.get("received", 0) < got.get("length", 10**9) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert got["received"] == got["length"] - 1 and "body" not in got
        blocker.rollback()
    t.join(10)
    assert len(got["body"]) == got["length"]
    jsonlib.loads(got["body"])
    [row] = usage(got["id"])
    assert row.status == "ok" and row.charged_nusd > 0
