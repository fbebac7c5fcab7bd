"""The audit log: every change to keys, roles, members, invitations, markup, spending caps and
budgets is recorded with who made it and what changed; owners see it, nobody else."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.keys import apikey_create
from accounts.models import ApiKey, AuditLog, Invitation, Membership
from billing.models import CreditAccount
from billing.services import ledger_post

USD = 1_000_000_000


def _entries(org, action) -> list[AuditLog]:
    return list(AuditLog.objects.filter(organization=org.organization, action=action).order_by("pk"))


def test_key_creation_rotation_and_revocation_are_recorded(org):
    web = org.client_for(org.admin)
    assert web.post("/keys/", {"name": "deploy", "rpm_limit": "30"}).status_code == 200
    key = ApiKey.objects.get(organization=org.organization, name="deploy")
    [created] = _entries(org, "key.create")
    assert created.actor == org.admin and created.actor_label == org.admin.email
    assert created.target_id == str(key.pk) and created.changes["rpm_limit"] == [None, 30]
    assert "tpm_limit" not in created.changes and "expires_at" not in created.changes  # not set: not listed
    assert web.post(f"/keys/{key.pk}/rotate/", {"grace": "3600"}).status_code == 200
    [rotated] = _entries(org, "key.rotate")
    new = ApiKey.objects.filter(organization=org.organization, name="deploy").exclude(pk=key.pk).get()
    assert rotated.changes["replaced_by"] == [None, new.pk] and rotated.changes["grace_seconds"] == [None, 3600]
    assert rotated.changes["expires_at"][0] is None and rotated.changes["expires_at"][1]
    web.post(f"/keys/{new.pk}/revoke/")
    assert [e.target_id for e in _entries(org, "key.revoke")] == [str(new.pk)]


def test_role_changes_removals_and_departures_are_recorded(org):
    owner = org.client_for(org.owner)
    member = org.membership(org.member)
    owner.post(f"/members/{member.pk}/role/", {"role": "admin"})
    [entry] = _entries(org, "member.role")
    assert entry.actor == org.owner and entry.target_label == org.member.email
    assert entry.changes == {"role": ["member", "admin"]}
    owner.post(f"/members/{org.membership(org.viewer).pk}/remove/")
    [removed] = _entries(org, "member.remove")
    assert removed.target_label == org.viewer.email and removed.changes == {"role": ["viewer", None]}
    admin = org.membership(org.admin)
    org.client_for(org.admin).post(f"/members/{admin.pk}/remove/")
    [left] = _entries(org, "member.leave")
    assert left.actor == org.admin and left.changes == {"role": ["admin", None]}


def test_a_refused_change_records_nothing(org):
    org.client_for(org.admin).post(f"/members/{org.membership(org.owner).pk}/role/", {"role": "viewer"})
    assert org.membership(org.owner).role == "owner"
    assert not AuditLog.objects.filter(organization=org.organization).exists()


def test_invitations_and_joining_are_recorded(org, mailoutbox):
    from allauth.account.models import EmailAddress

    from accounts.orgs import invitation_accept

    org.client_for(org.owner).post("/members/invite/", {"email": "new@example.com", "role": "member"})
    invitation = Invitation.objects.get(organization=org.organization, email="new@example.com")
    [invited] = _entries(org, "invitation.create")
    assert invited.target_label == "new@example.com" and invited.changes["role"] == [None, "member"]
    user = get_user_model().objects.create_user("new@example.com", "new@example.com", "pw")
    EmailAddress.objects.create(user=user, email="new@example.com", verified=True, primary=True)
    invitation_accept(invitation=invitation, user=user)
    [joined] = _entries(org, "member.join")
    assert joined.actor == user and joined.changes["role"] == [None, "member"]

    org.client_for(org.owner).post("/members/invite/", {"email": "later@example.com", "role": "viewer"})
    later = Invitation.objects.get(organization=org.organization, email="later@example.com")
    org.client_for(org.admin).post(f"/invitations/{later.pk}/cancel/")
    [cancelled] = _entries(org, "invitation.cancel")
    assert cancelled.actor == org.admin and cancelled.target_label == "later@example.com"


def test_caps_budgets_and_auto_recharge_changes_are_recorded(org):
    web = org.client_for(org.owner)
    web.post("/billing/settings/", {"monthly_cap_usd": "250", "alert_thresholds_usd": "5"})
    [entry] = _entries(org, "billing.settings")
    assert entry.actor == org.owner
    assert entry.changes == {"monthly_cap_nusd": [None, 250 * USD], "alert_thresholds_nusd": [[], [5 * USD]]}
    web.post("/billing/settings/", {"monthly_cap_usd": "250", "alert_thresholds_usd": "5"})
    assert len(_entries(org, "billing.settings")) == 1  # saved unchanged: nothing to record

    key, _ = apikey_create(organization=org.organization, name="ci", created_by=org.owner)
    org.client_for(org.admin).post(f"/billing/keys/{key.pk}/budget/", {"monthly_budget_usd": "12.5"})
    org.client_for(org.admin).post(f"/billing/keys/{key.pk}/budget/", {"monthly_budget_usd": ""})
    budgets = _entries(org, "billing.key_budget")
    assert [e.changes["monthly_budget_nusd"] for e in budgets] == [[None, 12_500_000_000], [12_500_000_000, None]]
    assert budgets[0].target_id == str(key.pk) and budgets[0].actor == org.admin


def test_an_operators_markup_change_in_admin_is_recorded(org):
    operator = get_user_model().objects.create_superuser("ops@example.com", "ops@example.com", "pw-ops-123456")
    staff = Client()
    staff.force_login(operator)
    ledger_post(organization_id=org.organization.pk, kind="grant", amount_nusd=USD)
    account = CreditAccount.objects.get(organization=org.organization)
    form = {
        "postpaid": "",
        "monthly_cap_nusd": "",
        "markup_bp": "2000",
        "stripe_customer_id": "",
        "stripe_payment_method_id": "",
        "auto_recharge_threshold_nusd": "0",
        "auto_recharge_amount_nusd": "0",
        "alert_thresholds_nusd": "[]",
        "adjust_usd": "",
        "adjust_note": "",
    }
    assert staff.post(f"/admin/billing/creditaccount/{account.pk}/change/", form).status_code == 302
    [entry] = _entries(org, "billing.settings")
    assert entry.actor == operator and entry.actor_label == "operator ops@example.com"
    assert entry.changes == {"markup_bp": [None, 2000]}
    assert CreditAccount.objects.get(pk=account.pk).balance_nusd == USD


def test_owners_see_the_log_of_their_organization_only(org, other_org):
    key, _ = apikey_create(organization=org.organization, name="mine", created_by=org.owner)
    theirs, _ = apikey_create(organization=other_org.organization, name="theirs", created_by=other_org.owner)
    org.client_for(org.owner).post(f"/keys/{key.pk}/revoke/")
    other_org.client_for(other_org.owner).post(f"/keys/{theirs.pk}/revoke/")
    page = org.client_for(org.owner).get("/audit/")
    html = page.content.decode()
    assert page.status_code == 200 and "key.revoke" in html and "mine" in html and "theirs" not in html
    assert 'id="audit-link"' in org.client_for(org.owner).get("/members/").content.decode()


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_nobody_else_sees_it(org, role):
    key, _ = apikey_create(organization=org.organization, name="secret-name", created_by=org.owner)
    org.client_for(org.owner).post(f"/keys/{key.pk}/revoke/")
    user = getattr(org, role)
    page = org.client_for(user).get("/audit/")
    assert page.status_code == 403 and "secret-name" not in page.content.decode()
    assert 'id="audit-link"' not in org.client_for(user).get("/members/").content.decode()
    assert Membership.objects.get(organization=org.organization, user=user).role == role
