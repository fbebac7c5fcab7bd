from datetime import UTC, datetime, time, timedelta
from typing import cast

from django import forms
from django.utils import timezone

from .allowlist import allowlist_choices, validate_allowlist
from .models import ApiKey, Membership

GRACE_CHOICES = [
    ("0", "Revoke the old key now"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
]


class AllowlistField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)
        self.choices = allowlist_choices

    def valid_value(self, value):
        return True  # validate_allowlist below says which names are unknown

    def clean(self, value):
        return validate_allowlist(super().clean(value))


class KeyLimitsForm(forms.Form):
    name = forms.CharField(max_length=100)
    rpm_limit = forms.IntegerField(
        label="Requests per minute", required=False, min_value=1, help_text="Empty: no per-key limit."
    )
    tpm_limit = forms.IntegerField(
        label="Tokens per minute", required=False, min_value=1, help_text="Empty: no per-key limit."
    )
    allowed_models = AllowlistField(
        label="Allowed models and routes", help_text="None ticked: the key may call every model and route."
    )
    route_quality = forms.FloatField(
        label="Quality trade-off (route auto)",
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="0 = cheapest, 1 = best; empty: the route's default. A request's x-aipower-quality header "
        "overrides it.",
    )


class KeyCreateForm(KeyLimitsForm):
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. The key stops working at 00:00 UTC that day.",
    )
    field_order = ["name", "expires_on", "rpm_limit", "tpm_limit", "allowed_models", "route_quality"]

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and datetime.combine(day, time(), UTC) <= timezone.now():
            raise forms.ValidationError("Pick a day in the future.")
        return day

    def expires_at(self):
        day = self.cleaned_data.get("expires_on")
        return datetime.combine(day, time(), UTC) if day else None


def key_edit_form(key: ApiKey, data=None) -> KeyLimitsForm:
    initial = {f: getattr(key, f) for f in ("name", "rpm_limit", "tpm_limit", "allowed_models", "route_quality")}
    return KeyLimitsForm(data, initial=initial)


class RotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        label="Keep the old key working for",
        choices=GRACE_CHOICES,
        initial="86400",
        coerce=lambda s: timedelta(seconds=int(s)),
    )


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def __init__(self, *args, roles: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["role"]).choices = [(r, r.capitalize()) for r in roles]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class NameForm(forms.Form):
    name = forms.CharField(max_length=100)
