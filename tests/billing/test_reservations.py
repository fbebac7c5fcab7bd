"""reserve / settle / release against the real database, as the gateway calls them: every test
runs on both implementations (the PL/pgSQL functions and the ORM twin; `reservation_functions`)."""

import asyncio
import os
import threading
import time
import uuid

import pytest

from billing.reservations import DuplicateReservation, InsufficientCredit, release, reserve, settle
from tests.billing.conftest import fund, state

pytestmark = [pytest.mark.twins, pytest.mark.usefixtures("db_open", "pools", "reservation_functions")]
CENT = 10_000_000


def rid() -> str:
    return uuid.uuid4().hex


async def test_it_holds_then_charges_once(tenant):
    org = tenant.organization.pk
    fund(org, 100 * CENT)
    r = rid()
    await reserve(organization_id=org, api_key_id=tenant.key_id, request_id=r, amount_nusd=30 * CENT)
    assert state(org) | {} == {"balance": 100 * CENT, "reserved": 30 * CENT, "ledger": 100 * CENT, "open": 1, "rows": 1}
    await settle(request_id=r, charged_nusd=7 * CENT)
    await settle(request_id=r, charged_nusd=7 * CENT)  # idempotent
    await release(request_id=r)
    assert state(org) == {"balance": 93 * CENT, "reserved": 0, "ledger": 93 * CENT, "open": 0, "rows": 0}


async def test_it_refuses_what_the_balance_cannot_cover(tenant):
    org = tenant.organization.pk
    fund(org, 10 * CENT)
    await reserve(organization_id=org, api_key_id=tenant.key_id, request_id=rid(), amount_nusd=6 * CENT)
    with pytest.raises(InsufficientCredit) as e:
        await reserve(organization_id=org, api_key_id=tenant.key_id, request_id=rid(), amount_nusd=5 * CENT)
    assert e.value.limit == "balance" and "balance" in str(e.value)


async def test_an_organization_without_credit_is_refused(tenant):
    with pytest.raises(InsufficientCredit):
        await reserve(organization_id=tenant.organization.pk, api_key_id=tenant.key_id, request_id=rid(), amount_nusd=1)


async def test_a_request_id_is_reserved_once(tenant):
    fund(tenant.organization.pk, 10 * CENT)
    r = rid()
    await reserve(organization_id=tenant.organization.pk, api_key_id=None, request_id=r, amount_nusd=CENT)
    with pytest.raises(DuplicateReservation):
        await reserve(organization_id=tenant.organization.pk, api_key_id=None, request_id=r, amount_nusd=CENT)
    assert state(tenant.organization.pk)["reserved"] == CENT


async def test_a_charged_request_id_is_never_held_again(tenant):
    org = tenant.organization.pk
    fund(org, 10 * CENT)
    r = rid()
    await reserve(organization_id=org, api_key_id=None, request_id=r, amount_nusd=CENT)
    await settle(request_id=r, charged_nusd=CENT)
    with pytest.raises(DuplicateReservation):
        await reserve(organization_id=org, api_key_id=None, request_id=r, amount_nusd=CENT)
    assert state(org) == {"balance": 9 * CENT, "reserved": 0, "ledger": 9 * CENT, "open": 0, "rows": 0}


async def test_markup_is_the_organizations_override_or_the_default(tenant, settings):
    from billing import reservations
    from billing.services import account_settings_update

    settings.AIPOWER_DEFAULT_MARKUP_BP = 1500
    org = tenant.organization.pk
    assert await reservations.markup_bp_for(org) == 1500
    account_settings_update(organization_id=org, markup_bp=500)
    reservations._markups.clear()
    assert await reservations.markup_bp_for(org) == 500


async def test_release_charges_nothing(tenant):
    org = tenant.organization.pk
    fund(org, 10 * CENT)
    r = rid()
    await reserve(organization_id=org, api_key_id=None, request_id=r, amount_nusd=10 * CENT)
    await release(request_id=r)
    assert state(org) == {"balance": 10 * CENT, "reserved": 0, "ledger": 10 * CENT, "open": 0, "rows": 0}


async def test_the_key_budget_and_the_org_cap_are_enforced(tenant):
    from accounts.models import ApiKey
    from billing.services import account_settings_update, key_budget_set

    org = tenant.organization.pk
    fund(org, 1000 * CENT)
    key_budget_set(api_key=ApiKey.objects.get(pk=tenant.key_id), monthly_budget_nusd=10 * CENT)
    r = rid()
    await reserve(organization_id=org, api_key_id=tenant.key_id, request_id=r, amount_nusd=8 * CENT)
    await settle(request_id=r, charged_nusd=6 * CENT)
    with pytest.raises(InsufficientCredit) as e:
        await reserve(organization_id=org, api_key_id=tenant.key_id, request_id=rid(), amount_nusd=5 * CENT)
    assert e.value.limit == "key_budget" and "key" in str(e.value)
    await reserve(organization_id=org, api_key_id=None, request_id=rid(), amount_nusd=5 * CENT)  # another key: fine

    account_settings_update(organization_id=org, monthly_cap_nusd=20 * CENT)
    with pytest.raises(InsufficientCredit) as e:
        await reserve(organization_id=org, api_key_id=None, request_id=rid(), amount_nusd=10 * CENT)
    assert e.value.limit == "org_cap" and "cap" in str(e.value)


async def test_a_postpaid_organization_may_go_below_zero_up_to_its_cap(tenant):
    from billing.services import account_settings_update

    org = tenant.organization.pk
    account_settings_update(organization_id=org, postpaid=True, monthly_cap_nusd=50 * CENT)
    r = rid()
    await reserve(organization_id=org, api_key_id=None, request_id=r, amount_nusd=40 * CENT)
    await settle(request_id=r, charged_nusd=40 * CENT)
    assert state(org)["balance"] == -40 * CENT
    with pytest.raises(InsufficientCredit):
        await reserve(organization_id=org, api_key_id=None, request_id=rid(), amount_nusd=20 * CENT)


async def test_fifty_concurrent_requests_never_overspend(tenant):
    """The balance covers 5 holds of 10 cents; 50 requests race for them (asyncio tasks on a pool
    of connections, plus two more event loops in threads: three processes' worth of contention)."""
    org = tenant.organization.pk
    fund(org, 50 * CENT)
    accepted, refused = [], []

    async def one(i):
        r = f"c{i}-{rid()}"
        try:
            await reserve(organization_id=org, api_key_id=tenant.key_id, request_id=r, amount_nusd=10 * CENT)
        except InsufficientCredit:
            refused.append(r)
            return
        accepted.append(r)
        assert state_balance() >= 0
        await asyncio.sleep(0.01)
        await asyncio.shield(settle(request_id=r, charged_nusd=9 * CENT))

    def state_balance():
        s = state(org)
        return s["balance"] - s["reserved"]

    async def batch(ids):
        from billing.reservations import close_pool

        try:
            await asyncio.gather(*(one(i) for i in ids))
        finally:
            await close_pool()

    threads = [
        threading.Thread(target=lambda ids=ids: asyncio.run(batch(ids))) for ids in (range(30, 40), range(40, 50))
    ]
    for t in threads:
        t.start()
    await asyncio.gather(*(one(i) for i in range(30)))
    for t in threads:
        t.join()

    assert len(accepted) + len(refused) == 50
    s = state(org)
    assert s["open"] == 0 and s["rows"] == 0 and s["reserved"] == 0
    assert s["balance"] == s["ledger"] == 50 * CENT - 9 * CENT * len(accepted) >= 0
    # With 9 of every 10 cents charged, the balance covers 5 holds at first and more as they settle.
    assert 5 <= len(accepted) <= 5 + 50 // 10
    from billing.models import LedgerEntry

    assert sorted(LedgerEntry.objects.filter(request_id__in=accepted).values_list("request_id", flat=True)) == sorted(
        accepted
    )


async def test_a_cancelled_worker_leaves_no_hold_once_its_reservation_expires(tenant, settings):
    from django.core.management import call_command

    from billing.tasks import sweep_reservations

    settings.AIPOWER_RESERVATION_TTL_SECONDS = 0.3
    org = tenant.organization.pk
    fund(org, 10 * CENT)
    reserved = asyncio.Event()

    async def worker(r):
        await reserve(organization_id=org, api_key_id=tenant.key_id, request_id=r, amount_nusd=10 * CENT)
        reserved.set()
        await asyncio.sleep(3600)  # the upstream call; the worker is cancelled (killed) here
        await settle(request_id=r, charged_nusd=CENT)  # never reached: no finally

    task = asyncio.create_task(worker(rid()))
    await reserved.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state(org)["reserved"] == 10 * CENT
    with pytest.raises(InsufficientCredit):
        await reserve(organization_id=org, api_key_id=None, request_id=rid(), amount_nusd=CENT)
    assert sweep_reservations.apply().get() == 0  # not expired yet
    time.sleep(0.4)
    call_command("sweep_reservations")
    assert state(org) | {"rows": None} == {
        "balance": 10 * CENT,
        "reserved": 0,
        "ledger": 10 * CENT,
        "open": 0,
        "rows": None,
    }
    await reserve(organization_id=org, api_key_id=None, request_id=rid(), amount_nusd=10 * CENT)


async def test_a_settle_after_expiry_still_charges_once(tenant, settings):
    from billing.reservations import sweep_expired

    settings.AIPOWER_RESERVATION_TTL_SECONDS = 0.1
    org = tenant.organization.pk
    fund(org, 10 * CENT)
    r = rid()
    await reserve(organization_id=org, api_key_id=None, request_id=r, amount_nusd=5 * CENT)
    time.sleep(0.2)
    assert sweep_expired() >= 1
    await settle(request_id=r, charged_nusd=2 * CENT)
    await settle(request_id=r, charged_nusd=2 * CENT)
    assert state(org) == {"balance": 8 * CENT, "reserved": 0, "ledger": 8 * CENT, "open": 0, "rows": 0}


async def test_settle_completes_when_its_caller_is_cancelled(tenant):
    org = tenant.organization.pk
    fund(org, 10 * CENT)
    r = rid()
    await reserve(organization_id=org, api_key_id=None, request_id=r, amount_nusd=5 * CENT)

    async def request():
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.shield(settle(request_id=r, charged_nusd=3 * CENT))

    task = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    assert state(org) == {"balance": 7 * CENT, "reserved": 0, "ledger": 7 * CENT, "open": 0, "rows": 0}


def own_connection_ports() -> set[int]:
    """The local ports of this process's TCP sockets (Linux: /proc), to tell its database
    connections from those of the gateway processes other tests started."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                cols = line.split()
                if cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.needs_postgresql
async def test_it_survives_its_connections_being_dropped(tenant):
    """The database restarted or a proxy dropped the connections: the next calls succeed (the
    PL/pgSQL half's pooled connections, the ORM half's Django connections in worker threads)."""
    from django.db import connection

    org = tenant.organization.pk
    fund(org, 10 * CENT)
    the_tests_own = own_connection_ports()
    r = rid()
    await reserve(organization_id=org, api_key_id=None, request_id=r, amount_nusd=2 * CENT)

    def drop_others():
        """Drops the connections this process opened since: the reservations' own."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND client_port = ANY(%s)",
                [sorted(own_connection_ports() - the_tests_own)],
            )
            return cursor.fetchone()[0]

    assert drop_others() >= 1
    await settle(request_id=r, charged_nusd=CENT)
    drop_others()
    await reserve(organization_id=org, api_key_id=None, request_id=rid(), amount_nusd=2 * CENT)
    assert state(org) | {"open": None, "rows": None} == {
        "balance": 9 * CENT,
        "reserved": 2 * CENT,
        "ledger": 9 * CENT,
        "open": None,
        "rows": None,
    }
