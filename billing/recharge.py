"""When a balance falls: low-balance emails at the owner's thresholds, and auto-recharge.

Auto-recharge charges the saved payment method off-session at most once per crossing of its
threshold: the account is disarmed (under its row lock) before Stripe is called, and re-armed only
when a credit lifts the balance back above the threshold (services.ledger_post). The idempotency
key names the organization and the crossing, so a retried task cannot charge twice either.
"""

import logging

from django.core.mail import send_mail
from django.db import transaction

from accounts.models import Membership

from . import stripe_client
from .models import CreditAccount, LedgerEntry
from .money import NUSD_PER_CENT, format_usd
from .services import ledger_post

log = logging.getLogger("aipower.billing")


def owner_emails(organization_id: int) -> list[str]:
    return list(
        Membership.objects.filter(organization_id=organization_id, role=Membership.Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def _email_owners(organization_id: int, subject: str, body: str) -> None:
    to = owner_emails(organization_id)
    if to:
        send_mail(f"[AIPower] {subject}", body, None, to)


def low_balance_alerts(*, organization_id: int, before_nusd: int, after_nusd: int) -> list[int]:
    """Emails the owners once for each alert threshold the balance fell through; returns them."""
    account = CreditAccount.objects.filter(organization_id=organization_id).first()
    if account is None:
        return []
    crossed = sorted(t for t in map(int, account.alert_thresholds_nusd or ()) if after_nusd < t <= before_nusd)
    if crossed:
        _email_owners(
            organization_id,
            "Low balance",
            f"Your AIPower balance is {format_usd(after_nusd)}, below your alert threshold of "
            f"{format_usd(crossed[0])}.\n\nTop up on the billing page to keep your API keys working.\n",
        )
    return crossed


def auto_recharge(*, organization_id: int) -> str:
    """Charges the saved card if auto-recharge is on, armed and the balance is below its threshold."""
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update().filter(organization_id=organization_id).first()
        if account is None or not account.auto_recharge_enabled or not account.auto_recharge_armed:
            return "off"
        if account.balance_nusd >= account.auto_recharge_threshold_nusd:
            return "above threshold"
        if not stripe_client.configured() or not account.stripe_customer_id or not account.stripe_payment_method_id:
            return _switch_off(account, "No saved payment method: make a top-up with a card first.")
        account.auto_recharge_armed = False
        account.auto_recharge_count += 1
        account.save(update_fields=["auto_recharge_armed", "auto_recharge_count"])
        key = f"aip-recharge-{organization_id}-{account.auto_recharge_count}"
    try:
        intent = stripe_client.charge_off_session(
            organization_id=organization_id,
            amount_nusd=account.auto_recharge_amount_nusd,
            customer_id=account.stripe_customer_id,
            payment_method_id=account.stripe_payment_method_id,
            idempotency_key=key,
        )
    except stripe_client.PaymentFailed as e:
        with transaction.atomic():
            account = CreditAccount.objects.select_for_update().get(pk=account.pk)
            return _switch_off(account, f"The card was declined: {e}")
    if intent.status == "succeeded":
        # The webhook's payment_intent.succeeded credits the same payment once more, to no effect.
        ledger_post(
            organization_id=organization_id,
            kind=LedgerEntry.Kind.TOPUP,
            amount_nusd=intent.amount_received * NUSD_PER_CENT,
            note="Auto-recharge",
            stripe_payment_id=intent.id,
        )
        return "charged"
    return f"payment {intent.status}"


def _switch_off(account: CreditAccount, reason: str) -> str:
    account.auto_recharge_enabled = False
    account.auto_recharge_error = reason[:300]
    account.save(update_fields=["auto_recharge_enabled", "auto_recharge_error"])
    transaction.on_commit(
        lambda: _email_owners(
            account.organization_id,
            "Auto-recharge failed and was switched off",
            f"We could not recharge your AIPower balance: {reason}\n\nAuto-recharge is now off; "
            "turn it back on from the billing page once the payment method is fixed.\n",
        )
    )
    return "failed"
