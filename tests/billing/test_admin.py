"""Operators in Django admin: settings change, money moves only as a ledger adjustment."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from billing.models import CreditAccount, LedgerEntry
from billing.selectors import ledger_sum
from billing.services import ledger_post
from tests.accounts.conftest import make_org


@pytest.fixture
def staff(db):
    user = get_user_model().objects.create_superuser("ops@example.com", "ops@example.com", "pw-ops-123456")
    web = Client()
    web.force_login(user)
    return web


def test_an_operator_adjusts_a_balance_through_the_ledger(staff):
    org = make_org().organization
    ledger_post(organization_id=org.pk, kind="grant", amount_nusd=1_000_000_000)
    account = CreditAccount.objects.get(organization=org)
    url = f"/admin/billing/creditaccount/{account.pk}/change/"
    assert staff.get(url).status_code == 200
    form = {
        "postpaid": "",
        "monthly_cap_nusd": "",
        "markup_bp": "2000",
        "stripe_customer_id": "",
        "stripe_payment_method_id": "",
        "auto_recharge_threshold_nusd": "0",
        "auto_recharge_amount_nusd": "0",
        "alert_thresholds_nusd": "[]",
        "adjust_usd": "-0.25",
        "adjust_note": "goodwill reversal",
    }
    assert staff.post(url, form).status_code == 302
    account.refresh_from_db()
    assert account.markup_bp == 2000
    assert account.balance_nusd == 750_000_000 == ledger_sum(org.pk)
    entry = LedgerEntry.objects.filter(organization=org).latest("pk")
    assert entry.kind == "adjustment" and entry.note.startswith("goodwill reversal")

    form["adjust_note"] = ""
    assert staff.post(url, form).status_code == 200  # a reason is required
    assert CreditAccount.objects.get(pk=account.pk).balance_nusd == 750_000_000


def test_the_ledger_cannot_be_edited_in_admin(staff):
    org = make_org().organization
    entry = ledger_post(organization_id=org.pk, kind="grant", amount_nusd=5)
    assert staff.get("/admin/billing/ledgerentry/").status_code == 200
    assert staff.post(f"/admin/billing/ledgerentry/{entry.pk}/change/", {"amount_nusd": "999"}).status_code == 403
    assert staff.get("/admin/billing/ledgerentry/add/").status_code == 403


def test_markup_bp_for_uses_the_override_or_the_default(db, settings):
    from billing.services import account_settings_update, markup_bp_for

    settings.AIPOWER_DEFAULT_MARKUP_BP = 1500
    org = make_org().organization
    assert markup_bp_for(org.pk) == 1500
    account_settings_update(organization_id=org.pk, markup_bp=0)
    assert markup_bp_for(org.pk) == 0


def test_the_admin_index_says_ledger_entries(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "Ledger entries" in page and "Ledger entrys" not in page
