"""The billing page (owners and admins), top-ups through Stripe Checkout, and Stripe's webhook."""

import json
import logging

import stripe
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.tenancy import keys_of, member_required

from . import selectors, stripe_client, stripe_events
from .forms import KeyBudgetForm, LedgerFilterForm, SettingsForm, TopUpForm
from .money import usd_input
from .services import CheckoutFailed, billing_settings_save, checkout_start, key_budget_set

log = logging.getLogger("aipower.billing")


def _managers_only(request):
    if not request.membership.is_manager:
        return render(request, "billing/forbidden.html", status=403)
    return None


def _settings_initial(account) -> dict:
    """The form's fields as the stored amounts, exactly (saving the form unchanged changes nothing)."""
    threshold = account.auto_recharge_threshold_nusd
    return {
        "auto_recharge_enabled": account.auto_recharge_enabled,
        "auto_recharge_threshold_usd": usd_input(threshold) if account.auto_recharge_enabled or threshold else None,
        "auto_recharge_amount_usd": usd_input(account.auto_recharge_amount_nusd or None),
        "monthly_cap_usd": usd_input(account.monthly_cap_nusd),
        "alert_thresholds_usd": ", ".join(usd_input(int(t)) for t in account.alert_thresholds_nusd or ()),
    }


@member_required
@require_GET
def billing_page(request):
    if (denied := _managers_only(request)) is not None:
        return denied
    return _page(request)


def _page(request, *, topup_form=None, settings_form=None, status=200):
    m = request.membership
    account = selectors.account_of(m)
    filters = LedgerFilterForm(request.GET or None)
    f = filters.cleaned_data if filters.is_valid() else {}
    entries = selectors.ledger_of(m, kind=f.get("kind", ""), since=f.get("since"), until=f.get("until"))
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/billing.html",
        {
            "account": account,
            "trial_credit_nusd": selectors.trial_credit_of(m),
            "trial_offer_nusd": settings.AIPOWER_TRIAL_CREDIT_NUSD,
            "page": page,
            "filters": filters,
            "topups_configured": stripe_client.configured(),
            "topup_form": topup_form or TopUpForm(),
            "presets": settings.AIPOWER_TOPUP_PRESETS_USD,
            "settings_form": settings_form or SettingsForm(initial=_settings_initial(account)),
            "key_budgets": selectors.key_budgets_of(m),
            "pending": selectors.pending_checkouts_of(m),
        },
        status=status,
    )


@member_required
@require_POST
def topup(request):
    if (denied := _managers_only(request)) is not None:
        return denied
    if not stripe_client.configured():
        messages.error(request, "Top-ups are not configured on this server.")
        return redirect("billing:page")
    form = TopUpForm(request.POST)
    if not form.is_valid():
        return _page(request, topup_form=form, status=400)
    try:
        url = checkout_start(
            actor=request.membership,
            amount_nusd=form.cleaned_data["amount_nusd"],
            email=request.user.email,
            return_url=request.build_absolute_uri(reverse("billing:page")),
        )
    except CheckoutFailed as e:
        messages.error(request, str(e))
        return redirect("billing:page")
    return redirect(url)


@member_required
@require_POST
def settings_update(request):
    if (denied := _managers_only(request)) is not None:
        return denied
    form = SettingsForm(request.POST)
    if not form.is_valid():
        return _page(request, settings_form=form, status=400)
    billing_settings_save(actor=request.membership, **form.account_fields())
    messages.success(request, "Billing settings saved.")
    return redirect("billing:page")


@member_required
@require_POST
def key_budget(request, pk: int):
    if (denied := _managers_only(request)) is not None:
        return denied
    key = get_object_or_404(keys_of(request.membership), pk=pk)
    form = KeyBudgetForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A budget is an amount in USD, or empty for none.")
        return redirect("billing:page")
    key_budget_set(api_key=key, monthly_budget_nusd=form.budget_nusd(), actor=request.membership)
    messages.success(request, f"Budget of {key.name} saved.")
    return redirect("billing:page")


@member_required
@require_GET
def receipt(request, pk: int):
    if (denied := _managers_only(request)) is not None:
        return denied
    entry = get_object_or_404(selectors.ledger_of(request.membership), pk=pk)
    if not entry.receipt_url:
        return render(request, "billing/no_receipt.html", {"entry": entry}, status=404)
    return redirect(entry.receipt_url)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Verified on the raw body; 400 for anything not signed by Stripe within the tolerance;
    5xx when the event could not be applied, so that Stripe delivers it again."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        return HttpResponse("Stripe webhooks are not configured.", status=503)
    try:
        stripe_client.construct_event(request.body, request.headers.get("Stripe-Signature"))
    except (ValueError, stripe.SignatureVerificationError) as e:
        return HttpResponseBadRequest(f"Invalid webhook: {e}")
    event = json.loads(request.body)  # verified: the same bytes, as plain dicts
    try:
        outcome = stripe_events.handle(event)
    except stripe_events.RetryLater as e:
        return HttpResponse(str(e), status=503)
    except DatabaseError:
        log.exception("Stripe event %s not applied", event["id"])
        return HttpResponse("Database error; retry.", status=500)
    log.info("Stripe event %s (%s): %s", event["id"], event["type"], outcome)
    return HttpResponse(outcome)
