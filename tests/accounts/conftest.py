"""Fixtures for the accounts tests: two organizations, each with a user of every role.

`org` and `other_org` are built in the test's transaction (rolled back); tests that need a real
server use `live_org` (committed, unique names) instead.
"""

import uuid
from dataclasses import dataclass

import pytest
from django.test import Client

from accounts.models import Membership, Organization

PASSWORD = "correct horse battery staple"


def make_user(email: str | None = None, *, password: str = PASSWORD):
    """A signed-up user: verified email, personal organization (as sign-up does)."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    from accounts.orgs import organization_create_personal

    email = email or f"u-{uuid.uuid4().hex[:10]}@example.com"
    user = get_user_model().objects.create_user(username=email, email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    organization_create_personal(user=user)
    return user


@dataclass
class Org:
    organization: Organization
    owner: object
    admin: object
    member: object
    viewer: object

    def membership(self, user) -> Membership:
        return Membership.objects.get(organization=self.organization, user=user)

    def client_for(self, user) -> Client:
        """A web client signed in as `user`, working in this organization."""
        from accounts.tenancy import SESSION_KEY

        client = Client()
        client.force_login(user)
        session = client.session
        session[SESSION_KEY] = self.organization.pk
        session.save()
        return client


def make_org(name: str | None = None) -> Org:
    from accounts.orgs import organization_create

    tag = uuid.uuid4().hex[:8]
    owner = make_user(f"owner-{tag}@example.com")
    org = organization_create(name=name or f"Org {tag}", owner=owner)
    users = {}
    for role in ("admin", "member", "viewer"):
        users[role] = make_user(f"{role}-{tag}@example.com")
        Membership.objects.create(organization=org, user=users[role], role=role)
    return Org(organization=org, owner=owner, **users)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness, times four users an organization, would dominate the suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def catalog(live_db):
    """The seed catalog (committed once per session by live_db): what allow-lists may name."""


@pytest.fixture
def org(catalog, db):
    return make_org("Acme")


@pytest.fixture
def other_org(catalog, db):
    return make_org("Globex")


@pytest.fixture
def live_org(live_db):
    """An organization committed for the real gateway to see, with credit to spend there."""
    from billing.services import ledger_post
    from tests.conftest import TEST_CREDIT_NUSD

    with live_db.unblock():
        org = make_org()
        ledger_post(
            organization_id=org.organization.pk,
            kind="grant",
            amount_nusd=TEST_CREDIT_NUSD,
            note="test credit",
            grant_key=f"test:{org.organization.pk}",
        )
        yield org


@pytest.fixture
def live_other_org(live_db):
    with live_db.unblock():
        yield make_org()
