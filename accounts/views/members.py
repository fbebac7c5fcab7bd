"""Members and invitations of the current organization."""

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from ..forms import InviteForm, RoleForm
from ..orgs import (
    NotAllowed,
    assignable_roles,
    invitation_accept,
    invitation_cancel,
    invitation_for_token,
    invitation_invite,
    membership_change_role,
    membership_remove,
)
from ..tenancy import SESSION_KEY, invitations_of, member_required, members_of, switch_organization


def _page(request, invite_form=None, status=200):
    m = request.membership
    context = {
        "members": members_of(m),
        "assignable_roles": assignable_roles(m),
        "invitations": invitations_of(m) if m.is_manager else [],
        "invite_form": invite_form or InviteForm(roles=assignable_roles(m)),
    }
    return render(request, "accounts/members.html", context, status=status)


@member_required
def member_list(request):
    return _page(request)


@member_required
@require_POST
def member_invite(request):
    m = request.membership
    form = InviteForm(request.POST, roles=assignable_roles(m))
    if not m.is_manager:
        messages.error(request, "Only owners and admins invite people.")
        return redirect("accounts:members")
    if not form.is_valid():
        return _page(request, invite_form=form, status=400)
    try:
        invitation = invitation_invite(
            actor=m,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            absolute_url=request.build_absolute_uri,
        )
    except NotAllowed as e:
        form.add_error(None, str(e))
        return _page(request, invite_form=form, status=400)
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect("accounts:members")


@member_required
@require_POST
def member_role(request, pk):
    target = get_object_or_404(members_of(request.membership), pk=pk)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise NotAllowed("Pick a role.")
        membership_change_role(actor=request.membership, target=target, role=form.cleaned_data["role"])
    except NotAllowed as e:
        messages.error(request, str(e))
    else:
        messages.success(request, f"{target.user.email} is now {target.role}.")
    return redirect("accounts:members")


@member_required
@require_POST
def member_remove(request, pk):
    actor = request.membership
    target = get_object_or_404(members_of(actor), pk=pk)
    leaving = target.pk == actor.pk
    try:
        membership_remove(actor=actor, target=target)
    except NotAllowed as e:
        messages.error(request, str(e))
        return redirect("accounts:members")
    if leaving:
        request.session.pop(SESSION_KEY, None)
        messages.success(request, f"You left {actor.organization.name}.")
        return redirect("accounts:keys")
    messages.success(request, f"Removed {target.user.email} from {actor.organization.name}.")
    return redirect("accounts:members")


@member_required
@require_POST
def invitation_cancel_view(request, pk):
    invitation = get_object_or_404(invitations_of(request.membership), pk=pk)
    invitation_cancel(actor=request.membership, invitation=invitation)
    messages.success(request, f"Cancelled the invitation of {invitation.email}.")
    return redirect("accounts:members")


@require_http_methods(["GET", "POST"])
def invitation_accept_view(request, token):
    invitation = invitation_for_token(token)
    if invitation is None:
        return render(request, "accounts/invitation.html", {"invitation": None}, status=404)
    context = {"invitation": invitation, "next": request.get_full_path()}
    if not request.user.is_authenticated:
        # The link reached this address's mailbox: an account signed up with it needs no second
        # verification email (allauth marks the stashed address verified).
        get_adapter(request).stash_verified_email(request, invitation.email)
        return render(request, "accounts/invitation.html", context)
    if request.method == "POST":
        try:
            membership = invitation_accept(invitation=invitation, user=request.user)
        except NotAllowed as e:
            context["error"] = str(e)
            return render(request, "accounts/invitation.html", context, status=403)
        switch_organization(request, membership.organization_id)
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("accounts:keys" if membership.can_use_keys else "home")
    return render(request, "accounts/invitation.html", context)
