"""Metered billing for postpaid organizations: the hourly report runs in a real Celery worker (on
Redis, against the test database) and sends Billing Meter events through the stripe library to
the fake Stripe server; `reconcile_metering` compares what was sent with the ledger."""

import os
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import metering
from billing.models import LedgerEntry, MeterReport
from billing.reservations import reserve, settle
from billing.services import account_settings_update
from tests.billing import fake_stripe as fs
from tests.servers import start_celery_worker, stop_process

pytestmark = pytest.mark.usefixtures("db_open", "pools")


async def usage(org_id: int, amounts: list[int], hours_ago: int) -> None:
    """Settled requests, moved back to an earlier hour."""
    ids = []
    for amount in amounts:
        r = uuid.uuid4().hex
        await reserve(organization_id=org_id, api_key_id=None, request_id=r, amount_nusd=amount)
        await settle(request_id=r, charged_nusd=amount)
        ids.append(r)
    when = timezone.now().replace(minute=30, second=0, microsecond=0) - timedelta(hours=hours_ago)
    LedgerEntry.objects.filter(request_id__in=ids).update(created_at=when)


@pytest.fixture
def postpaid(tenant):
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    account_settings_update(organization_id=tenant.organization.pk, postpaid=True, stripe_customer_id=customer)
    return tenant.organization.pk, customer


@pytest.fixture
def worker(test_database_url, fake_stripe):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("a real Celery worker needs Redis (REDIS_URL)")
    queue, proc = start_celery_worker(
        test_database_url, "billing-test", STRIPE_SECRET_KEY=fs.SECRET_KEY, STRIPE_API_BASE=fake_stripe.url
    )
    yield queue
    stop_process(proc)


def run_in_worker(queue: str, task: str, timeout: float = 60):
    from aipower.celery import app

    return app.send_task(task, queue=queue).get(timeout=timeout)


async def test_a_real_worker_reports_each_closed_hour_once(postpaid, worker, fake_stripe):
    org, customer = postpaid
    await usage(org, [1_000_000, 2_500_000], hours_ago=3)
    await usage(org, [700], hours_ago=2)
    await usage(org, [999], hours_ago=0)  # the current hour: not closed yet

    assert run_in_worker(worker, "billing.tasks.report_metered_usage") >= 2
    mine = {k: v for k, v in fake_stripe.meter_events.items() if v["payload"]["stripe_customer_id"] == customer}
    assert sorted(int(v["payload"]["value"]) for v in mine.values()) == [700, 3_500_000]
    for ident, params in mine.items():
        assert ident.startswith(f"aip-usage-{org}-") and params["event_name"] == "aipower_usage_nusd"
    calls = [c for c in fake_stripe.calls_to("/v1/billing/meter_events") if c["params"]["identifier"] in mine]
    assert all(c["idempotency_key"] == c["params"]["identifier"] and c["status"] == 200 for c in calls)

    assert run_in_worker(worker, "billing.tasks.report_metered_usage") == 0  # nothing new
    assert len([c for c in fake_stripe.calls_to("/v1/billing/meter_events") if c["params"]["identifier"] in mine]) == 2
    assert MeterReport.objects.filter(organization_id=org, sent_at__isnull=False).count() == 2


async def test_reconciliation_finds_usage_that_was_not_sent(postpaid, stripe_on, capsys):
    org, _ = postpaid
    await usage(org, [5_000], hours_ago=4)
    assert [m for m in metering.reconcile() if m.organization_id == org][0].sent_nusd == 0
    metering.report_usage()
    assert not [m for m in metering.reconcile() if m.organization_id == org]
    call_command("reconcile_metering")  # no mismatch anywhere: exit 0
    assert "matches" in capsys.readouterr().out

    await usage(org, [42], hours_ago=4)  # a late entry in an hour already sent
    [m] = [m for m in metering.reconcile() if m.organization_id == org]
    assert (m.ledger_nusd, m.sent_nusd) == (5_042, 5_000)
    with pytest.raises(SystemExit):
        call_command("reconcile_metering")
    assert f"org {org} " in capsys.readouterr().out


async def test_a_retried_report_sends_the_same_identifier(postpaid, stripe_on):
    """A worker that dies after Stripe accepted the event, before recording it: the retry sends the
    same identifier and idempotency key, and Stripe answers as the first time."""
    org, customer = postpaid
    await usage(org, [1234], hours_ago=5)
    assert metering.report_usage() >= 1
    MeterReport.objects.filter(organization_id=org).update(sent_at=None)
    assert metering.report_usage() >= 1
    events = [v for v in stripe_on.meter_events.values() if v["payload"]["stripe_customer_id"] == customer]
    assert len(events) == 1
    assert MeterReport.objects.get(organization_id=org).sent_at is not None


def test_prepaid_organizations_and_missing_stripe_keys_send_nothing(tenant, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert metering.report_usage() == 0
