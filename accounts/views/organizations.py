"""Switching between organizations, creating one, and the management tokens of the current one."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from ..forms import NameForm
from ..orgs import organization_create
from ..tenancy import member_required, switch_organization, tokens_of
from ..tokens import management_token_create, management_token_revoke


@require_POST
def org_switch(request):
    if not request.user.is_authenticated:
        return redirect("account_login")
    try:
        org_id = int(request.POST.get("organization", ""))
    except ValueError:
        org_id = 0
    membership = switch_organization(request, org_id)  # 404 unless the user is a member
    nxt = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(nxt, {request.get_host()}, require_https=request.is_secure()):
        nxt = "accounts:keys" if membership.can_use_keys else "home"
    return redirect(nxt)


@require_http_methods(["GET", "POST"])
def org_new(request):
    if not request.user.is_authenticated:
        return redirect("account_login")
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = organization_create(name=form.cleaned_data["name"], owner=request.user)
        switch_organization(request, org.pk)
        messages.success(request, f"Created {org.name}. You are its owner.")
        return redirect("accounts:keys")
    return render(request, "accounts/org_new.html", {"form": form})


@member_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, raw = management_token_create(membership=request.membership, name=form.cleaned_data["name"])
        response = render(request, "accounts/token_secret.html", {"token": token, "secret": raw})
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "accounts/tokens.html", {"tokens": tokens_of(request.membership), "form": form})


@member_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(tokens_of(request.membership), pk=pk)
    management_token_revoke(token=token)
    messages.success(request, f"Revoked the token “{token.name}”.")
    return redirect("accounts:tokens")
