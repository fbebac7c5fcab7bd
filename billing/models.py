"""The ledger, the balance it adds up to, holds on it, and the organization's billing settings.

Money is integer nano-USD (1e-9 USD) everywhere: every field holding money ends in `_nusd`.
`CreditAccount.balance_nusd` equals the sum of the organization's `LedgerEntry.amount_nusd`, always:
nothing changes the balance except together with a ledger entry, in one transaction
(`billing.services.ledger_post` and the database functions of `billing.reservations`).
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from accounts.scoping import OrganizationScopedManager


class CreditAccount(models.Model):
    """One per organization: its balance, what requests in flight hold of it, and its billing settings.
    Every column has a database default: the reservation function creates a missing row by id alone."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="credit_account"
    )
    balance_nusd = models.BigIntegerField(default=0, db_default=0)
    # Sum of the open reservations' amounts: the balance available to new requests is
    # balance_nusd - reserved_nusd (prepaid).
    reserved_nusd = models.BigIntegerField(default=0, db_default=0)
    # Usage settled in `month` (the first day of a UTC month), for the monthly spending cap.
    month = models.DateField(null=True, blank=True)
    month_spent_nusd = models.BigIntegerField(default=0, db_default=0)

    # Settings. Postpaid organizations are invoiced for metered use through Stripe: their balance
    # may go below zero and only the spending cap limits them.
    postpaid = models.BooleanField(default=False, db_default=False)
    monthly_cap_nusd = models.BigIntegerField(null=True, blank=True, help_text="spending cap per UTC month")
    markup_bp = models.PositiveIntegerField(
        null=True, blank=True, help_text="overrides AIPOWER_DEFAULT_MARKUP_BP (basis points)"
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="", db_default="")
    stripe_payment_method_id = models.CharField(max_length=255, blank=True, default="", db_default="")

    auto_recharge_enabled = models.BooleanField(default=False, db_default=False)
    auto_recharge_threshold_nusd = models.BigIntegerField(default=0, db_default=0)
    auto_recharge_amount_nusd = models.BigIntegerField(default=0, db_default=0)
    # Armed until a recharge is attempted; re-armed when the balance is back above the threshold,
    # so that one crossing charges at most once. The counter makes each crossing's idempotency key.
    auto_recharge_armed = models.BooleanField(default=True, db_default=True)
    auto_recharge_count = models.PositiveIntegerField(default=0, db_default=0)
    auto_recharge_error = models.CharField(max_length=300, blank=True, default="", db_default="")

    # Low-balance emails: a list of thresholds in nano-USD; one email per downward crossing.
    alert_thresholds_nusd = models.JSONField(
        default=list, blank=True, db_default=models.Value([], output_field=models.JSONField())
    )

    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(reserved_nusd__gte=0), name="reserved_not_negative")]

    def __str__(self):
        return f"credit account of org {self.organization_id}"

    @property
    def available_nusd(self) -> int:
        return self.balance_nusd - self.reserved_nusd


class LedgerEntry(models.Model):
    """One movement of money; the sum of an organization's entries is its balance."""

    class Kind(models.TextChoices):
        GRANT = "grant"  # free trial and other gifts
        TOPUP = "topup"  # a Stripe payment
        USAGE = "usage"  # one settled request (negative)
        REFUND = "refund"  # money given back to the customer's balance by us
        ADJUSTMENT = "adjustment"  # by an operator
        CLAWBACK = "clawback"  # a refunded or disputed payment taken back (negative)

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount_nusd = models.BigIntegerField()
    balance_after_nusd = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    note = models.CharField(max_length=300, blank=True)
    # Idempotency: each of these, when set, names the one thing an entry is for.
    request_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_payment_id = models.CharField(
        max_length=255, null=True, blank=True, help_text="payment intent (or session) a top-up is for"
    )
    stripe_object_id = models.CharField(
        max_length=255, null=True, blank=True, help_text="refund or dispute a clawback is for"
    )
    # A grant's reason, unique with the kind: "trial:<email>".
    grant_key = models.CharField(max_length=320, null=True, blank=True, unique=True)
    receipt_url = models.URLField(max_length=500, blank=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["LedgerEntry"] = OrganizationScopedManager()

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["organization", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_payment_id"], condition=Q(kind="topup"), name="one_topup_per_payment"
            ),
            models.UniqueConstraint(
                fields=["stripe_object_id"], condition=Q(kind="clawback"), name="one_clawback_per_stripe_object"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount_nusd} nUSD (org {self.organization_id})"


class Reservation(models.Model):
    """A hold on an organization's balance while a request is in flight. Deleted when the request
    settles or is released; past `expires_at` the sweeper releases it (its worker died)."""

    request_id = models.CharField(max_length=64, unique=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("accounts.ApiKey", null=True, on_delete=models.SET_NULL, related_name="+")
    amount_nusd = models.BigIntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    # Set by the sweeper: the hold is gone, but a late settle still charges the request.
    expired = models.BooleanField(default=False)
    # A stream's progress, written every AIPOWER_STREAM_CHECKPOINT_SECONDS: what it has delivered so
    # far, and its usage row as of then. If its process dies, the sweeper charges and records these.
    checkpoint_nusd = models.BigIntegerField(default=0, db_default=0)
    checkpoint_row = models.JSONField(null=True, blank=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["Reservation"] = OrganizationScopedManager()

    def __str__(self):
        return f"hold of {self.amount_nusd} nUSD for {self.request_id} (org {self.organization_id})"


class KeyBudget(models.Model):
    """A monthly budget for one API key (the accounts app owns ApiKey; the budget lives here)."""

    api_key = models.OneToOneField("accounts.ApiKey", on_delete=models.CASCADE, related_name="budget")
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    monthly_budget_nusd = models.BigIntegerField(null=True, blank=True)
    month = models.DateField(null=True, blank=True)
    month_spent_nusd = models.BigIntegerField(default=0)
    reserved_nusd = models.BigIntegerField(default=0)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["KeyBudget"] = OrganizationScopedManager()

    def __str__(self):
        return f"budget of key {self.api_key_id}: {self.monthly_budget_nusd} nUSD a month"


class TrialGrant(models.Model):
    """The free trial, once per verified email address (lower-cased), whatever user or organization."""

    email = models.CharField(max_length=320, unique=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    amount_nusd = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["TrialGrant"] = OrganizationScopedManager()

    def __str__(self):
        return f"trial for {self.email} (org {self.organization_id})"


class StripeEvent(models.Model):
    """A webhook event processed (idempotency per event id)."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.type} {self.event_id}"


class CheckoutSession(models.Model):
    """A top-up started on the billing page; credited by the webhook only."""

    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"  # completed, payment not yet received (async methods)
        PAID = "paid"
        FAILED = "failed"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    session_id = models.CharField(max_length=255, unique=True)
    payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    amount_nusd = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["CheckoutSession"] = OrganizationScopedManager()

    def __str__(self):
        return f"checkout {self.session_id} ({self.status})"


class MeterReport(models.Model):
    """Usage sent to Stripe's Billing Meter for a postpaid organization: one per (org, UTC hour)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    # The meter event's identifier: Stripe drops a second event with the same one.
    identifier = models.CharField(max_length=100, unique=True)
    # The meter's unit is the nano-USD: the value sent is this amount, exactly.
    amount_nusd = models.BigIntegerField()
    sent_at = models.DateTimeField(null=True, blank=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["MeterReport"] = OrganizationScopedManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "period_start"], name="one_report_per_hour")]

    def __str__(self):
        return f"meter report {self.identifier}"
