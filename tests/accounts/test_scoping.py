"""Tenant scoping is enforced: tenant-owned models answer queries only inside an organization's
scope, with that organization's rows only; outside one, a query raises. The escape hatches are
explicit (the admin, Celery tasks, commands, the gateway's lookups)."""

import pytest
from django.apps import apps
from django.test import Client
from django_scopes import ScopeError, scope, scopes_disabled
from django_scopes.state import state

from accounts.keys import apikey_create
from accounts.models import ApiKey, AuditLog, Invitation, ManagementToken, Membership, Organization
from accounts.scoping import organization_scope
from analytics.models import UsageRecord, UsageRollup
from billing.models import CheckoutSession, KeyBudget, LedgerEntry, MeterReport, Reservation, TrialGrant
from billing.services import ledger_post
from routing.models import StoredResponse

TENANT_OWNED = [
    ApiKey,
    Invitation,
    ManagementToken,
    AuditLog,
    LedgerEntry,
    Reservation,
    KeyBudget,
    TrialGrant,
    CheckoutSession,
    MeterReport,
    UsageRecord,
    StoredResponse,
    UsageRollup,
]


@pytest.fixture
def outside_any_scope():
    """As product code runs: no scope at all (the suite's tests otherwise run with scopes disabled)."""
    token = state.set({})
    yield
    state.reset(token)


@pytest.mark.parametrize("model", TENANT_OWNED, ids=lambda m: m.__name__)
def test_a_query_outside_a_scope_raises(db, outside_any_scope, model):
    with pytest.raises(ScopeError):
        list(model.objects.all())
    with pytest.raises(ScopeError):
        model.objects.filter(pk=1).exists()
    with pytest.raises(ScopeError):
        model.objects.count()


def test_inside_a_scope_only_that_organizations_rows_are_there(org, other_org, outside_any_scope):
    mine, _ = apikey_create(organization=org.organization, name="mine")
    theirs, _ = apikey_create(organization=other_org.organization, name="theirs")
    ledger_post(organization_id=org.organization.pk, kind="grant", amount_nusd=5)
    ledger_post(organization_id=other_org.organization.pk, kind="grant", amount_nusd=7)
    with organization_scope(org.organization.pk):
        assert list(ApiKey.objects.values_list("name", flat=True)) == ["mine"]
        assert not ApiKey.objects.filter(pk=theirs.pk).exists()
        assert [e.amount_nusd for e in LedgerEntry.objects.all()] == [5]
    with organization_scope(other_org.organization.pk):
        assert ApiKey.objects.get(pk=theirs.pk).name == "theirs"
        assert not ApiKey.objects.filter(pk=mine.pk).exists()
    with pytest.raises(ScopeError):
        ApiKey.objects.get(pk=mine.pk)


def test_the_gateways_recorder_writes_usage_rows_outside_any_scope(org, other_org, outside_any_scope):
    from django.utils import timezone

    from analytics import recorder

    rows = [
        UsageRecord(
            organization=o.organization,
            request_id=f"scoping-{o.organization.pk}",
            created_at=timezone.now(),
            requested_model="auto",
            status="ok",
        )
        for o in (org, other_org)
    ]
    recorder._write(rows)
    with organization_scope(org.organization.pk):
        assert list(UsageRecord.objects.values_list("request_id", flat=True)) == [f"scoping-{org.organization.pk}"]
    with pytest.raises(ScopeError):
        UsageRecord.objects.count()


def test_the_escape_hatch_is_explicit(org, other_org, outside_any_scope):
    apikey_create(organization=org.organization, name="a")
    apikey_create(organization=other_org.organization, name="b")
    with scopes_disabled():
        assert ApiKey.objects.filter(name__in=["a", "b"]).count() == 2


def test_every_model_with_an_organization_is_scoped_or_listed_here():
    """A new tenant-owned model must choose: scoped, or an explained exception."""
    unscoped = {
        "accounts.Membership": "a user's memberships are read across organizations (the switcher)",
        "billing.CreditAccount": "read by billing/reservations.py on the gateway's hot path",
    }
    found = set()
    for model in apps.get_models():
        fields = {f.name for f in model._meta.get_fields()}
        if "organization" not in fields or model is Organization:
            continue
        label = f"{model._meta.app_label}.{model.__name__}"
        if not hasattr(model._default_manager, "with_scopes_disabled"):
            found.add(label)
    assert found <= set(unscoped), found - set(unscoped)


def test_pages_run_in_the_current_organizations_scope(org, other_org):
    """The web client's requests start outside any scope (ScopeMiddleware), whatever the test holds."""
    theirs, _ = apikey_create(organization=other_org.organization, name="theirs", created_by=other_org.owner)
    web = org.client_for(org.owner)
    assert web.get("/keys/").status_code == 200
    assert web.get(f"/keys/{theirs.pk}/").status_code == 404
    assert web.get("/billing/").status_code == 200
    assert web.get("/audit/").status_code == 200


def test_the_admin_is_an_explicit_escape_hatch(org, other_org):
    from django.contrib.auth import get_user_model

    apikey_create(organization=org.organization, name="in-acme")
    apikey_create(organization=other_org.organization, name="in-globex")
    operator = get_user_model().objects.create_superuser("root@example.com", "root@example.com", "pw-ops-123456")
    staff = Client()
    staff.force_login(operator)
    html = staff.get("/admin/accounts/apikey/").content.decode()
    assert "in-acme" in html and "in-globex" in html


def test_the_scope_a_view_entered_does_not_outlive_it(org, outside_any_scope):
    org.client_for(org.owner).get("/keys/")
    with pytest.raises(ScopeError):
        ApiKey.objects.count()


def test_a_scope_is_never_left_open_by_the_management_api(org, outside_any_scope):
    from accounts.tokens import management_token_create

    with scopes_disabled():
        _, raw = management_token_create(
            membership=Membership.objects.get(organization=org.organization, user=org.owner), name="t"
        )
    api = Client(headers={"Authorization": f"Token {raw}"})
    assert api.get("/api/keys/").status_code == 200
    assert api.post("/api/keys/", {"name": "via api"}, content_type="application/json").status_code == 201
    with pytest.raises(ScopeError):
        ApiKey.objects.count()
    with scope(organization=org.organization.pk):
        assert ApiKey.objects.filter(name="via api").count() == 1
