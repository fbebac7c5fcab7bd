"""The reservation functions of billing/sql/reservations.sql, in Python, for SQLite (the embedded
default, where a write transaction locks the whole database). Keep the two in step.

They serve the gateway's hot path and the sweeper, for the organization ids they are given: they
run outside tenant scopes (accounts.scoping), as the SQL functions do."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.scoping import scopes_disabled

from .models import CreditAccount, KeyBudget, LedgerEntry, Reservation


def _month(now):
    return now.date().replace(day=1)


def _spent(row, cur) -> int:
    return row.month_spent_nusd if row.month == cur else 0


@scopes_disabled()
@transaction.atomic
def reserve(*, organization_id: int, api_key_id: int | None, request_id: str, amount_nusd: int, ttl_s: float) -> str:
    now = timezone.now()
    cur = _month(now)
    CreditAccount.objects.bulk_create([CreditAccount(organization_id=organization_id)], ignore_conflicts=True)
    a = CreditAccount.objects.select_for_update().get(organization_id=organization_id)
    if not a.postpaid and a.balance_nusd - a.reserved_nusd < amount_nusd:
        return "balance"
    if a.monthly_cap_nusd is not None and _spent(a, cur) + a.reserved_nusd + amount_nusd > a.monthly_cap_nusd:
        return "org_cap"
    b = None
    if api_key_id is not None:
        b = KeyBudget.objects.select_for_update().filter(api_key_id=api_key_id).first()
        if (
            b is not None
            and b.monthly_budget_nusd is not None
            and _spent(b, cur) + b.reserved_nusd + amount_nusd > b.monthly_budget_nusd
        ):
            return "key_budget"
    if LedgerEntry.objects.filter(request_id=request_id).exists():
        return "duplicate"
    try:
        with transaction.atomic():
            Reservation.objects.create(
                request_id=request_id,
                organization_id=organization_id,
                api_key_id=api_key_id,
                amount_nusd=amount_nusd,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_s),
            )
    except IntegrityError:
        return "duplicate"
    CreditAccount.objects.filter(pk=a.pk).update(reserved_nusd=F("reserved_nusd") + amount_nusd)
    if b is not None:
        KeyBudget.objects.filter(pk=b.pk).update(reserved_nusd=F("reserved_nusd") + amount_nusd)
    return "ok"


@scopes_disabled()
@transaction.atomic
def settle(*, request_id: str, charged_nusd: int) -> tuple[str, int | None, int | None, int | None]:
    r = Reservation.objects.select_for_update().filter(request_id=request_id).first()
    if r is None:
        return "none", None, None, None
    r.delete()
    capped = charged_nusd > r.amount_nusd
    charged_nusd = min(charged_nusd, r.amount_nusd)  # never more than was held
    now = timezone.now()
    cur = _month(now)
    hold = 0 if r.expired else r.amount_nusd
    a = CreditAccount.objects.select_for_update().get(organization_id=r.organization_id)
    before = a.balance_nusd
    a.reserved_nusd -= hold
    a.balance_nusd -= charged_nusd
    a.month_spent_nusd = _spent(a, cur) + charged_nusd
    a.month = cur
    a.save(update_fields=["reserved_nusd", "balance_nusd", "month_spent_nusd", "month", "updated_at"])
    if charged_nusd:
        LedgerEntry.objects.create(
            organization_id=r.organization_id,
            kind=LedgerEntry.Kind.USAGE,
            amount_nusd=-charged_nusd,
            balance_after_nusd=a.balance_nusd,
            request_id=request_id,
        )
    if r.api_key_id is not None:
        b = KeyBudget.objects.select_for_update().filter(api_key_id=r.api_key_id).first()
        if b is not None:
            b.reserved_nusd -= hold
            b.month_spent_nusd = _spent(b, cur) + charged_nusd
            b.month = cur
            b.save(update_fields=["reserved_nusd", "month_spent_nusd", "month"])
    return "capped" if capped else "ok", r.organization_id, before, a.balance_nusd


@scopes_disabled()
@transaction.atomic
def sweep(*, limit: int) -> int:
    now = timezone.now()
    expired = list(
        Reservation.objects.select_for_update().filter(expired=False, expires_at__lt=now).order_by("expires_at")[:limit]
    )
    for r in expired:
        Reservation.objects.filter(pk=r.pk).update(expired=True)
        CreditAccount.objects.filter(organization_id=r.organization_id).update(
            reserved_nusd=F("reserved_nusd") - r.amount_nusd
        )
        if r.api_key_id is not None:
            KeyBudget.objects.filter(api_key_id=r.api_key_id).update(reserved_nusd=F("reserved_nusd") - r.amount_nusd)
    Reservation.objects.filter(expired=True, expires_at__lt=now - timedelta(days=1)).delete()
    return len(expired)
