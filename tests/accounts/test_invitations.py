"""Invitations by email: an existing user or a new one joins with the invited role."""

import re

import pytest
from django.test import Client

from accounts.models import Invitation, Membership

from .conftest import PASSWORD, make_user

LINK = re.compile(r"http://testserver(/invite/[0-9A-Za-z]+/)")


def invite(org, mailoutbox, email, role="member", actor=None):
    web = org.client_for(actor or org.owner)
    response = web.post("/members/invite/", {"email": email, "role": role})
    assert response.status_code == 302, response.content.decode()
    message = mailoutbox[-1]
    assert message.to == [email]
    return LINK.search(message.body).group(1)


def test_it_emails_a_link_that_an_existing_user_accepts(org, mailoutbox):
    newcomer = make_user("newcomer@example.com")
    link = invite(org, mailoutbox, "Newcomer@Example.com", role="admin")
    assert mailoutbox[-1].subject == "[AIPower] Join Acme"
    web = Client()
    web.force_login(newcomer)
    page = web.get(link).content.decode()
    assert "Join Acme" in page and "as\n     <strong>admin</strong>" in page
    response = web.post(link)
    assert response.status_code == 302
    assert Membership.objects.get(organization=org.organization, user=newcomer).role == "admin"
    assert "Members of Acme" in web.get("/members/").content.decode()  # switched to it
    assert web.post(link).status_code == 404  # used


def test_it_refuses_an_invitation_to_another_address(org, mailoutbox):
    link = invite(org, mailoutbox, "someone@example.com")
    intruder = make_user("intruder@example.com")
    web = Client()
    web.force_login(intruder)
    response = web.post(link)
    assert response.status_code == 403 and "This invitation is for someone@example.com" in response.content.decode()
    assert not Membership.objects.filter(organization=org.organization, user=intruder).exists()


def test_a_new_user_signs_up_from_the_link_without_a_second_verification(org, mailoutbox):
    link = invite(org, mailoutbox, "fresh@example.com", role="viewer")
    web = Client()
    page = web.get(link).content.decode()
    assert "Create an account" in page
    signup = web.get(f"/accounts/signup/?next={link}").content.decode()
    assert 'value="fresh@example.com"' in signup
    response = web.post(
        f"/accounts/signup/?next={link}",
        {"email": "fresh@example.com", "password1": PASSWORD, "password2": PASSWORD, "next": link},
    )
    assert response.status_code == 302 and response["Location"] == link
    sent = len(mailoutbox)
    assert web.post(link).status_code == 302
    assert len(mailoutbox) == sent  # no verification email: the invitation proved the address
    user = Membership.objects.get(organization=org.organization, role="viewer", user__email="fresh@example.com").user
    # ... and they have their own organization too.
    assert Membership.objects.filter(user=user, role="owner").exclude(organization=org.organization).exists()


def test_it_lets_admins_invite_but_not_as_owner(org, mailoutbox):
    web = org.client_for(org.admin)
    response = web.post("/members/invite/", {"email": "boss@example.com", "role": "owner"})
    assert response.status_code == 400
    assert not Invitation.objects.filter(email="boss@example.com").exists()
    invite(org, mailoutbox, "helper@example.com", role="admin", actor=org.admin)


@pytest.mark.parametrize("actor", ["member", "viewer"])
def test_it_refuses_invitations_from_members_and_viewers(org, actor):
    web = org.client_for(getattr(org, actor))
    web.post("/members/invite/", {"email": "x@example.com", "role": "member"})
    assert not Invitation.objects.filter(email="x@example.com").exists()


def test_it_refuses_to_invite_a_member(org):
    response = org.client_for(org.owner).post("/members/invite/", {"email": org.member.email, "role": "admin"})
    assert response.status_code == 400 and "already a member" in response.content.decode()


def test_it_cancels_an_invitation(org, mailoutbox):
    link = invite(org, mailoutbox, "maybe@example.com")
    invitation = Invitation.objects.get(email="maybe@example.com")
    org.client_for(org.admin).post(f"/invitations/{invitation.pk}/cancel/")
    assert Client().get(link).status_code == 404


def test_a_new_invitation_replaces_the_pending_one(org, mailoutbox):
    first = invite(org, mailoutbox, "twice@example.com")
    second = invite(org, mailoutbox, "twice@example.com", role="viewer")
    assert Client().get(first).status_code == 404 and Client().get(second).status_code == 200
    assert Invitation.objects.get(email="twice@example.com").role == "viewer"


def test_an_expired_invitation_is_refused(org, mailoutbox):
    from django.utils import timezone

    link = invite(org, mailoutbox, "late@example.com")
    Invitation.objects.filter(email="late@example.com").update(expires_at=timezone.now())
    assert Client().get(link).status_code == 404


def test_the_email_is_plain_text(db, mailoutbox):
    from accounts.orgs import invitation_create, invitation_send
    from accounts.tenancy import memberships_of

    owner = make_user("pat@example.com")
    invitation, raw = invitation_create(actor=memberships_of(owner).get(), email="sam@example.com", role="member")
    invitation_send(invitation=invitation, accept_url=f"http://testserver/invite/{raw}/")
    assert mailoutbox[-1].subject == "[AIPower] Join pat's organization"
    assert "pat's organization" in mailoutbox[-1].body and f"/invite/{raw}/" in mailoutbox[-1].body
