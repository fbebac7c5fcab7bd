"""Nobody reaches another organization's keys, members, invitations or tokens, whatever the id: 404."""

import pytest
from django.test import Client

from accounts.keys import apikey_create
from accounts.models import ApiKey, Invitation, ManagementToken, Membership
from accounts.orgs import invitation_create
from accounts.tokens import management_token_create


@pytest.fixture
def theirs(other_org):
    """Rows of the other organization, and a snapshot to check that nothing changed."""
    key, _ = apikey_create(organization=other_org.organization, name="theirs", created_by=other_org.member)
    invitation, _ = invitation_create(actor=other_org.membership(other_org.owner), email="x@example.com", role="member")
    token, _ = management_token_create(membership=other_org.membership(other_org.member), name="theirs")
    rows = {
        "key": key,
        "member": other_org.membership(other_org.member),
        "invitation": invitation,
        "token": token,
        "org": other_org.organization,
    }

    def unchanged():
        fresh = ApiKey.objects.get(pk=key.pk)
        assert (fresh.name, fresh.revoked_at, fresh.expires_at, fresh.rpm_limit) == ("theirs", None, None, None)
        assert ApiKey.objects.filter(organization=other_org.organization).count() == 1
        assert Membership.objects.get(pk=rows["member"].pk).role == "member"
        assert Invitation.objects.filter(pk=invitation.pk).exists()
        assert ManagementToken.objects.get(pk=token.pk).revoked_at is None

    rows["unchanged"] = unchanged
    return rows


PAGES = [
    ("get", "/keys/{key}/", {}),
    ("post", "/keys/{key}/", {"name": "pwned", "rpm_limit": "1"}),
    ("post", "/keys/{key}/revoke/", {}),
    ("post", "/keys/{key}/rotate/", {"grace": "0"}),
    ("post", "/members/{member}/role/", {"role": "viewer"}),
    ("post", "/members/{member}/remove/", {}),
    ("post", "/invitations/{invitation}/cancel/", {}),
    ("post", "/tokens/{token}/revoke/", {}),
    ("post", "/orgs/switch/", {"organization": "{org}"}),
]


def fill(template: str, rows) -> str:
    return template.format(**{k: v.pk for k, v in rows.items() if hasattr(v, "pk")})


@pytest.mark.parametrize("method, url, data", PAGES, ids=[f"{m} {u}" for m, u, _ in PAGES])
def test_it_answers_404_on_every_page_for_another_organizations_ids(org, theirs, method, url, data):
    web = org.client_for(org.owner)
    data = {k: fill(v, theirs) for k, v in data.items()}
    response = getattr(web, method)(fill(url, theirs), data)
    assert response.status_code == 404
    theirs["unchanged"]()


def test_the_lists_show_nothing_of_another_organization(org, theirs):
    web = org.client_for(org.owner)
    keys = web.get("/keys/").content.decode()
    members = web.get("/members/").content.decode()
    tokens = web.get("/tokens/").content.decode()
    assert theirs["key"].prefix not in keys and "theirs" not in keys
    assert theirs["member"].user.email not in members and "x@example.com" not in members
    assert theirs["token"].prefix not in tokens
    assert "Globex" not in keys  # not even in the organization switcher


API = [
    ("get", "/api/keys/{key}/", None),
    ("patch", "/api/keys/{key}/", {"name": "pwned"}),
    ("delete", "/api/keys/{key}/", None),
    ("post", "/api/keys/{key}/rotate/", {"grace_seconds": 0}),
    ("get", "/api/members/{member}/", None),
    ("patch", "/api/members/{member}/", {"role": "viewer"}),
    ("delete", "/api/members/{member}/", None),
    ("get", "/api/invitations/{invitation}/", None),
    ("delete", "/api/invitations/{invitation}/", None),
]


@pytest.mark.parametrize("auth", ["session", "token"])
@pytest.mark.parametrize("method, url, data", API, ids=[f"{m} {u}" for m, u, _ in API])
def test_it_answers_404_on_every_api_endpoint_for_another_organizations_ids(org, theirs, auth, method, url, data):
    if auth == "session":
        api = org.client_for(org.owner)
        headers = {}
    else:
        _, raw = management_token_create(membership=org.membership(org.owner), name="t")
        api, headers = Client(), {"Authorization": f"Token {raw}"}
    response = getattr(api, method)(fill(url, theirs), data, content_type="application/json", headers=headers)
    assert response.status_code == 404, response.content
    theirs["unchanged"]()


@pytest.mark.parametrize("url", ["/api/keys/", "/api/members/", "/api/invitations/"])
def test_the_api_lists_show_nothing_of_another_organization(org, theirs, url):
    body = org.client_for(org.owner).get(url).content.decode()
    assert theirs["key"].prefix not in body
    assert theirs["member"].user.email not in body and "x@example.com" not in body
