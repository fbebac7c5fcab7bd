"""The billing page: owners and admins only, scoped to the current organization; top-ups through
Stripe Checkout (credited by the webhook, never by the redirect); settings."""

import pytest

from billing.models import CheckoutSession, CreditAccount, LedgerEntry
from billing.services import ledger_post
from tests.accounts.conftest import make_org

CENT = 10_000_000


@pytest.fixture
def org(db):
    return make_org("Acme")


@pytest.fixture
def other(db):
    return make_org("Globex")


def test_owners_and_admins_see_the_balance_and_history(org):
    ledger_post(organization_id=org.organization.pk, kind="grant", amount_nusd=123 * CENT, note="Free trial credit")
    for user in (org.owner, org.admin):
        page = org.client_for(user).get("/billing/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "$1.23" in html and "Free trial credit" in html


def test_members_and_viewers_do_not(org):
    for user in (org.member, org.viewer):
        page = org.client_for(user).get("/billing/")
        assert page.status_code == 403 and "$" not in page.content.decode().split("<main>")[1].split("</main>")[0]
        assert org.client_for(user).post("/billing/topup/", {"preset": "10"}).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(db):
    from django.test import Client

    assert Client().get("/billing/")["Location"].startswith("/accounts/login/")


def test_another_organizations_entries_are_not_found(org, other):
    entry = ledger_post(
        organization_id=other.organization.pk,
        kind="topup",
        amount_nusd=100 * CENT,
        stripe_payment_id="pi_other",
        receipt_url="https://pay.stripe.com/receipts/x",
    )
    mine = ledger_post(
        organization_id=org.organization.pk,
        kind="topup",
        amount_nusd=100 * CENT,
        stripe_payment_id="pi_mine",
        receipt_url="https://pay.stripe.com/receipts/mine",
    )
    web = org.client_for(org.owner)
    assert web.get(f"/billing/entries/{entry.pk}/receipt/").status_code == 404
    assert web.get(f"/billing/entries/{mine.pk}/receipt/")["Location"] == "https://pay.stripe.com/receipts/mine"
    assert "pi_other" not in web.get("/billing/").content.decode()
    assert other.client_for(other.owner).get(f"/billing/entries/{entry.pk}/receipt/").status_code == 302


def test_the_history_filters_by_kind_and_date(org):
    o = org.organization.pk
    ledger_post(organization_id=o, kind="grant", amount_nusd=5 * CENT, note="the grant")
    ledger_post(organization_id=o, kind="adjustment", amount_nusd=7 * CENT, note="the adjustment")
    web = org.client_for(org.owner)
    html = web.get("/billing/?kind=grant").content.decode()
    assert "the grant" in html and "the adjustment" not in html
    assert "Nothing yet" in web.get("/billing/?since=2999-01-01").content.decode()


def test_without_stripe_keys_the_page_says_top_ups_are_not_configured(org, settings):
    settings.STRIPE_SECRET_KEY = ""
    web = org.client_for(org.owner)
    html = web.get("/billing/").content.decode()
    assert "Top-ups are not configured" in html and 'id="topup-form"' not in html
    assert web.post("/billing/topup/", {"preset": "10"}).status_code == 302
    assert not CheckoutSession.objects.exists()


def test_a_top_up_goes_to_checkout_and_the_redirect_back_credits_nothing(org, stripe_on):
    web = org.client_for(org.owner)
    response = web.post("/billing/topup/", {"preset": "25"})
    assert response.status_code == 302 and response["Location"].startswith(stripe_on.url + "/pay/cs_test_")
    session = CheckoutSession.objects.get(organization=org.organization)
    assert session.amount_nusd == 25 * 100 * CENT and session.status == "open"
    call = stripe_on.calls_to("/v1/checkout/sessions")[-1]
    assert call["params"]["client_reference_id"] == str(org.organization.pk) and call["idempotency_key"]
    page = web.get(f"/billing/?checkout=done&session_id={session.session_id}")
    assert "being confirmed" in page.content.decode()
    assert not LedgerEntry.objects.filter(organization=org.organization).exists()


@pytest.mark.parametrize(
    "amount, ok", [("5", True), ("5000", True), ("4", False), ("5001", False), ("", False), ("abc", False)]
)
def test_a_custom_amount_must_be_within_bounds(org, stripe_on, amount, ok):
    response = org.client_for(org.owner).post("/billing/topup/", {"custom_usd": amount})
    assert (response.status_code == 302) is ok
    assert CheckoutSession.objects.filter(organization=org.organization).exists() is ok


def test_owners_set_auto_recharge_and_alerts(org):
    web = org.client_for(org.owner)
    response = web.post(
        "/billing/settings/",
        {
            "auto_recharge_enabled": "on",
            "auto_recharge_threshold_usd": "5",
            "auto_recharge_amount_usd": "20",
            "alert_thresholds_usd": "10, 2.5",
        },
    )
    assert response.status_code == 302
    account = CreditAccount.objects.get(organization=org.organization)
    assert account.auto_recharge_enabled and account.auto_recharge_threshold_nusd == 5_000_000_000
    assert account.auto_recharge_amount_nusd == 20_000_000_000
    assert account.alert_thresholds_nusd == [2_500_000_000, 10_000_000_000]
    assert 'value="2.5, 10"' in web.get("/billing/").content.decode()


def test_auto_recharge_needs_a_threshold_and_an_amount(org):
    response = org.client_for(org.owner).post("/billing/settings/", {"auto_recharge_enabled": "on"})
    assert response.status_code == 400 and "needs a threshold" in response.content.decode()


def test_owners_set_a_key_budget_and_the_monthly_cap(org, other):
    from accounts.keys import apikey_create
    from billing.models import KeyBudget

    key, _ = apikey_create(organization=org.organization, name="ci key")
    foreign, _ = apikey_create(organization=other.organization, name="their key")
    web = org.client_for(org.owner)
    assert web.post(f"/billing/keys/{key.pk}/budget/", {"monthly_budget_usd": "12.5"}).status_code == 302
    assert KeyBudget.objects.get(api_key=key).monthly_budget_nusd == 12_500_000_000
    assert web.post(f"/billing/keys/{foreign.pk}/budget/", {"monthly_budget_usd": "1"}).status_code == 404
    assert not KeyBudget.objects.filter(api_key=foreign).exists()
    as_member = org.client_for(org.member)
    assert as_member.post(f"/billing/keys/{key.pk}/budget/", {"monthly_budget_usd": "1"}).status_code == 403
    html = web.get("/billing/").content.decode()
    assert "ci key" in html and 'value="12.5"' in html and "their key" not in html
    web.post(f"/billing/keys/{key.pk}/budget/", {"monthly_budget_usd": ""})
    assert KeyBudget.objects.get(api_key=key).monthly_budget_nusd is None

    web.post("/billing/settings/", {"monthly_cap_usd": "100", "alert_thresholds_usd": ""})
    assert CreditAccount.objects.get(organization=org.organization).monthly_cap_nusd == 100_000_000_000
    web.post("/billing/settings/", {"monthly_cap_usd": "", "alert_thresholds_usd": ""})
    assert CreditAccount.objects.get(organization=org.organization).monthly_cap_nusd is None
