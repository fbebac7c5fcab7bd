"""The management API: tokens, keys, members, invitations, the schema and its docs."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.keys import apikey_create
from accounts.models import ApiKey, Invitation, Membership
from accounts.tokens import management_token_create, management_token_revoke


def api_as(org, user) -> Client:
    """A client holding `user`'s management token for `org` (no session)."""
    _, raw = management_token_create(membership=org.membership(user), name="test")
    return Client(headers={"Authorization": f"Token {raw}"})


def call(client, method, url, data=None):
    return getattr(client, method)(url, data, content_type="application/json")


def test_it_authenticates_with_a_management_token_as_token_or_bearer(org):
    _, raw = management_token_create(membership=org.membership(org.member), name="ci")
    for scheme in ("Token", "Bearer"):
        response = Client(headers={"Authorization": f"{scheme} {raw}"}).get("/api/keys/")
        assert response.status_code == 200


def test_it_refuses_a_gateway_key_with_a_useful_message(org):
    _, secret = apikey_create(organization=org.organization, name="k", created_by=org.owner)
    response = Client(headers={"Authorization": f"Bearer {secret}"}).get("/api/keys/")
    assert response.status_code == 401
    assert "gateway API key" in response.json()["detail"]


def test_it_refuses_unknown_revoked_and_orphaned_tokens(org):
    assert Client().get("/api/keys/").status_code == 401
    assert Client(headers={"Authorization": "Token aip-mt-nope"}).get("/api/keys/").status_code == 401
    token, raw = management_token_create(membership=org.membership(org.member), name="ci")
    management_token_revoke(token=token)
    assert Client(headers={"Authorization": f"Token {raw}"}).get("/api/keys/").status_code == 401
    _, raw = management_token_create(membership=org.membership(org.admin), name="ci")
    org.membership(org.admin).delete()  # left the organization
    assert Client(headers={"Authorization": f"Token {raw}"}).get("/api/keys/").status_code == 401


def test_it_creates_a_key_and_returns_the_secret_once(org):
    api = api_as(org, org.member)
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    response = call(
        api,
        "post",
        "/api/keys/",
        {"name": "svc", "rpm_limit": 100, "tpm_limit": 50000, "allowed_models": ["auto-cheap"], "expires_at": expires},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert re.fullmatch(r"sk-aip-\w{38}", body["secret"]) and body["secret"].startswith(body["prefix"])
    assert (body["rpm_limit"], body["tpm_limit"], body["allowed_models"]) == (100, 50000, ["auto-cheap"])
    assert body["created_by"] == org.member.email and body["status"] == "active"
    assert "secret" not in call(api, "get", f"/api/keys/{body['id']}/").json()
    assert all("secret" not in k for k in call(api, "get", "/api/keys/").json())


def test_it_validates_limits_and_the_allow_list(org):
    api = api_as(org, org.owner)
    response = call(api, "post", "/api/keys/", {"name": "x", "rpm_limit": 0, "allowed_models": ["nope/nope"]})
    assert response.status_code == 400
    assert set(response.json()) == {"rpm_limit", "allowed_models"}


def test_it_changes_limits_revokes_and_rotates(org):
    api = api_as(org, org.member)
    key, _ = apikey_create(organization=org.organization, name="k", created_by=org.member)
    response = call(
        api,
        "patch",
        f"/api/keys/{key.pk}/",
        {"name": "renamed", "tpm_limit": 9000, "allowed_models": ["auto", "qwen/qwen-turbo"]},
    )
    assert response.status_code == 200, response.content
    key.refresh_from_db()
    assert (key.name, key.tpm_limit, key.allowed_models) == ("renamed", 9000, ["auto", "qwen/qwen-turbo"])

    response = call(api, "post", f"/api/keys/{key.pk}/rotate/", {"grace_seconds": 600})
    assert response.status_code == 201
    body = response.json()
    assert body["key"]["secret"].startswith(body["key"]["prefix"]) and body["key"]["tpm_limit"] == 9000
    key.refresh_from_db()
    assert key.revoked_at is None and key.expires_at <= timezone.now() + timedelta(seconds=600)

    assert call(api, "delete", f"/api/keys/{body['key']['id']}/").status_code == 204
    assert ApiKey.objects.get(pk=body["key"]["id"]).revoked_at is not None
    assert call(api, "patch", f"/api/keys/{body['key']['id']}/", {"name": "zombie"}).status_code == 400


def test_a_member_cannot_touch_another_members_key_and_a_viewer_no_key(org):
    theirs, _ = apikey_create(organization=org.organization, name="admin's", created_by=org.admin)
    member = api_as(org, org.member)
    assert call(member, "delete", f"/api/keys/{theirs.pk}/").status_code == 404
    assert call(member, "post", f"/api/keys/{theirs.pk}/rotate/", {}).status_code == 404
    assert [k["id"] for k in call(member, "get", "/api/keys/").json()] == []
    viewer = api_as(org, org.viewer)
    assert call(viewer, "get", "/api/keys/").status_code == 403
    assert call(viewer, "post", "/api/keys/", {"name": "nope"}).status_code == 403
    assert call(viewer, "delete", f"/api/keys/{theirs.pk}/").status_code == 403
    theirs.refresh_from_db()
    assert theirs.revoked_at is None and not ApiKey.objects.filter(name="nope").exists()
    owner = api_as(org, org.owner)
    assert call(owner, "delete", f"/api/keys/{theirs.pk}/").status_code == 204


def test_it_manages_members_with_the_same_rules(org):
    admin, owner = api_as(org, org.admin), api_as(org, org.owner)
    members = call(admin, "get", "/api/members/").json()
    assert {m["email"]: m["role"] for m in members} == {
        org.owner.email: "owner",
        org.admin.email: "admin",
        org.member.email: "member",
        org.viewer.email: "viewer",
    }
    member_id = org.membership(org.member).pk
    owner_id = org.membership(org.owner).pk
    assert call(admin, "patch", f"/api/members/{member_id}/", {"role": "viewer"}).json()["role"] == "viewer"
    response = call(admin, "patch", f"/api/members/{owner_id}/", {"role": "member"})
    assert response.status_code == 403 and "owner" in response.json()["detail"]
    response = call(owner, "patch", f"/api/members/{owner_id}/", {"role": "admin"})
    assert response.status_code == 403 and "needs an owner" in response.json()["detail"]
    assert call(owner, "delete", f"/api/members/{owner_id}/").status_code == 403
    assert call(api_as(org, org.viewer), "delete", f"/api/members/{member_id}/").status_code == 403
    assert call(admin, "delete", f"/api/members/{member_id}/").status_code == 204
    assert not Membership.objects.filter(pk=member_id).exists()


def test_it_invites_lists_and_cancels(org, mailoutbox):
    admin = api_as(org, org.admin)
    response = call(admin, "post", "/api/invitations/", {"email": "new@example.com", "role": "viewer"})
    assert response.status_code == 201, response.content
    assert mailoutbox[-1].to == ["new@example.com"] and "/invite/" in mailoutbox[-1].body
    assert "token" not in response.json()
    assert [i["email"] for i in call(admin, "get", "/api/invitations/").json()] == ["new@example.com"]
    assert call(admin, "post", "/api/invitations/", {"email": "o@example.com", "role": "owner"}).status_code == 403
    assert call(api_as(org, org.member), "get", "/api/invitations/").status_code == 403
    assert (
        call(
            api_as(org, org.member), "post", "/api/invitations/", {"email": "m@example.com", "role": "member"}
        ).status_code
        == 403
    )
    assert call(admin, "delete", f"/api/invitations/{response.json()['id']}/").status_code == 204
    assert not Invitation.objects.filter(email="new@example.com").exists()


def test_session_authentication_needs_the_csrf_token(org):
    web = Client(enforce_csrf_checks=True)
    web.force_login(org.owner)
    assert web.get("/api/keys/").status_code == 200
    assert call(web, "post", "/api/keys/", {"name": "csrf"}).status_code == 403


@pytest.mark.parametrize("auth", ["session", "token"])
def test_it_works_in_the_organization_of_the_session_or_token(org, other_org, auth):
    Membership.objects.create(organization=other_org.organization, user=org.owner, role="member")
    apikey_create(organization=other_org.organization, name="globex key", created_by=org.owner)
    if auth == "session":
        client = org.client_for(org.owner)  # current organization: Acme
    else:
        client = api_as(org, org.owner)  # a token for Acme
    assert "globex key" not in client.get("/api/keys/").content.decode()


def test_it_serves_an_openapi_schema_and_local_swagger_ui(org):
    web = org.client_for(org.member)
    schema = web.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/keys/", "/api/keys/{id}/rotate/", "/api/members/{id}/", "/api/invitations/"} <= set(schema["paths"])
    assert "managementToken" in schema["components"]["securitySchemes"]
    docs = web.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert not re.search(r'(src|href)="https?://', docs)  # nothing from a CDN
