"""The functions of billing/sql/holds.sql in Python, for SQLite (the embedded default). Keep the
two in step."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.scoping import scopes_disabled

from .models import CreditAccount, KeyBudget, Reservation
from .reservations_orm import _month, _spent


@scopes_disabled()
@transaction.atomic
def top_up(*, request_id: str, delta_nusd: int) -> str:
    cur = _month(timezone.now())
    r = Reservation.objects.select_for_update().filter(request_id=request_id).first()
    if r is None or r.expired:
        return "none"
    a = CreditAccount.objects.select_for_update().get(organization_id=r.organization_id)
    if not a.postpaid and a.balance_nusd - a.reserved_nusd < delta_nusd:
        return "balance"
    if a.monthly_cap_nusd is not None and _spent(a, cur) + a.reserved_nusd + delta_nusd > a.monthly_cap_nusd:
        return "org_cap"
    b = None
    if r.api_key_id is not None:
        b = KeyBudget.objects.select_for_update().filter(api_key_id=r.api_key_id).first()
        if (
            b is not None
            and b.monthly_budget_nusd is not None
            and _spent(b, cur) + b.reserved_nusd + delta_nusd > b.monthly_budget_nusd
        ):
            return "key_budget"
    Reservation.objects.filter(pk=r.pk).update(amount_nusd=F("amount_nusd") + delta_nusd)
    CreditAccount.objects.filter(pk=a.pk).update(reserved_nusd=F("reserved_nusd") + delta_nusd)
    if b is not None:
        KeyBudget.objects.filter(pk=b.pk).update(reserved_nusd=F("reserved_nusd") + delta_nusd)
    return "ok"


@scopes_disabled()
def headroom(*, organization_id: int, api_key_id: int | None) -> int | None:
    cur = _month(timezone.now())
    a = CreditAccount.objects.filter(organization_id=organization_id).first()
    if a is None:
        return 0
    room_nusd = None if a.postpaid else a.balance_nusd - a.reserved_nusd
    if a.monthly_cap_nusd is not None:
        left_nusd = a.monthly_cap_nusd - a.reserved_nusd - _spent(a, cur)
        room_nusd = left_nusd if room_nusd is None else min(room_nusd, left_nusd)
    if api_key_id is not None:
        b = KeyBudget.objects.filter(api_key_id=api_key_id).first()
        if b is not None and b.monthly_budget_nusd is not None:
            left_nusd = b.monthly_budget_nusd - b.reserved_nusd - _spent(b, cur)
            room_nusd = left_nusd if room_nusd is None else min(room_nusd, left_nusd)
    return None if room_nusd is None else max(room_nusd, 0)
