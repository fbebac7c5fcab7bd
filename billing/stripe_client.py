"""Every call to Stripe goes through this module and the official `stripe` library.

Amounts: Stripe counts US cents; we count nano-USD (1 cent = 10,000,000 nano-USD). Top-ups are
whole cents. Every request that creates something carries an idempotency key, so a retried call
(ours or the library's) never charges or reports twice.
"""

from typing import TYPE_CHECKING

import stripe
from django.conf import settings

if TYPE_CHECKING:  # the library's request shapes, for the type check only
    from stripe._base_address import BaseAddresses
    from stripe.params import PaymentIntentCreateParams
    from stripe.params.billing import MeterEventCreateParams
    from stripe.params.checkout import SessionCreateParams

from .money import NUSD_PER_CENT as NUSD_PER_CENT
from .money import nusd_to_cents


class StripeNotConfigured(Exception):
    pass


class PaymentFailed(Exception):
    """Stripe refused the charge (card declined, authentication required, ...)."""


def configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def client() -> stripe.StripeClient:
    if not configured():
        raise StripeNotConfigured("STRIPE_SECRET_KEY is not set")
    base: BaseAddresses | None = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)


cents = nusd_to_cents


def checkout_create(
    *,
    organization_id: int,
    amount_nusd: int,
    customer_id: str,
    email: str,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
):
    """A Checkout Session (mode=payment) for a top-up; the card is saved for auto-recharge."""
    params: SessionCreateParams = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": cents(amount_nusd),
                    "product_data": {"name": "AIPower credits"},
                },
            }
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(organization_id),
        "metadata": {"organization_id": str(organization_id), "amount_nusd": str(amount_nusd)},
        "payment_intent_data": {
            "setup_future_usage": "off_session",
            "metadata": {"organization_id": str(organization_id), "amount_nusd": str(amount_nusd)},
        },
    }
    if customer_id:
        params["customer"] = customer_id
    else:
        params["customer_creation"] = "always"
        if email:
            params["customer_email"] = email
    return client().v1.checkout.sessions.create(params=params, options={"idempotency_key": idempotency_key})


def charge_off_session(
    *, organization_id: int, amount_nusd: int, customer_id: str, payment_method_id: str, idempotency_key: str
):
    """Charges the saved payment method now, the customer absent (auto-recharge)."""
    params: PaymentIntentCreateParams = {
        "amount": cents(amount_nusd),
        "currency": "usd",
        "customer": customer_id,
        "payment_method": payment_method_id,
        "off_session": True,
        "confirm": True,
        "description": "AIPower credits (auto-recharge)",
        "metadata": {"organization_id": str(organization_id), "amount_nusd": str(amount_nusd), "auto_recharge": "1"},
    }
    try:
        return client().v1.payment_intents.create(params=params, options={"idempotency_key": idempotency_key})
    except stripe.CardError as e:
        raise PaymentFailed(e.user_message or str(e)) from e


def meter_event(*, customer_id: str, value: int, identifier: str, timestamp: int):
    """One Billing Meter event; Stripe ignores a second one with the same identifier."""
    params: MeterEventCreateParams = {
        "event_name": settings.STRIPE_METER_EVENT_NAME,
        "payload": {"stripe_customer_id": customer_id, "value": str(value)},
        "identifier": identifier,
        "timestamp": timestamp,
    }
    return client().v1.billing.meter_events.create(params=params, options={"idempotency_key": identifier})


def construct_event(payload: bytes, sig_header: str | None):
    """The verified event of a webhook delivery; raises ValueError or SignatureVerificationError."""
    return stripe.Webhook.construct_event(
        payload, sig_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    )
