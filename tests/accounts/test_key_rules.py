"""The API key rules are the services' (accounts.services), so the keys page and the management
API enforce the same ones: each test runs through both."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.keys import apikey_create
from accounts.models import ApiKey, AuditLog
from accounts.tokens import management_token_create


class Page:
    name = "page"

    def __init__(self, org, user):
        self.web = org.client_for(user)

    def create(self, name):
        return self.web.post("/keys/", {"name": name}).status_code

    def update(self, key, **fields):
        data = {"name": key.name, "rpm_limit": key.rpm_limit or "", "tpm_limit": key.tpm_limit or "", **fields}
        response = self.web.post(f"/keys/{key.pk}/", data)
        return response.status_code, response.content.decode()

    def revoke(self, key):
        return self.web.post(f"/keys/{key.pk}/revoke/").status_code

    def rotate(self, key):
        return self.web.post(f"/keys/{key.pk}/rotate/", {"grace": "0"}).status_code


class Api:
    name = "api"

    def __init__(self, org, user):
        _, raw = management_token_create(membership=org.membership(user), name="test")
        self.web = Client(headers={"Authorization": f"Token {raw}"})

    def create(self, name):
        return self.web.post("/api/keys/", {"name": name}, content_type="application/json").status_code

    def update(self, key, **fields):
        response = self.web.patch(f"/api/keys/{key.pk}/", fields, content_type="application/json")
        return response.status_code, response.content.decode()

    def revoke(self, key):
        return self.web.delete(f"/api/keys/{key.pk}/").status_code

    def rotate(self, key):
        return self.web.post(
            f"/api/keys/{key.pk}/rotate/", {"grace_seconds": 0}, content_type="application/json"
        ).status_code


@pytest.fixture(params=[Page, Api], ids=["page", "api"])
def channel(request):
    return request.param


def _audited(key, action) -> int:
    return AuditLog.objects.filter(target_type="apikey", target_id=str(key.pk), action=action).count()


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_it_refuses_to_change_a_key_that_is_not_active(org, channel, state):
    key, _ = apikey_create(organization=org.organization, name="old", created_by=org.owner)
    stamp = timezone.now() - timedelta(seconds=1)
    ApiKey.objects.filter(pk=key.pk).update(**{"revoked_at" if state == "revoked" else "expires_at": stamp})
    key.refresh_from_db()
    status, body = channel(org, org.owner).update(key, name="renamed", rpm_limit=7)
    assert status == 400
    assert f"This key is {state}; it can no longer be changed." in body
    key.refresh_from_db()
    assert key.name == "old" and key.rpm_limit is None
    assert _audited(key, "key.update") == 0
    assert channel(org, org.owner).rotate(key) in (302, 400)  # the page redirects with a message
    assert ApiKey.objects.filter(organization=org.organization).count() == 1


def test_it_changes_an_active_key_and_records_what_changed(org, channel):
    key, _ = apikey_create(organization=org.organization, name="old", created_by=org.member)
    status, _ = channel(org, org.member).update(key, name="new", rpm_limit=60)
    assert status in (200, 302)
    key.refresh_from_db()
    assert key.name == "new" and key.rpm_limit == 60
    entry = AuditLog.objects.get(target_type="apikey", target_id=str(key.pk), action="key.update")
    assert entry.actor == org.member and entry.organization_id == org.organization.pk
    assert entry.changes == {"name": ["old", "new"], "rpm_limit": [None, 60]}


def test_a_member_cannot_touch_another_members_key(org, channel):
    key, _ = apikey_create(organization=org.organization, name="admin's", created_by=org.admin)
    as_member = channel(org, org.member)
    assert as_member.update(key, name="pwned")[0] == 404
    assert as_member.revoke(key) == 404
    assert as_member.rotate(key) == 404
    key.refresh_from_db()
    assert key.name == "admin's" and key.revoked_at is None
    assert not AuditLog.objects.filter(target_type="apikey", target_id=str(key.pk)).exists()


def test_a_viewer_cannot_create_a_key(org, channel):
    assert channel(org, org.viewer).create("viewer's") == 403
    assert not ApiKey.objects.filter(name="viewer's").exists()


def test_revoking_twice_revokes_once(org, channel):
    key, _ = apikey_create(organization=org.organization, name="k", created_by=org.owner)
    client = channel(org, org.admin)
    assert client.revoke(key) in (204, 302)
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    assert client.revoke(key) in (204, 302)
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first is not None
    assert _audited(key, "key.revoke") == 1


def test_the_services_enforce_the_rules_whatever_the_caller_looked_up(org):
    """A view that forgot its selector still cannot break the rules."""
    theirs, _ = apikey_create(organization=org.organization, name="theirs", created_by=org.admin)
    member = org.membership(org.member)
    with pytest.raises(services.NotAllowed):
        services.apikey_update(actor=member, key=theirs, name="pwned")
    with pytest.raises(services.NotAllowed):
        services.apikey_revoke(actor=member, key=theirs)
    with pytest.raises(services.NotAllowed):
        services.apikey_rotate(actor=member, key=theirs, grace=timedelta(0))
    with pytest.raises(services.NotAllowed):
        services.apikey_create(actor=org.membership(org.viewer), name="v")
    theirs.refresh_from_db()
    assert theirs.name == "theirs" and theirs.revoked_at is None


def test_the_services_refuse_another_organizations_key(org, other_org):
    foreign, _ = apikey_create(organization=other_org.organization, name="foreign", created_by=other_org.owner)
    with pytest.raises(services.NotAllowed):
        services.apikey_revoke(actor=org.membership(org.owner), key=foreign)
    assert ApiKey.objects.get(pk=foreign.pk).revoked_at is None
