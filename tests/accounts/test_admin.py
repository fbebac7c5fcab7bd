"""Django admin: operators find users, organizations, memberships and keys; no secret is shown."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.keys import apikey_create
from accounts.orgs import invitation_create
from accounts.tokens import management_token_create


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "x")
    web = Client()
    web.force_login(user)
    return web


def test_it_lists_and_searches_everything_an_operator_needs(operator, org):
    key, secret = apikey_create(organization=org.organization, name="findme", created_by=org.member)
    invitation_create(actor=org.membership(org.owner), email="inv@example.com", role="viewer")
    management_token_create(membership=org.membership(org.admin), name="ops token")
    for url, expect in [
        (f"/admin/auth/user/?q={org.member.email}", org.member.email),
        ("/admin/accounts/organization/?q=Acme", "Acme"),
        (f"/admin/accounts/organization/?q={org.viewer.email}", "Acme"),
        ("/admin/accounts/membership/?role=viewer", org.viewer.email),
        ("/admin/accounts/apikey/?q=findme&status=active", key.prefix),
        ("/admin/accounts/invitation/?q=inv@example.com", "inv@example.com"),
        ("/admin/accounts/managementtoken/?q=ops+token", "ops token"),
    ]:
        response = operator.get(url)
        assert response.status_code == 200, url
        assert expect in response.content.decode(), url


def test_it_never_shows_a_secret_or_its_hash(operator, org):
    key, secret = apikey_create(organization=org.organization, name="k", created_by=org.member)
    token, raw = management_token_create(membership=org.membership(org.admin), name="t")
    for url in (
        f"/admin/accounts/apikey/{key.pk}/change/",
        "/admin/accounts/apikey/",
        f"/admin/accounts/managementtoken/{token.pk}/change/",
    ):
        page = operator.get(url).content.decode()
        assert secret not in page and key.secret_hash not in page
        assert raw not in page and token.token_hash not in page
    assert operator.get("/admin/accounts/apikey/add/").status_code == 403


def test_it_lets_an_operator_change_limits(operator, org):
    key, _ = apikey_create(organization=org.organization, name="k", created_by=org.member)
    page = operator.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert 'name="rpm_limit"' in page and 'name="tpm_limit"' in page and 'name="allowed_models"' in page
