"""Stripe's webhook: verified on the raw body, idempotent per event and per payment."""

import json
import threading
import time

import pytest
from django.db import OperationalError
from django.test import Client

from billing import stripe_client
from billing.models import CheckoutSession, LedgerEntry
from tests.billing.conftest import state
from tests.billing.fake_stripe import event, sign

pytestmark = pytest.mark.usefixtures("db_open")
URL = "/billing/stripe/webhook/"
CENT = 10_000_000


def post(evt: dict, *, payload: bytes | None = None, signature: str | None = None, client=None):
    payload = payload if payload is not None else json.dumps(evt).encode()
    return (client or Client()).post(
        URL,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature if signature is not None else sign(payload),
    )


def checkout(org_id: int, dollars: int) -> str:
    session = stripe_client.checkout_create(
        organization_id=org_id,
        amount_nusd=dollars * 100 * CENT,
        customer_id="",
        email="a@example.com",
        success_url="http://x/b?s={CHECKOUT_SESSION_ID}",
        cancel_url="http://x/b",
        idempotency_key=f"k-{org_id}-{time.time_ns()}",
    )
    CheckoutSession.objects.create(organization_id=org_id, session_id=session.id, amount_nusd=dollars * 100 * CENT)
    return session.id


def balance(org_id: int) -> int:
    from billing.models import CreditAccount

    account = CreditAccount.objects.filter(organization_id=org_id).first()
    return account.balance_nusd if account else 0


def test_a_paid_checkout_credits_its_amount(stripe_on, tenant):
    org = tenant.organization.pk
    completed, intent, charge = stripe_on.pay(checkout(org, 25), deliver=False)
    assert post(completed).status_code == 200
    assert balance(org) == 2500 * CENT
    assert post(charge).status_code == 200
    entry = LedgerEntry.objects.get(organization_id=org, kind="topup")
    assert entry.receipt_url.startswith("https://pay.stripe.com/receipts/")
    assert CheckoutSession.objects.get(session_id=completed["data"]["object"]["id"]).status == "paid"
    s = state(org)
    assert s["balance"] == s["ledger"]


@pytest.mark.parametrize("tamper", ["bad signature", "altered body", "old timestamp", "no signature", "other secret"])
def test_it_refuses_what_stripe_did_not_sign(stripe_on, tenant, tamper):
    org = tenant.organization.pk
    completed, _, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    payload = json.dumps(completed).encode()
    signature = sign(payload)
    if tamper == "bad signature":
        signature = signature[:-4] + "0000"
    elif tamper == "altered body":
        payload = payload.replace(b'"amount_total": 1000', b'"amount_total": 9000')
        assert b"9000" in payload
    elif tamper == "old timestamp":
        signature = sign(payload, timestamp=int(time.time()) - 301)
    elif tamper == "no signature":
        signature = ""
    elif tamper == "other secret":
        signature = sign(payload, secret="whsec_someone_else")
    assert post(completed, payload=payload, signature=signature).status_code == 400
    assert balance(org) == 0 and not LedgerEntry.objects.filter(organization_id=org).exists()


def test_the_same_event_delivered_three_times_at_once_credits_once(stripe_on, tenant):
    org = tenant.organization.pk
    completed, _, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    payload = json.dumps(completed).encode()
    barrier = threading.Barrier(3)
    statuses = []

    def deliver():
        client = Client()
        barrier.wait()
        statuses.append(post(completed, payload=payload, client=client).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200, 200, 200]
    assert balance(org) == 1000 * CENT
    assert LedgerEntry.objects.filter(organization_id=org, kind="topup").count() == 1


@pytest.mark.parametrize("order", ["session first", "intent first"])
def test_the_session_and_its_payment_intent_credit_once(stripe_on, tenant, order):
    org = tenant.organization.pk
    completed, intent, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    events = [completed, intent] if order == "session first" else [intent, completed]
    for e in events + events:  # and each delivered twice
        assert post(e).status_code == 200
    assert balance(org) == 1000 * CENT
    assert LedgerEntry.objects.filter(organization_id=org, kind="topup").count() == 1


def test_an_unpaid_session_credits_nothing_until_its_async_payment_succeeds(stripe_on, tenant):
    org = tenant.organization.pk
    sid = checkout(org, 10)
    session = stripe_on.public(stripe_on.sessions[sid]) | {
        "status": "complete",
        "payment_status": "unpaid",
        "payment_intent": "pi_async_1",
    }
    assert post(event("checkout.session.completed", session)).status_code == 200
    assert balance(org) == 0
    assert CheckoutSession.objects.get(session_id=sid).status == "pending"
    paid = session | {"payment_status": "paid"}
    assert post(event("checkout.session.async_payment_succeeded", paid)).status_code == 200
    assert balance(org) == 1000 * CENT
    assert post(event("checkout.session.async_payment_succeeded", paid)).status_code == 200  # another event id
    assert balance(org) == 1000 * CENT


def test_a_failed_async_payment_credits_nothing(stripe_on, tenant):
    org = tenant.organization.pk
    sid = checkout(org, 10)
    session = stripe_on.public(stripe_on.sessions[sid]) | {"status": "complete", "payment_status": "unpaid"}
    post(event("checkout.session.completed", session))
    assert post(event("checkout.session.async_payment_failed", session)).status_code == 200
    assert balance(org) == 0 and CheckoutSession.objects.get(session_id=sid).status == "failed"


def test_refunds_and_disputes_claw_back_once(stripe_on, tenant):
    org = tenant.organization.pk
    completed, intent, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    post(completed)
    pi = intent["data"]["object"]
    partial = event("charge.refunded", stripe_on.charge(pi, amount_refunded=400))
    assert post(partial).status_code == 200 and post(partial).status_code == 200
    assert balance(org) == 600 * CENT
    again = event("charge.refunded", stripe_on.charge(pi, amount_refunded=400))  # the same refund, a new event id
    assert post(again).status_code == 200 and balance(org) == 600 * CENT
    assert post(event("charge.refunded", stripe_on.charge(pi, amount_refunded=1000))).status_code == 200
    assert balance(org) == 0
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 1000,
        "charge": pi["latest_charge"],
        "payment_intent": pi["id"],
        "reason": "fraudulent",
        "status": "needs_response",
    }
    assert post(event("charge.dispute.created", dispute)).status_code == 200
    assert balance(org) == 0  # all of it was clawed back already
    kinds = list(LedgerEntry.objects.filter(organization_id=org).order_by("pk").values_list("kind", "amount_nusd"))
    assert kinds == [("topup", 1000 * CENT), ("clawback", -400 * CENT), ("clawback", -600 * CENT)]


def test_a_dispute_claws_back_the_payment(stripe_on, tenant):
    org = tenant.organization.pk
    completed, intent, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    post(completed)
    pi = intent["data"]["object"]
    dispute = {
        "id": f"dp_{pi['id']}",
        "object": "dispute",
        "amount": 1000,
        "payment_intent": pi["id"],
        "charge": pi["latest_charge"],
        "reason": "fraudulent",
    }
    assert post(event("charge.dispute.created", dispute)).status_code == 200
    assert post(event("charge.dispute.created", dispute)).status_code == 200
    assert balance(org) == 0
    assert LedgerEntry.objects.get(organization_id=org, kind="clawback").note.startswith("Payment disputed")


def test_a_won_dispute_restores_the_credit_once(stripe_on, tenant):
    org = tenant.organization.pk
    completed, intent, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    post(completed)
    pi = intent["data"]["object"]
    dispute = {
        "id": f"dp_won_{pi['id']}",
        "object": "dispute",
        "amount": 1000,
        "payment_intent": pi["id"],
        "charge": pi["latest_charge"],
        "reason": "general",
    }
    post(event("charge.dispute.created", dispute))
    assert balance(org) == 0
    won = event("charge.dispute.closed", dispute | {"status": "won"})
    assert post(won).status_code == 200
    assert post(event("charge.dispute.closed", dispute | {"status": "won"})).status_code == 200
    assert balance(org) == 1000 * CENT
    s = state(org)
    assert s["balance"] == s["ledger"]


def test_a_refund_before_its_payment_is_retried_later(stripe_on, tenant):
    org = tenant.organization.pk
    completed, intent, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    refund = event("charge.refunded", stripe_on.charge(intent["data"]["object"], amount_refunded=1000))
    assert post(refund).status_code == 503  # Stripe will send it again
    post(completed)
    assert post(refund).status_code == 200
    assert balance(org) == 0


def test_a_database_failure_answers_5xx_and_the_retry_credits(stripe_on, tenant, monkeypatch):
    import billing.stripe_events as events

    org = tenant.organization.pk
    completed, _, _ = stripe_on.pay(checkout(org, 10), deliver=False)
    real = events.ledger_post

    def failing(**kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr(events, "ledger_post", failing)
    assert post(completed).status_code == 500
    assert balance(org) == 0
    monkeypatch.setattr(events, "ledger_post", real)
    assert post(completed).status_code == 200  # Stripe's retry: the event was not marked as seen
    assert balance(org) == 1000 * CENT


def test_without_a_webhook_secret_it_accepts_nothing(settings, tenant):
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert post(event("payment_intent.succeeded", {"id": "pi_x"})).status_code == 503


def test_checkout_calls_carry_idempotency_keys_and_the_right_shape(stripe_on, tenant):
    checkout(tenant.organization.pk, 10)
    call = stripe_on.calls_to("/v1/checkout/sessions")[-1]
    assert call["status"] == 200 and call["idempotency_key"].startswith("k-")
    assert call["params"]["line_items"]["0"]["price_data"]["unit_amount"] == "1000"
