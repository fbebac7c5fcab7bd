"""Auto-recharge (off-session, once per threshold crossing, idempotent) and low-balance emails."""

import uuid

import pytest

from billing.models import CreditAccount, LedgerEntry
from billing.recharge import auto_recharge
from billing.reservations import reserve, settle
from billing.services import account_settings_update
from tests.accounts.conftest import make_org
from tests.billing.conftest import fund
from tests.billing.fake_stripe import DECLINED_PM

pytestmark = pytest.mark.usefixtures("db_open", "pools")
USD = 1_000_000_000


@pytest.fixture
def acme(db_open):
    return make_org()


def recharging(org_id: int, *, pm="pm_saved_1", threshold=5, amount=20):
    return account_settings_update(
        organization_id=org_id,
        stripe_customer_id="cus_saved_1",
        stripe_payment_method_id=pm,
        auto_recharge_enabled=True,
        auto_recharge_threshold_nusd=threshold * USD,
        auto_recharge_amount_nusd=amount * USD,
    )


async def spend(org_id: int, amount: int):
    r = uuid.uuid4().hex
    await reserve(organization_id=org_id, api_key_id=None, request_id=r, amount_nusd=amount)
    await settle(request_id=r, charged_nusd=amount)


def balance(org_id):
    return CreditAccount.objects.get(organization_id=org_id).balance_nusd


async def test_falling_below_the_threshold_recharges_once_per_crossing(acme, stripe_on):
    org = acme.organization.pk
    fund(org, 6 * USD)
    recharging(org)
    before = len(stripe_on.calls_to("/v1/payment_intents"))
    await spend(org, 2 * USD)  # 6 → 4: below 5
    assert balance(org) == 24 * USD
    calls = stripe_on.calls_to("/v1/payment_intents")[before:]
    assert len(calls) == 1
    p = calls[0]["params"]
    assert (p["amount"], p["currency"], p["off_session"], p["confirm"]) == ("2000", "usd", "true", "true")
    assert (p["customer"], p["payment_method"]) == ("cus_saved_1", "pm_saved_1")
    assert calls[0]["idempotency_key"] == f"aip-recharge-{org}-1"
    await spend(org, 1 * USD)  # 24 → 23: no crossing
    await spend(org, 19 * USD)  # 23 → 4: the next crossing, the next key
    calls = stripe_on.calls_to("/v1/payment_intents")[before:]
    assert [c["idempotency_key"] for c in calls] == [f"aip-recharge-{org}-1", f"aip-recharge-{org}-2"]
    assert balance(org) == 24 * USD
    # The webhook for the same payment intents credits nothing more.
    topups = LedgerEntry.objects.filter(organization_id=org, kind="topup")
    assert topups.count() == 2


async def test_a_recharge_that_leaves_the_balance_below_does_not_charge_again(acme, stripe_on):
    org = acme.organization.pk
    fund(org, 6 * USD)
    recharging(org, threshold=5, amount=1)
    before = len(stripe_on.calls_to("/v1/payment_intents"))
    await spend(org, 6 * USD)  # 6 → 0, recharged by $1: still below 5, so not re-armed
    assert balance(org) == 1 * USD
    assert auto_recharge(organization_id=org) == "off"  # a duplicate task: the same crossing
    await spend(org, 1 * USD)  # 1 → 0
    assert len(stripe_on.calls_to("/v1/payment_intents")) - before == 1
    fund(org, 10 * USD)  # 0 → 10: above the threshold, re-armed
    await spend(org, 7 * USD)  # 10 → 3: a new crossing
    assert len(stripe_on.calls_to("/v1/payment_intents")) - before == 2
    assert balance(org) == 4 * USD
    assert CreditAccount.objects.get(organization_id=org).auto_recharge_enabled


async def test_a_declined_card_switches_auto_recharge_off_and_emails_the_owner(acme, stripe_on, mailoutbox):
    org = acme.organization.pk
    fund(org, 6 * USD)
    recharging(org, pm=DECLINED_PM)
    await spend(org, 2 * USD)
    account = CreditAccount.objects.get(organization_id=org)
    assert not account.auto_recharge_enabled and "declined" in account.auto_recharge_error
    assert balance(org) == 4 * USD
    [mail] = [m for m in mailoutbox if "Auto-recharge" in m.subject]
    assert mail.to == [acme.owner.email] and "switched off" in mail.subject
    assert "declined" in acme.client_for(acme.owner).get("/billing/").content.decode()


async def test_low_balance_emails_go_out_once_per_threshold_crossing(acme, mailoutbox):
    org = acme.organization.pk
    fund(org, 12 * USD)
    account_settings_update(organization_id=org, alert_thresholds_nusd=[10 * USD, 5 * USD])
    await spend(org, 1 * USD)  # 12 → 11
    assert not mailoutbox
    await spend(org, 8 * USD)  # 11 → 3: through 10 and 5, one email
    [mail] = mailoutbox
    assert mail.to == [acme.owner.email] and "$3.00" in mail.body and "$5.00" in mail.body
    await spend(org, 1 * USD)  # 3 → 2: no threshold crossed
    assert len(mailoutbox) == 1
    fund(org, 10 * USD)  # 2 → 12
    await spend(org, 3 * USD)  # 12 → 9: through 10 again
    assert len(mailoutbox) == 2
