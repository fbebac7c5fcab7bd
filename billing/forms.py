from django import forms
from django.conf import settings

from .models import LedgerEntry
from .money import NUSD_PER_CENT, InvalidAmount, parse_usd, usd_to_nusd


class TopUpForm(forms.Form):
    preset = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    custom_usd = forms.IntegerField(required=False, label="Other amount (USD)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [("", "—")] + [(p, f"${p}") for p in settings.AIPOWER_TOPUP_PRESETS_USD]
        self.fields["custom_usd"].min_value = settings.AIPOWER_TOPUP_MIN_USD
        self.fields["custom_usd"].max_value = settings.AIPOWER_TOPUP_MAX_USD
        self.fields["custom_usd"].widget.attrs.update(
            min=settings.AIPOWER_TOPUP_MIN_USD, max=settings.AIPOWER_TOPUP_MAX_USD
        )

    def clean(self):
        data = super().clean()
        custom, preset = data.get("custom_usd"), data.get("preset")
        if self.errors:
            return data
        if custom is None and preset is None:
            raise forms.ValidationError("Choose an amount.")
        if custom is not None and not settings.AIPOWER_TOPUP_MIN_USD <= custom <= settings.AIPOWER_TOPUP_MAX_USD:
            raise forms.ValidationError(
                f"Amounts from ${settings.AIPOWER_TOPUP_MIN_USD} to ${settings.AIPOWER_TOPUP_MAX_USD}."
            )
        data["amount_nusd"] = usd_to_nusd(custom if custom is not None else preset)
        return data


class UsdField(forms.DecimalField):
    """A non-negative amount of dollars, exact to the nano-dollar, so that any stored amount shown
    in the field (money.usd_input) saves back unchanged. Accepts "$12,345.67"."""

    def __init__(self, **kwargs):
        super().__init__(min_value=0, max_digits=18, decimal_places=9, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_usd(value)
        except InvalidAmount as e:
            raise forms.ValidationError(str(e), code="invalid") from None

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        if "step" in attrs:
            attrs["step"] = "any"  # the browser must not refuse a stored amount finer than a cent
        return attrs


class WholeCentsUsdField(UsdField):
    """An amount charged through Stripe: whole cents."""

    def validate(self, value):
        super().validate(value)
        if value is not None and usd_to_nusd(value) % NUSD_PER_CENT:
            raise forms.ValidationError("Whole cents only.")


class SettingsForm(forms.Form):
    monthly_cap_usd = UsdField(
        required=False, label="Monthly spending cap (USD)", help_text="Requests are refused past it. Empty: no cap."
    )
    alert_thresholds_usd = forms.CharField(
        required=False,
        label="Balance alerts (USD)",
        help_text="Email me when the balance falls below these amounts, e.g. 20, 5.",
    )
    auto_recharge_enabled = forms.BooleanField(required=False, label="Recharge automatically")
    auto_recharge_threshold_usd = UsdField(required=False, label="When the balance falls below (USD)")
    auto_recharge_amount_usd = WholeCentsUsdField(
        required=False, label="Top up by (USD)", help_text="Charged to the card of your last top-up."
    )

    def clean_auto_recharge_amount_usd(self):
        v = self.cleaned_data["auto_recharge_amount_usd"]
        if v is not None and not settings.AIPOWER_TOPUP_MIN_USD <= v <= settings.AIPOWER_TOPUP_MAX_USD:
            raise forms.ValidationError(f"From ${settings.AIPOWER_TOPUP_MIN_USD} to ${settings.AIPOWER_TOPUP_MAX_USD}.")
        return v

    def clean_alert_thresholds_usd(self):
        out = []
        for part in filter(None, (p.strip() for p in self.cleaned_data["alert_thresholds_usd"].split(","))):
            try:
                value = parse_usd(part)
                if value < 0:
                    raise forms.ValidationError("Thresholds cannot be negative.")
                out.append(usd_to_nusd(value))
            except InvalidAmount as e:
                raise forms.ValidationError(f"{part!r} is not an amount: {e}") from None
        return sorted(set(out))

    def clean(self):
        data = super().clean()
        if data.get("auto_recharge_enabled") and (
            data.get("auto_recharge_threshold_usd") is None or not data.get("auto_recharge_amount_usd")
        ):
            raise forms.ValidationError("Auto-recharge needs a threshold and an amount.")
        return data

    def account_fields(self) -> dict:
        d = self.cleaned_data
        cap = d.get("monthly_cap_usd")
        fields = {
            "auto_recharge_enabled": d["auto_recharge_enabled"],
            "alert_thresholds_nusd": d["alert_thresholds_usd"],
            "monthly_cap_nusd": None if cap is None else usd_to_nusd(cap),
        }
        if d.get("auto_recharge_threshold_usd") is not None:
            fields["auto_recharge_threshold_nusd"] = usd_to_nusd(d["auto_recharge_threshold_usd"])
        if d.get("auto_recharge_amount_usd"):
            fields["auto_recharge_amount_nusd"] = usd_to_nusd(d["auto_recharge_amount_usd"])
        return fields


class LedgerFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "all")] + list(LedgerEntry.Kind.choices))
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class KeyBudgetForm(forms.Form):
    monthly_budget_usd = UsdField(required=False, label="Monthly budget (USD, empty for none)")

    def budget_nusd(self) -> int | None:
        v = self.cleaned_data["monthly_budget_usd"]
        return None if v is None else usd_to_nusd(v)
