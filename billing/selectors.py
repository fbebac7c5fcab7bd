"""Reads for the billing pages, scoped by the caller's membership (owners and admins only)."""

from datetime import date

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum

from .models import CheckoutSession, CreditAccount, KeyBudget, LedgerEntry, TrialGrant


def _check_manager(membership) -> None:
    if not membership.is_manager:
        raise PermissionDenied("Only owners and admins see billing.")


def account_of(membership) -> CreditAccount:
    _check_manager(membership)
    return CreditAccount.objects.filter(organization_id=membership.organization_id).first() or CreditAccount(
        organization_id=membership.organization_id
    )


def ledger_of(membership, *, kind: str = "", since: date | None = None, until: date | None = None) -> QuerySet:
    _check_manager(membership)
    rows = LedgerEntry.objects.filter(organization_id=membership.organization_id)
    if kind:
        rows = rows.filter(kind=kind)
    if since:
        rows = rows.filter(created_at__date__gte=since)
    if until:
        rows = rows.filter(created_at__date__lte=until)
    return rows.order_by("-created_at", "-pk")


def trial_credit_of(membership) -> int:
    _check_manager(membership)
    return (
        TrialGrant.objects.filter(organization_id=membership.organization_id).aggregate(s=Sum("amount_nusd"))["s"] or 0
    )


def pending_checkouts_of(membership) -> QuerySet:
    """Top-ups paid but not yet received (asynchronous payment methods)."""
    _check_manager(membership)
    return CheckoutSession.objects.filter(
        organization_id=membership.organization_id, status=CheckoutSession.Status.PENDING
    ).order_by("-created_at")


def ledger_sum(organization_id: int) -> int:
    return LedgerEntry.objects.filter(organization_id=organization_id).aggregate(s=Sum("amount_nusd"))["s"] or 0


def key_budgets_of(membership) -> list[dict]:
    """The organization's active keys with their monthly budget and this month's spending (nano-USD)."""
    from django.utils import timezone

    from accounts.tenancy import keys_of

    _check_manager(membership)
    month = timezone.now().date().replace(day=1)
    budgets = {b.api_key_id: b for b in KeyBudget.objects.filter(organization_id=membership.organization_id)}
    out = []
    for key in keys_of(membership).filter(revoked_at__isnull=True).order_by("name", "pk"):
        b = budgets.get(key.pk)
        out.append(
            {
                "key": key,
                "budget_nusd": b.monthly_budget_nusd if b else None,
                "spent_nusd": b.month_spent_nusd if b and b.month == month else None,
            }
        )
    return out
