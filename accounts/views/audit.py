"""The audit log of the current organization (owners only)."""

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..audit import ACTIONS, audit_of
from ..tenancy import member_required


@member_required
@require_GET
def audit_list(request):
    try:
        entries = audit_of(request.membership)
    except PermissionDenied as e:
        return render(request, "accounts/audit.html", {"denied": str(e)}, status=403)
    page = Paginator(entries.select_related("actor"), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/audit.html", {"page": page, "actions": ACTIONS})
