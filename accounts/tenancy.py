"""The current organization of a request, and the queries scoped by it.

A signed-in user works in one organization at a time (kept in the session; the header's switcher
changes it). Everything a page or an API call reads goes through the selectors below, which take
the caller's Membership: a row of another organization is simply not found (404), whatever its id.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect

from .models import ApiKey, Invitation, ManagementToken, Membership
from .scoping import organization_scope

SESSION_KEY = "aipower_org_id"


def memberships_of(user) -> QuerySet:
    return Membership.objects.filter(user=user).select_related("organization").order_by("created_at", "pk")


def current_membership(request) -> Membership | None:
    """The signed-in user's membership in the organization they are working in (None: they have none)."""
    if hasattr(request, "_aipower_membership"):
        return request._aipower_membership
    membership = None
    if request.user.is_authenticated:
        mine = memberships_of(request.user)
        org_id = request.session.get(SESSION_KEY)
        if org_id is not None:
            membership = mine.filter(organization_id=org_id).first()
        if membership is None:
            membership = mine.first()
            if membership is not None:
                request.session[SESSION_KEY] = membership.organization_id
    request._aipower_membership = membership
    return membership


def switch_organization(request, organization_id: int) -> Membership:
    membership = get_object_or_404(memberships_of(request.user), organization_id=organization_id)
    request.session[SESSION_KEY] = membership.organization_id
    request._aipower_membership = membership
    return membership


def member_required(view):
    """Signed in and in an organization: the view gets request.membership, and runs inside its
    organization's scope (accounts.scoping): another organization's rows are not there."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        request.membership = current_membership(request)
        if request.membership is None:
            return redirect("accounts:org-new")
        with organization_scope(request.membership.organization_id):
            return view(request, *args, **kwargs)

    return wrapper


# --- Selectors ----------------------------------------------------------------------------------


def keys_of(membership: Membership) -> QuerySet:
    """The keys `membership` manages: all of the organization's for owners and admins, their own for
    members. Viewers manage none (PermissionDenied)."""
    if not membership.can_use_keys:
        raise PermissionDenied("Viewers cannot see or manage API keys.")
    keys = ApiKey.objects.filter(organization_id=membership.organization_id).select_related("created_by")
    if not membership.is_manager:
        keys = keys.filter(created_by_id=membership.user_id)
    return keys


def members_of(membership: Membership) -> QuerySet:
    return (
        Membership.objects.filter(organization_id=membership.organization_id)
        .select_related("user")
        .order_by("created_at", "pk")
    )


def invitations_of(membership: Membership) -> QuerySet:
    """Pending (not accepted) invitations; only owners and admins see them."""
    if not membership.is_manager:
        raise PermissionDenied("Only owners and admins see invitations.")
    return (
        Invitation.objects.filter(organization_id=membership.organization_id, accepted_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def tokens_of(membership: Membership) -> QuerySet:
    """A user's own management tokens in the organization."""
    return ManagementToken.objects.filter(
        organization_id=membership.organization_id, user_id=membership.user_id, revoked_at__isnull=True
    ).order_by("-created_at")
