"""Metered billing for postpaid organizations: each closed UTC hour's usage (from the ledger) is sent
to Stripe's Billing Meter as one event, value in nano-USD, with an identifier naming the
organization and the hour. A retried or concurrent run sends the same identifier, which Stripe
ignores the second time; MeterReport rows record what was sent, for `manage.py reconcile_metering`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from . import stripe_client
from .models import CreditAccount, LedgerEntry, MeterReport


def identifier(organization_id: int, hour: datetime) -> str:
    return f"aip-usage-{organization_id}-{hour:%Y%m%d%H}"


def _hourly_usage(organization_id: int, *, before: datetime, since: datetime | None = None) -> dict[datetime, int]:
    rows = LedgerEntry.objects.filter(
        organization_id=organization_id, kind=LedgerEntry.Kind.USAGE, created_at__lt=before
    )
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    hours = (
        rows.annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour")
        .annotate(total=Sum("amount_nusd"))
        .order_by("hour")
    )
    return {r["hour"]: -r["total"] for r in hours if r["total"]}


def report_usage(*, now: datetime | None = None) -> int:
    """Sends every closed hour not reported yet, for every postpaid organization with a Stripe
    customer. Returns the number of events sent."""
    if not stripe_client.configured():
        return 0
    now = now or timezone.now()
    cutoff = (now - timedelta(seconds=settings.AIPOWER_METERING_GRACE_SECONDS)).replace(
        minute=0, second=0, microsecond=0
    )
    sent = 0
    accounts = CreditAccount.objects.filter(postpaid=True).exclude(stripe_customer_id="")
    for account in accounts:
        last = (
            MeterReport.objects.filter(organization_id=account.organization_id, sent_at__isnull=False)
            .order_by("-period_start")
            .values_list("period_start", flat=True)
            .first()
        )
        since = last + timedelta(hours=1) if last else None
        for hour, amount_nusd in _hourly_usage(account.organization_id, before=cutoff, since=since).items():
            sent += _send(account, hour, amount_nusd)
    return sent


def _send(account: CreditAccount, hour: datetime, amount_nusd: int) -> int:
    ident = identifier(account.organization_id, hour)
    try:
        with transaction.atomic():
            report, _ = MeterReport.objects.get_or_create(
                organization_id=account.organization_id,
                period_start=hour,
                defaults={"identifier": ident, "amount_nusd": amount_nusd},
            )
    except IntegrityError:
        report = MeterReport.objects.get(identifier=ident)
    if report.sent_at is not None:
        return 0
    stripe_client.meter_event(
        customer_id=account.stripe_customer_id,
        value=report.amount_nusd,
        identifier=ident,
        timestamp=int(hour.timestamp()) + 3599,
    )
    MeterReport.objects.filter(pk=report.pk).update(sent_at=timezone.now())
    return 1


@dataclass
class Mismatch:
    organization_id: int
    hour: datetime
    ledger_nusd: int
    sent_nusd: int


def reconcile(*, now: datetime | None = None) -> list[Mismatch]:
    """Every closed hour of every postpaid organization where what was sent differs from the ledger
    (usage never sent, sent twice over, or changed after it was sent)."""
    now = now or timezone.now()
    cutoff = (now - timedelta(seconds=settings.AIPOWER_METERING_GRACE_SECONDS)).replace(
        minute=0, second=0, microsecond=0
    )
    out = []
    for account in CreditAccount.objects.filter(postpaid=True):
        ledger = _hourly_usage(account.organization_id, before=cutoff)
        sent = dict(
            MeterReport.objects.filter(
                organization_id=account.organization_id, sent_at__isnull=False, period_start__lt=cutoff
            ).values_list("period_start", "amount_nusd")
        )
        for hour in sorted(set(ledger) | set(sent)):
            if ledger.get(hour, 0) != sent.get(hour, 0):
                out.append(Mismatch(account.organization_id, hour, ledger.get(hour, 0), sent.get(hour, 0)))
    return out
