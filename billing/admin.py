"""Operators see the money and change settings; money moves only through the ledger: an
adjustment typed on a credit account's page is posted as a ledger entry (services.ledger_post)."""

from django import forms
from django.contrib import admin

from .models import CheckoutSession, CreditAccount, KeyBudget, LedgerEntry, MeterReport, Reservation, StripeEvent
from .money import InvalidAmount, format_usd, usd_to_nusd
from .services import account_settings_update, ledger_post


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CreditAccountForm(forms.ModelForm):
    adjust_usd = forms.DecimalField(
        required=False,
        max_digits=14,
        decimal_places=6,
        label="Adjust balance by (USD)",
        help_text="Posted as an adjustment in the ledger; negative to take credit away.",
    )
    adjust_note = forms.CharField(required=False, max_length=300, label="Reason")

    class Meta:
        model = CreditAccount
        fields = [
            "postpaid",
            "monthly_cap_nusd",
            "markup_bp",
            "stripe_customer_id",
            "stripe_payment_method_id",
            "auto_recharge_enabled",
            "auto_recharge_threshold_nusd",
            "auto_recharge_amount_nusd",
            "alert_thresholds_nusd",
        ]

    def clean(self):
        data = super().clean()
        if data.get("adjust_usd") and not data.get("adjust_note"):
            self.add_error("adjust_note", "Say why: the reason is kept in the ledger.")
        if data.get("adjust_usd"):
            try:
                data["adjust_nusd"] = usd_to_nusd(data["adjust_usd"])
            except InvalidAmount as e:
                self.add_error("adjust_usd", str(e))
        return data


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    form = CreditAccountForm
    list_display = ["organization", "balance", "reserved", "postpaid", "markup_bp", "auto_recharge_enabled"]
    list_filter = ["postpaid", "auto_recharge_enabled"]
    search_fields = ["organization__name", "organization__slug", "stripe_customer_id"]
    readonly_fields = [
        "organization",
        "balance",
        "reserved",
        "month",
        "month_spent_nusd",
        "auto_recharge_armed",
        "auto_recharge_count",
        "auto_recharge_error",
    ]

    def has_add_permission(self, request):
        return False

    @admin.display(description="balance")
    def balance(self, obj):
        return format_usd(obj.balance_nusd)

    @admin.display(description="reserved")
    def reserved(self, obj):
        return format_usd(obj.reserved_nusd)

    def save_model(self, request, obj, form, change):
        fields = [f for f in form.changed_data if f in CreditAccountForm.Meta.fields]
        if fields:  # under the account's lock, recorded in the organization's audit log
            account_settings_update(
                organization_id=obj.organization_id, actor=request.user, **{f: getattr(obj, f) for f in fields}
            )
        amount = form.cleaned_data.get("adjust_nusd")
        if amount:
            ledger_post(
                organization_id=obj.organization_id,
                kind=LedgerEntry.Kind.ADJUSTMENT,
                amount_nusd=amount,
                note=f"{form.cleaned_data['adjust_note']} ({request.user})",
            )
        obj.refresh_from_db()


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnly):
    list_display = ["created_at", "organization", "kind", "amount", "balance_after", "note", "request_id"]
    list_filter = ["kind"]
    search_fields = ["organization__name", "request_id", "stripe_payment_id", "note"]
    date_hierarchy = "created_at"

    @admin.display(description="amount")
    def amount(self, obj):
        return format_usd(obj.amount_nusd)

    @admin.display(description="balance after")
    def balance_after(self, obj):
        return format_usd(obj.balance_after_nusd)


@admin.register(Reservation)
class ReservationAdmin(ReadOnly):
    list_display = ["request_id", "organization", "amount_nusd", "created_at", "expires_at", "expired"]
    list_filter = ["expired"]


@admin.register(KeyBudget)
class KeyBudgetAdmin(ReadOnly):
    list_display = ["api_key", "organization", "monthly_budget_nusd", "month", "month_spent_nusd", "reserved_nusd"]


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnly):
    list_display = ["session_id", "organization", "amount_nusd", "status", "created_at"]
    list_filter = ["status"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnly):
    list_display = ["event_id", "type", "received_at"]
    list_filter = ["type"]


@admin.register(MeterReport)
class MeterReportAdmin(ReadOnly):
    list_display = ["organization", "period_start", "amount_nusd", "identifier", "sent_at"]
