"""The free trial: granted when an email address is verified, once per address, whoever asks."""

import random
import re
import uuid

from django.test import Client

from billing.models import CreditAccount, LedgerEntry, TrialGrant
from billing.services import trial_grant
from tests.accounts.conftest import make_org

CONFIRM = re.compile(r"http://testserver(/accounts/confirm-email/[^/\s]+/)")
PASSWORD = "a long enough passphrase 123"


def sign_up(email: str, mailoutbox) -> Client:
    web = Client(REMOTE_ADDR=f"10.9.{random.randint(0, 255)}.{random.randint(1, 254)}")
    web.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    return web


def confirm(web: Client, mailoutbox, email: str):
    message = [m for m in mailoutbox if email in m.to][-1]
    return web.post(CONFIRM.search(message.body).group(1))


def org_of(email: str):
    from accounts.models import Membership

    return Membership.objects.get(user__email=email, role="owner").organization


def test_it_grants_the_trial_when_the_email_is_verified(db, mailoutbox, settings):
    settings.AIPOWER_TRIAL_CREDIT_NUSD = 2_000_000_000
    email = f"t-{uuid.uuid4().hex[:8]}@example.com"
    web = sign_up(email, mailoutbox)
    org = org_of(email)
    assert not LedgerEntry.objects.filter(organization=org).exists()  # not before verification
    confirm(web, mailoutbox, email)
    entry = LedgerEntry.objects.get(organization=org)
    assert (entry.kind, entry.amount_nusd, entry.grant_key) == ("grant", 2_000_000_000, f"trial:{email}")
    assert CreditAccount.objects.get(organization=org).balance_nusd == 2_000_000_000
    page = web.get("/billing/").content.decode()
    assert "$2.00" in page


def test_it_grants_once_per_address_even_across_users_and_organizations(db):
    a, b = make_org(), make_org()
    email = f"Same-{uuid.uuid4().hex[:6]}@Example.com"
    assert trial_grant(email=email, organization_id=a.organization.pk) is not None
    assert trial_grant(email=email, organization_id=a.organization.pk) is None
    assert trial_grant(email=email.lower(), organization_id=b.organization.pk) is None  # case does not matter
    assert TrialGrant.objects.filter(email=email.lower()).count() == 1
    assert not LedgerEntry.objects.filter(organization=b.organization).exists()


def test_an_organization_gets_one_trial_whatever_addresses_its_owner_verifies(db):
    a = make_org()
    assert trial_grant(email=f"x-{uuid.uuid4().hex[:6]}@example.com", organization_id=a.organization.pk)
    assert trial_grant(email=f"y-{uuid.uuid4().hex[:6]}@example.com", organization_id=a.organization.pk) is None


def test_a_deleted_and_recreated_account_gets_no_second_trial(db, mailoutbox):
    email = f"again-{uuid.uuid4().hex[:8]}@example.com"
    web = sign_up(email, mailoutbox)
    confirm(web, mailoutbox, email)
    first = org_of(email)
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(email=email).delete()
    web = sign_up(email, mailoutbox)
    confirm(web, mailoutbox, email)
    second = org_of(email)
    assert second.pk != first.pk
    assert not LedgerEntry.objects.filter(organization=second).exists()


def test_a_zero_trial_grants_nothing(db, settings):
    settings.AIPOWER_TRIAL_CREDIT_NUSD = 0
    assert trial_grant(email="z@example.com", organization_id=make_org().organization.pk) is None
