"""Tenant scoping, enforced rather than remembered (django-scopes, as pretix does it).

The default manager of a tenant-owned model (`objects = OrganizationScopedManager()`) answers
queries only inside an organization's scope, and only with that organization's rows; a query
outside any scope raises `ScopeError` (creating a row is allowed). The scope is entered:

- for the web pages, by `tenancy.member_required` (the current organization's);
- for the management API, by `OrganizationScoped` in accounts/api/views.py (the caller's);
- by `organization_scope(id)` wherever a service acts for one organization it was given.

Explicit escape hatches, `scopes_disabled()`, are for what is not one tenant's by nature: the
admin (ScopeMiddleware), Celery tasks, management commands, Stripe's webhook, looking a key or
token up by its hash (the gateway's hot path), and the credit reservations' ORM twin.

`ScopeMiddleware` starts every request outside any scope, whatever the calling context held.
"""

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import models
from django.urls import reverse
from django_scopes import ScopedManager, ScopeError, scope, scopes_disabled
from django_scopes.state import state

__all__ = ["OrganizationScopedManager", "ScopeError", "ScopeMiddleware", "organization_scope", "scopes_disabled"]


def OrganizationScopedManager() -> models.Manager[Any]:  # noqa: N802 (a factory, named like the manager)
    return ScopedManager(organization="organization")


def organization_scope(organization_id: int):
    """Queries of tenant-owned models see this organization's rows only."""
    assert organization_id is not None
    return scope(organization=organization_id)


class ScopeMiddleware:
    """Every request starts with no scope (queries of tenant-owned models raise until a view
    enters its organization's); the admin, for operators, runs with scopes disabled."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._admin_prefix = None
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _state(self, request) -> dict:
        if self._admin_prefix is None:
            self._admin_prefix = reverse("admin:index")
        return {"_enabled": False} if request.path.startswith(self._admin_prefix) else {}

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = state.set(self._state(request))
        try:
            return self.get_response(request)
        finally:
            state.reset(token)

    async def __acall__(self, request):
        token = state.set(self._state(request))
        try:
            return await self.get_response(request)
        finally:
            state.reset(token)
