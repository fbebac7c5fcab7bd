"""The API keys page: create (the secret shown once), edit limits, rotate, revoke."""

from django.contrib import messages
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from ..forms import KeyCreateForm, RotateForm, key_edit_form
from ..services import KeyNotActive, NotAllowed, apikey_create, apikey_revoke, apikey_rotate, apikey_update
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
        try:
            key, raw = apikey_create(
                actor=m,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                rpm_limit=form.cleaned_data["rpm_limit"],
                tpm_limit=form.cleaned_data["tpm_limit"],
                allowed_models=form.cleaned_data["allowed_models"],
                route_quality=form.cleaned_data["route_quality"],
            )
        except NotAllowed as e:
            form.add_error(None, str(e))
        else:
            return _show_secret(request, key, raw)
    keys = (
        keys_of(m)
        .annotate(
            inactive=Case(When(revoked_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("inactive", "-created_at")
    )
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/keys.html", {"keys": keys, "form": form}, status=status)


def _key(request, pk):
    # Another organization's key, or another member's for a member: 404, as if it did not exist.
    return get_object_or_404(keys_of(request.membership), pk=pk)


@member_required
@require_http_methods(["GET", "POST"])
def key_detail(request, pk):
    key = _key(request, pk)
    form = key_edit_form(key, request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                apikey_update(actor=request.membership, key=key, **{f: form.cleaned_data[f] for f in form.changed_data})
            except (KeyNotActive, NotAllowed) as e:
                form.add_error(None, str(e))
            else:
                if form.changed_data:
                    messages.success(request, f"Saved “{key.name}”.")
                return redirect("accounts:keys")
    return render(
        request, "accounts/key_detail.html", {"key": key, "form": form, "rotate_form": RotateForm()}, status=status
    )


@member_required
@require_POST
def key_revoke(request, pk):
    key = _key(request, pk)
    if apikey_revoke(actor=request.membership, key=key):
        messages.success(request, f"Revoked “{key.name}” ({key.prefix}…). It stops working within seconds.")
    return redirect("accounts:keys")


@member_required
@require_POST
def key_rotate(request, pk):
    key = _key(request, pk)
    form = RotateForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "accounts/key_detail.html",
            {"key": key, "form": key_edit_form(key), "rotate_form": form},
            status=400,
        )
    try:
        new, raw = apikey_rotate(actor=request.membership, key=key, grace=form.cleaned_data["grace"])
    except (KeyNotActive, NotAllowed) as e:
        messages.error(request, str(e))
        return redirect("accounts:keys")
    key.refresh_from_db()
    return _show_secret(request, new, raw, rotated_from=key)
