"""Billing actions (services write; selectors.py reads). Each is one transaction.

Every change to a balance goes through `ledger_post` (or the reservation functions, for usage):
the entry and the balance change commit together, so the balance is the sum of the ledger.
"""

import logging
import uuid

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import audit_record, diff
from accounts.scoping import organization_scope

from . import stripe_client
from .models import CheckoutSession, CreditAccount, KeyBudget, LedgerEntry, TrialGrant

log = logging.getLogger("aipower.billing")
Kind = LedgerEntry.Kind


def account_for_update(organization_id: int) -> CreditAccount:
    """The organization's credit account, created if needed, locked (call inside a transaction)."""
    CreditAccount.objects.bulk_create([CreditAccount(organization_id=organization_id)], ignore_conflicts=True)
    return CreditAccount.objects.select_for_update().get(organization_id=organization_id)


@transaction.atomic
def ledger_post(*, organization_id: int, kind: str, amount_nusd: int, note: str = "", **ids) -> LedgerEntry | None:
    """Adds an entry and moves the balance by `amount_nusd`. `ids` (request_id, stripe_payment_id,
    stripe_object_id, grant_key, receipt_url) make it idempotent: when an entry with the same id
    exists, nothing happens and None is returned."""
    account = account_for_update(organization_id)
    before = account.balance_nusd
    after = before + amount_nusd
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                organization_id=organization_id,
                kind=kind,
                amount_nusd=amount_nusd,
                balance_after_nusd=after,
                note=note[:300],
                **ids,
            )
    except IntegrityError:
        return None
    CreditAccount.objects.filter(pk=account.pk).update(
        balance_nusd=F("balance_nusd") + amount_nusd, updated_at=timezone.now()
    )
    if (
        account.auto_recharge_enabled
        and after >= account.auto_recharge_threshold_nusd
        and not account.auto_recharge_armed
    ):
        CreditAccount.objects.filter(pk=account.pk).update(auto_recharge_armed=True)
    if after < before:
        from .tasks import balance_fell

        transaction.on_commit(lambda: balance_fell.delay(organization_id, before, after))
    return entry


def markup_bp_for(organization_id: int) -> int:
    """Sync twin of billing.reservations.markup_bp_for (uncached)."""
    bp = CreditAccount.objects.filter(organization_id=organization_id).values_list("markup_bp", flat=True).first()
    return settings.AIPOWER_DEFAULT_MARKUP_BP if bp is None else bp


# --- Free trial ----------------------------------------------------------------------------------


def trial_grant(*, email: str, organization_id: int) -> LedgerEntry | None:
    """Grants the trial credit to the organization, once per email address ever (None if granted)."""
    amount_nusd = settings.AIPOWER_TRIAL_CREDIT_NUSD
    email = email.strip().lower()
    if amount_nusd <= 0 or not email:
        return None
    with transaction.atomic(), organization_scope(organization_id):
        # One trial per organization too: a second address added to the same account gets none.
        account_for_update(organization_id)
        if TrialGrant.objects.filter(organization_id=organization_id).exists():
            return None
        try:
            with transaction.atomic():
                TrialGrant.objects.create(email=email, organization_id=organization_id, amount_nusd=amount_nusd)
        except IntegrityError:
            return None
        return ledger_post(
            organization_id=organization_id,
            kind=Kind.GRANT,
            amount_nusd=amount_nusd,
            note="Free trial credit",
            grant_key=f"trial:{email}",
        )


def trial_grant_for_user(*, user_id: int, email: str) -> LedgerEntry | None:
    """The trial for a verified address goes to the first organization its user owns."""
    from accounts.models import Membership

    membership = (
        Membership.objects.filter(user_id=user_id, role=Membership.Role.OWNER).order_by("created_at", "pk").first()
    )
    if membership is None:
        return None
    return trial_grant(email=email, organization_id=membership.organization_id)


def on_email_confirmed(request, email_address, **kwargs) -> None:
    """allauth's email_confirmed: an address was verified by its link."""
    trial_grant_for_user(user_id=email_address.user_id, email=email_address.email)


def on_user_signed_up(request, user, **kwargs) -> None:
    """allauth's user_signed_up: social sign-in brings addresses its provider verified already."""
    from allauth.account.models import EmailAddress

    for email in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True):
        trial_grant_for_user(user_id=user.pk, email=email)


# --- Settings ----------------------------------------------------------------------------------


def _check_manager(actor) -> None:
    """Billing is for owners and admins (`actor` a Membership); operators (users) and the system
    (None or a string) act through the admin, commands and tasks."""
    from accounts.models import Membership
    from accounts.orgs import NotAllowed

    if isinstance(actor, Membership) and not actor.is_manager:
        raise NotAllowed("Only owners and admins manage billing.")


@transaction.atomic
def key_budget_set(*, api_key, monthly_budget_nusd: int | None, actor=None) -> KeyBudget:
    """Sets (or clears, with None) a key's monthly budget. A new budget counts this month's usage so far."""
    from analytics.models import UsageRecord

    _check_manager(actor)
    budget, created = KeyBudget.objects.select_for_update().get_or_create(
        api_key=api_key, defaults={"organization_id": api_key.organization_id}
    )
    changes = diff(
        {"monthly_budget_nusd": None if created else budget.monthly_budget_nusd},
        {"monthly_budget_nusd": monthly_budget_nusd},
    )
    if changes:
        audit_record(
            organization_id=api_key.organization_id,
            actor=actor,
            action="billing.key_budget",
            target=api_key,
            changes=changes,
        )
    if created:
        now = timezone.now()
        month = now.date().replace(day=1)
        spent = sum(
            UsageRecord.objects.filter(api_key=api_key, created_at__date__gte=month).values_list(
                "charged_nusd", flat=True
            )
        )
        budget.month, budget.month_spent_nusd = month, spent
    budget.monthly_budget_nusd = monthly_budget_nusd
    budget.save()
    return budget


# Settings whose changes the audit log records (the Stripe ids are Stripe's, set by its webhooks).
AUDITED_SETTINGS = (
    "monthly_cap_nusd",
    "markup_bp",
    "postpaid",
    "auto_recharge_enabled",
    "auto_recharge_threshold_nusd",
    "auto_recharge_amount_nusd",
    "alert_thresholds_nusd",
)


@transaction.atomic
def account_settings_update(*, organization_id: int, actor=None, **fields) -> CreditAccount:
    """Changes settings (never money) of the organization's account: monthly_cap_nusd, markup_bp,
    postpaid, auto_recharge_*, alert_thresholds_nusd, stripe ids. `actor`: the Membership (owners
    and admins only), operator or system part acting; changes of AUDITED_SETTINGS are recorded."""
    allowed = {
        "monthly_cap_nusd",
        "markup_bp",
        "postpaid",
        "auto_recharge_enabled",
        "auto_recharge_threshold_nusd",
        "auto_recharge_amount_nusd",
        "alert_thresholds_nusd",
        "stripe_customer_id",
        "stripe_payment_method_id",
    }
    assert set(fields) <= allowed, set(fields) - allowed
    _check_manager(actor)
    account = account_for_update(organization_id)
    changes = diff(
        {f: getattr(account, f) for f in fields if f in AUDITED_SETTINGS},
        {f: v for f, v in fields.items() if f in AUDITED_SETTINGS},
    )
    for name, value in fields.items():
        setattr(account, name, value)
    if fields.get("auto_recharge_enabled"):
        account.auto_recharge_error = ""
        account.auto_recharge_armed = account.balance_nusd >= account.auto_recharge_threshold_nusd
    account.save()
    if changes:
        audit_record(organization_id=organization_id, actor=actor, action="billing.settings", changes=changes)
    from .reservations import forget_thresholds

    forget_thresholds(organization_id)
    return account


@transaction.atomic
def billing_settings_save(*, actor, **fields) -> CreditAccount:
    """The billing page's settings, saved by an owner or admin. With auto-recharge on and the
    balance already below its threshold, the recharge starts now (after commit), as it would
    have had the balance fallen through the threshold."""
    account = account_settings_update(organization_id=actor.organization_id, actor=actor, **fields)
    if account.auto_recharge_enabled and account.balance_nusd < account.auto_recharge_threshold_nusd:
        from .tasks import balance_fell

        organization_id, balance_nusd = account.organization_id, account.balance_nusd
        transaction.on_commit(lambda: balance_fell.delay(organization_id, balance_nusd, balance_nusd))
    return account


# --- Top-ups ------------------------------------------------------------------------------------


class CheckoutFailed(Exception):
    """Stripe could not start the payment; nothing was recorded."""


def checkout_start(*, actor, amount_nusd: int, email: str, return_url: str) -> str:
    """Starts a Stripe Checkout top-up of `amount_nusd` for the actor's organization and returns
    the payment page's URL. The credit comes with the verified webhook, never with the return."""
    _check_manager(actor)
    organization_id = actor.organization_id
    account = CreditAccount.objects.filter(organization_id=organization_id).first()
    try:
        session = stripe_client.checkout_create(
            organization_id=organization_id,
            amount_nusd=amount_nusd,
            customer_id=account.stripe_customer_id if account else "",
            email=email,
            success_url=return_url + "?checkout=done&session_id={CHECKOUT_SESSION_ID}",
            cancel_url=return_url + "?checkout=cancelled",
            idempotency_key=f"aip-checkout-{uuid.uuid4().hex}",
        )
    except stripe.StripeError as e:
        log.warning("Checkout session for org %s failed: %s", organization_id, e)
        raise CheckoutFailed("Stripe could not start the payment; please try again.") from e
    CheckoutSession.objects.create(
        organization_id=organization_id, session_id=session.id, amount_nusd=amount_nusd, created_by=actor.user
    )
    return session.url
