"""Roles: who changes roles and removes members; the last owner stays."""

import pytest

from accounts.models import ManagementToken, Membership
from accounts.orgs import NotAllowed, membership_change_role, membership_remove
from accounts.tokens import management_token_create


def role_of(org, user):
    return Membership.objects.filter(organization=org.organization, user=user).values_list("role", flat=True).first()


def test_it_lists_the_members_with_their_roles(org):
    page = org.client_for(org.viewer).get("/members/").content.decode()
    for user in (org.owner, org.admin, org.member, org.viewer):
        assert user.email in page
    assert "Invite someone" not in page


def test_it_lets_an_admin_change_roles_below_owner(org):
    web = org.client_for(org.admin)
    web.post(f"/members/{org.membership(org.member).pk}/role/", {"role": "viewer"})
    assert role_of(org, org.member) == "viewer"
    web.post(f"/members/{org.membership(org.member).pk}/role/", {"role": "owner"})
    assert role_of(org, org.member) == "viewer"
    web.post(f"/members/{org.membership(org.owner).pk}/role/", {"role": "member"})
    assert role_of(org, org.owner) == "owner"


def test_it_lets_an_owner_make_another_owner(org):
    org.client_for(org.owner).post(f"/members/{org.membership(org.admin).pk}/role/", {"role": "owner"})
    assert role_of(org, org.admin) == "owner"


@pytest.mark.parametrize("actor", ["member", "viewer"])
def test_it_refuses_role_changes_and_removals_to_members_and_viewers(org, actor):
    web = org.client_for(getattr(org, actor))
    target = org.membership(org.admin)
    response = web.post(f"/members/{target.pk}/role/", {"role": "viewer"}, follow=True)
    assert "Only owners and admins" in response.content.decode()
    web.post(f"/members/{target.pk}/remove/")
    assert role_of(org, org.admin) == "admin"


def test_it_removes_a_member_and_their_management_tokens(org):
    management_token_create(membership=org.membership(org.member), name="ci")
    org.client_for(org.admin).post(f"/members/{org.membership(org.member).pk}/remove/")
    assert role_of(org, org.member) is None
    assert not ManagementToken.objects.filter(organization=org.organization, user=org.member).exists()


def test_it_lets_a_member_leave(org):
    web = org.client_for(org.member)
    response = web.post(f"/members/{org.membership(org.member).pk}/remove/")
    assert response.status_code == 302
    assert role_of(org, org.member) is None
    # Back in their personal organization.
    assert web.get("/keys/").status_code == 200


def test_it_keeps_the_last_owner(org):
    web = org.client_for(org.owner)
    me = org.membership(org.owner)
    response = web.post(f"/members/{me.pk}/role/", {"role": "admin"}, follow=True)
    assert "needs an owner" in response.content.decode()
    response = web.post(f"/members/{me.pk}/remove/", follow=True)
    assert "needs an owner" in response.content.decode()
    assert role_of(org, org.owner) == "owner"


def test_it_lets_an_owner_leave_once_there_is_another(org):
    membership_change_role(actor=org.membership(org.owner), target=org.membership(org.admin), role="owner")
    membership_remove(actor=org.membership(org.owner), target=org.membership(org.owner))
    assert role_of(org, org.owner) is None


def test_the_services_enforce_the_same_rules(org):
    owner, admin = org.membership(org.owner), org.membership(org.admin)
    with pytest.raises(NotAllowed):
        membership_change_role(actor=admin, target=owner, role="member")
    with pytest.raises(NotAllowed):
        membership_remove(actor=admin, target=owner)
    with pytest.raises(NotAllowed):
        membership_change_role(actor=owner, target=owner, role="viewer")
    with pytest.raises(NotAllowed):
        membership_change_role(actor=owner, target=admin, role="superuser")


def test_it_switches_between_organizations(org, other_org):
    Membership.objects.create(organization=other_org.organization, user=org.member, role="viewer")
    web = org.client_for(org.member)
    header = web.get("/members/").content.decode()
    assert "Acme · member" in header and "Globex · viewer" in header
    response = web.post("/orgs/switch/", {"organization": other_org.organization.pk, "next": "/members/"})
    assert response["Location"] == "/members/"
    assert "Members of Globex" in web.get("/members/").content.decode()
    assert web.get("/keys/").status_code == 403  # a viewer there


def test_it_does_not_switch_to_an_organization_the_user_is_not_in(org, other_org):
    web = org.client_for(org.owner)
    assert web.post("/orgs/switch/", {"organization": other_org.organization.pk}).status_code == 404
    assert "Members of Acme" in web.get("/members/").content.decode()


def test_it_does_not_follow_a_foreign_next_url(org):
    web = org.client_for(org.owner)
    response = web.post("/orgs/switch/", {"organization": org.organization.pk, "next": "https://evil.example/"})
    assert response["Location"] == "/keys/"


def test_it_creates_an_organization_with_its_creator_as_owner(org):
    web = org.client_for(org.viewer)
    web.post("/orgs/new/", {"name": "Side project"})
    m = Membership.objects.get(user=org.viewer, organization__name="Side project")
    assert m.role == "owner"
    assert "Members of Side project" in web.get("/members/").content.decode()
