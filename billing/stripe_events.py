"""What a verified Stripe event does to the ledger. Idempotent twice over: per event id (StripeEvent)
and per payment (one top-up entry per payment intent, one clawback per refund state or dispute),
so a duplicate, late or out-of-order delivery never credits twice.

`handle(event)` runs in one transaction: if the database fails, nothing is recorded, the webhook
answers 5xx and Stripe delivers the event again.
"""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Sum

from accounts.models import Organization
from accounts.scoping import scopes_disabled

from .models import CheckoutSession, LedgerEntry, StripeEvent
from .money import NUSD_PER_CENT
from .services import account_settings_update, ledger_post

log = logging.getLogger("aipower.billing")
Kind = LedgerEntry.Kind


class RetryLater(Exception):
    """The event cannot be applied yet (it came before the one it depends on): answer 5xx."""


def handle(event) -> str:
    """Applies a verified event; returns what was done (for logs and tests). Stripe's ids find the
    organization: this runs outside tenant scopes (accounts.scoping)."""
    with transaction.atomic(), scopes_disabled():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(event_id=event["id"], type=event["type"])
        except IntegrityError:
            return "duplicate event"
        handler = HANDLERS.get(event["type"])
        if handler is None:
            return "ignored"
        return handler(event["data"]["object"])


def _org_id(obj) -> int | None:
    meta = obj.get("metadata") or {}
    raw = meta.get("organization_id") or obj.get("client_reference_id")
    try:
        org_id = int(raw)
    except (TypeError, ValueError):
        return None
    return org_id if Organization.objects.filter(pk=org_id).exists() else None


def _credit(
    *,
    org_id: int,
    payment_id: str,
    amount_cents: int,
    note: str,
    customer: str | None = None,
    payment_method: str | None = None,
) -> str:
    if amount_cents <= 0:
        return "nothing to credit"
    entry = ledger_post(
        organization_id=org_id,
        kind=Kind.TOPUP,
        amount_nusd=amount_cents * NUSD_PER_CENT,
        note=note,
        stripe_payment_id=payment_id,
    )
    fields = {}
    if customer:
        fields["stripe_customer_id"] = customer
    if payment_method:
        fields["stripe_payment_method_id"] = payment_method
    if fields:
        account_settings_update(organization_id=org_id, **fields)
    return "credited" if entry is not None else "already credited"


def _session_paid(session) -> str:
    org_id = _org_id(session)
    if org_id is None:
        log.warning("Checkout session %s names no known organization", session["id"])
        return "unknown organization"
    CheckoutSession.objects.filter(session_id=session["id"]).update(
        status=CheckoutSession.Status.PAID, payment_intent_id=session.get("payment_intent") or ""
    )
    return _credit(
        org_id=org_id,
        payment_id=session.get("payment_intent") or session["id"],
        amount_cents=session.get("amount_total") or 0,
        note="Top-up (Stripe Checkout)",
        customer=session.get("customer"),
    )


def checkout_session_completed(session) -> str:
    if session.get("payment_status") == "paid":
        return _session_paid(session)
    # Bank debits and other delayed methods: the money is not there yet.
    CheckoutSession.objects.filter(session_id=session["id"]).update(status=CheckoutSession.Status.PENDING)
    return "awaiting payment"


def checkout_session_async_payment_succeeded(session) -> str:
    return _session_paid(session)


def checkout_session_async_payment_failed(session) -> str:
    CheckoutSession.objects.filter(session_id=session["id"]).update(status=CheckoutSession.Status.FAILED)
    return "payment failed"


def payment_intent_succeeded(intent) -> str:
    org_id = _org_id(intent)
    if org_id is None:
        return "not ours"
    return _credit(
        org_id=org_id,
        payment_id=intent["id"],
        amount_cents=intent.get("amount_received") or 0,
        note="Top-up (Stripe)",
        customer=intent.get("customer"),
        payment_method=intent.get("payment_method"),
    )


def _topup_for(payment_intent: str | None) -> LedgerEntry:
    entry = (
        LedgerEntry.objects.filter(kind=Kind.TOPUP, stripe_payment_id=payment_intent).first()
        if payment_intent
        else None
    )
    if entry is None:
        # The refund or dispute came before the payment's own event: have Stripe send it again.
        raise RetryLater(f"no top-up for payment {payment_intent!r} yet")
    return entry


def _clawed(payment_id: str | None) -> int:
    total = LedgerEntry.objects.filter(kind=Kind.CLAWBACK, stripe_payment_id=payment_id).aggregate(s=Sum("amount_nusd"))
    return -(total["s"] or 0)


def charge_succeeded(charge) -> str:
    if charge.get("payment_intent") and charge.get("receipt_url"):
        LedgerEntry.objects.filter(kind=Kind.TOPUP, stripe_payment_id=charge["payment_intent"]).update(
            receipt_url=charge["receipt_url"][:500]
        )
    return "receipt"


def charge_refunded(charge) -> str:
    """`amount_refunded` is cumulative: claw back what is refunded and not clawed back yet."""
    topup = _topup_for(charge.get("payment_intent"))
    refunded = min((charge.get("amount_refunded") or 0) * NUSD_PER_CENT, topup.amount_nusd)
    due = refunded - _clawed(topup.stripe_payment_id)
    if due <= 0:
        return "already clawed back"
    entry = ledger_post(
        organization_id=topup.organization_id,
        kind=Kind.CLAWBACK,
        amount_nusd=-due,
        note="Payment refunded",
        stripe_payment_id=topup.stripe_payment_id,
        stripe_object_id=f"{charge['id']}:refunded:{charge.get('amount_refunded')}",
    )
    return "clawed back" if entry is not None else "already clawed back"


def charge_dispute_created(dispute) -> str:
    topup = _topup_for(dispute.get("payment_intent"))
    due = min(dispute.get("amount", 0) * NUSD_PER_CENT, topup.amount_nusd - _clawed(topup.stripe_payment_id))
    if due <= 0:
        return "already clawed back"
    entry = ledger_post(
        organization_id=topup.organization_id,
        kind=Kind.CLAWBACK,
        amount_nusd=-due,
        note=f"Payment disputed ({dispute.get('reason') or 'no reason given'})",
        stripe_payment_id=topup.stripe_payment_id,
        stripe_object_id=dispute["id"],
    )
    return "clawed back" if entry is not None else "already clawed back"


def charge_dispute_closed(dispute) -> str:
    """A dispute we won: what it clawed back is credited again, once."""
    if dispute.get("status") != "won":
        return "dispute lost or closed"
    clawed = LedgerEntry.objects.filter(kind=Kind.CLAWBACK, stripe_object_id=dispute["id"]).first()
    if clawed is None:
        return "nothing was clawed back"
    entry = ledger_post(
        organization_id=clawed.organization_id,
        kind=Kind.ADJUSTMENT,
        amount_nusd=-clawed.amount_nusd,
        note="Dispute won: payment restored",
        grant_key=f"dispute-won:{dispute['id']}",
    )
    return "restored" if entry is not None else "already restored"


def checkout_session_expired(session) -> str:
    CheckoutSession.objects.filter(session_id=session["id"], status=CheckoutSession.Status.OPEN).update(
        status=CheckoutSession.Status.FAILED
    )
    return "expired"


HANDLERS = {
    "checkout.session.completed": checkout_session_completed,
    "checkout.session.async_payment_succeeded": checkout_session_async_payment_succeeded,
    "checkout.session.async_payment_failed": checkout_session_async_payment_failed,
    "payment_intent.succeeded": payment_intent_succeeded,
    "charge.succeeded": charge_succeeded,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": charge_dispute_created,
    "charge.dispute.closed": charge_dispute_closed,
    "checkout.session.expired": checkout_session_expired,
}
