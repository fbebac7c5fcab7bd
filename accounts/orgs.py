"""Organizations, memberships and invitations: the services that change them.

The rules about roles live here, so that the web pages and the management API enforce the same
ones: owners and admins manage members and invitations; only owners grant or take away the owner
role; an organization always keeps at least one owner.
"""

from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .audit import audit_record
from .crypto import digest, random_token
from .models import Invitation, ManagementToken, Membership, Organization
from .scoping import organization_scope, scopes_disabled

Role = Membership.Role
INVITATION_TTL = timedelta(days=7)


class NotAllowed(Exception):
    """The actor may not do this; the message says why, in words fit for the user."""


def unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def organization_row_create(name: str) -> Organization:
    """A new organization under a free slug from its name. Two created at once under the same name
    may pick the same slug; the one that loses the race picks again."""
    for attempt in range(10):
        try:
            with transaction.atomic():
                return Organization.objects.create(name=name, slug=unique_slug(name))
        except IntegrityError:
            if attempt == 9:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def organization_create(*, name: str, owner) -> Organization:
    org = organization_row_create(name)
    Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
    return org


def organization_create_personal(*, user) -> Organization:
    who = user.get_full_name() or (user.email or user.get_username()).split("@")[0]
    return organization_create(name=f"{who}'s organization", owner=user)


# --- Roles ------------------------------------------------------------------------------------


def assignable_roles(actor: Membership) -> list[str]:
    """The roles `actor` may give to someone (by invitation or change)."""
    if actor.role == Role.OWNER:
        return [r.value for r in Role]
    if actor.role == Role.ADMIN:
        return [Role.ADMIN, Role.MEMBER, Role.VIEWER]
    return []


def _check_manages(actor: Membership, target: Membership | None = None) -> None:
    if not actor.is_manager:
        raise NotAllowed("Only owners and admins manage the members of an organization.")
    if target is not None and target.role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can change or remove another owner.")


def _check_keeps_an_owner(target: Membership) -> None:
    """Call inside a transaction: locks the owners' rows so that two demotions cannot race."""
    if target.role != Role.OWNER:
        return
    owners = list(
        Membership.objects.select_for_update()
        .filter(organization_id=target.organization_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )
    if owners == [target.pk]:
        raise NotAllowed("An organization needs an owner: make someone else owner first.")


@transaction.atomic
def membership_change_role(*, actor: Membership, target: Membership, role: str) -> Membership:
    assert actor.organization_id == target.organization_id
    if role not in Role.values:
        raise NotAllowed(f"Unknown role {role!r}.")
    _check_manages(actor, target)
    if role not in assignable_roles(actor):
        raise NotAllowed("Only an owner can make someone an owner.")
    if role == target.role:
        return target
    if role != Role.OWNER:
        _check_keeps_an_owner(target)
    before = target.role
    target.role = role
    target.save(update_fields=["role"])
    audit_record(
        organization_id=target.organization_id,
        actor=actor,
        action="member.role",
        target=target,
        target_label=_who(target),
        changes={"role": [before, role]},
    )
    return target


def _who(membership: Membership) -> str:
    return membership.user.email or membership.user.get_username()


@transaction.atomic
def membership_remove(*, actor: Membership, target: Membership) -> None:
    """Removes `target` from the organization; `actor == target` is leaving it."""
    assert actor.organization_id == target.organization_id
    if actor.pk != target.pk:
        _check_manages(actor, target)
    _check_keeps_an_owner(target)
    # A management token acts as its user in its organization: it goes with the membership.
    ManagementToken.objects.filter(organization_id=target.organization_id, user_id=target.user_id).delete()
    audit_record(
        organization_id=target.organization_id,
        actor=actor,
        target=target,
        target_label=_who(target),
        action="member.leave" if actor.pk == target.pk else "member.remove",
        changes={"role": [target.role, None]},
    )
    target.delete()


# --- Invitations ------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str) -> tuple[Invitation, str]:
    """Creates an invitation and returns it with the token for its link (not stored)."""
    _check_manages(actor)
    if role not in assignable_roles(actor):
        raise NotAllowed("Only an owner can invite an owner.")
    email = email.strip()
    org = actor.organization
    if Membership.objects.filter(organization=org, user__email__iexact=email).exists():
        raise NotAllowed(f"{email} is already a member of {org.name}.")
    # A new invitation replaces an earlier pending one for the same address.
    Invitation.objects.filter(organization=org, email__iexact=email, accepted_at__isnull=True).delete()
    raw = random_token(40)
    invitation = Invitation.objects.create(
        organization=org,
        email=email,
        role=role,
        token_hash=digest(raw),
        invited_by=actor.user,
        expires_at=timezone.now() + INVITATION_TTL,
    )
    audit_record(
        organization_id=org.pk,
        actor=actor,
        action="invitation.create",
        target=invitation,
        target_label=email,
        changes={"email": [None, email], "role": [None, role]},
    )
    return invitation, raw


def invitation_invite(*, actor: Membership, email: str, role: str, absolute_url: Callable[[str], str]) -> Invitation:
    """Creates an invitation and emails its link; `absolute_url` makes the link's path a full URL
    (the request's build_absolute_uri)."""
    invitation, raw = invitation_create(actor=actor, email=email, role=role)
    invitation_send(invitation=invitation, accept_url=absolute_url(reverse("accounts:invitation-accept", args=[raw])))
    return invitation


@transaction.atomic
def invitation_cancel(*, actor: Membership, invitation: Invitation) -> None:
    assert actor.organization_id == invitation.organization_id
    _check_manages(actor)
    audit_record(
        organization_id=invitation.organization_id,
        actor=actor,
        action="invitation.cancel",
        target=invitation,
        target_label=invitation.email,
        changes={"role": [invitation.role, None]},
    )
    invitation.delete()


def invitation_for_token(raw: str) -> Invitation | None:
    """The pending invitation a link's token is for, or None (unknown, used or expired)."""
    with scopes_disabled():  # found by its token, whoever follows the link
        invitation = Invitation.objects.select_related("organization").filter(token_hash=digest(raw)).first()
    if invitation is None or not invitation.is_pending:
        return None
    return invitation


def user_has_verified_email(user, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    with organization_scope(invitation.organization_id):
        return _accept(invitation=invitation, user=user)


def _accept(*, invitation: Invitation, user) -> Membership:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise NotAllowed("This invitation has expired or was already used.")
    if not user_has_verified_email(user, invitation.email):
        raise NotAllowed(
            f"This invitation is for {invitation.email}. Sign in with that address (verified) to accept it."
        )
    membership, joined = Membership.objects.get_or_create(
        organization_id=invitation.organization_id, user=user, defaults={"role": invitation.role}
    )
    if joined:
        audit_record(
            organization_id=membership.organization_id,
            actor=membership,
            action="member.join",
            target=membership,
            target_label=_who(membership),
            changes={"role": [None, membership.role], "invited_by": [None, invitation.invited_by_id]},
        )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def invitation_send(*, invitation: Invitation, accept_url: str) -> None:
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    context = {"invitation": invitation, "accept_url": accept_url}
    subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
    body = render_to_string("accounts/email/invitation_message.txt", context)
    send_mail(subject, body, None, [invitation.email])
