"""The API keys page: create (the secret shown once), edit limits, rotate, revoke."""

from django.contrib import messages
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from ..forms import KeyCreateForm, RotateForm, key_edit_form
from ..keys import KeyNotActive, apikey_create, apikey_revoke, apikey_rotate, apikey_update
from ..tenancy import keys_of, member_required


def _show_secret(request, key, raw, *, rotated_from=None):
    response = render(request, "accounts/key_secret.html", {"key": key, "secret": raw, "rotated_from": rotated_from})
    response["Cache-Control"] = "no-store"
    return response


@member_required
@require_http_methods(["GET", "POST"])
def key_list(request):
    m = request.membership
    if not m.can_use_keys:
        return render(request, "accounts/keys.html", {"viewer": True}, status=403)
    form = KeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, raw = apikey_create(
            organization=m.organization,
            name=form.cleaned_data["name"],
            created_by=request.user,
            expires_at=form.expires_at(),
            rpm_limit=form.cleaned_data["rpm_limit"],
            tpm_limit=form.cleaned_data["tpm_limit"],
            allowed_models=form.cleaned_data["allowed_models"],
            route_quality=form.cleaned_data["route_quality"],
        )
        return _show_secret(request, key, raw)
    keys = keys_of(m).annotate(
        inactive=Case(When(revoked_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("inactive", "-created_at")
    return render(request, "accounts/keys.html", {"keys": keys, "form": form})


def _key(request, pk):
    # Another organization's key, or another member's for a member: 404, as if it did not exist.
    return get_object_or_404(keys_of(request.membership), pk=pk)


@member_required
@require_http_methods(["GET", "POST"])
def key_detail(request, pk):
    key = _key(request, pk)
    form = key_edit_form(key, request.POST or None)
    if request.method == "POST" and key.revoked_at is None and form.is_valid():
        changed = {f: form.cleaned_data[f] for f in form.changed_data}
        if changed:
            apikey_update(key=key, **changed)
            messages.success(request, f"Saved “{key.name}”.")
        return redirect("accounts:keys")
    return render(request, "accounts/key_detail.html", {"key": key, "form": form, "rotate_form": RotateForm()})


@member_required
@require_POST
def key_revoke(request, pk):
    key = _key(request, pk)
    if key.revoked_at is None:
        apikey_revoke(key=key)
        messages.success(request, f"Revoked “{key.name}” ({key.prefix}…). It stops working within seconds.")
    return redirect("accounts:keys")


@member_required
@require_POST
def key_rotate(request, pk):
    key = _key(request, pk)
    form = RotateForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/key_detail.html",
                      {"key": key, "form": key_edit_form(key), "rotate_form": form}, status=400)
    try:
        new, raw = apikey_rotate(key=key, grace=form.cleaned_data["grace"])
    except KeyNotActive as e:
        messages.error(request, str(e))
        return redirect("accounts:keys")
    key.refresh_from_db()
    return _show_secret(request, new, raw, rotated_from=key)
