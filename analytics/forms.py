"""The analytics pages' and API's query: a time range and filters, read from the URL.

A key id of another organization is not an error message but a 404 (the views raise it): ids
never tell a caller what exists elsewhere.
"""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.http import Http404
from django.utils import timezone

from accounts.models import ApiKey

from .rollups import HOUR, day_floor, hour_floor
from .selectors import PINNED, STATUSES, Filters, Range

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_CUSTOM_DAYS = 400


class UsageQueryForm(forms.Form):
    range = forms.ChoiceField(choices=[(r, r) for r in (*RANGES, "custom")], required=False, initial="24h")
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    key = forms.IntegerField(required=False, min_value=1)
    route = forms.CharField(required=False, max_length=40)
    model = forms.CharField(required=False, max_length=160)
    provider = forms.CharField(required=False, max_length=40)
    status = forms.ChoiceField(
        choices=[("", "any status")] + [(s, s.replace("_", " ")) for s in STATUSES], required=False
    )

    def __init__(self, data, *, organization_id: int, **kw):
        super().__init__(data, **kw)
        self.organization_id = organization_id

    def clean_key(self):
        key = self.cleaned_data.get("key")
        if key is not None and not ApiKey.objects.filter(pk=key, organization_id=self.organization_id).exists():
            raise Http404("No such API key.")
        return key

    def clean(self):
        data = super().clean()
        which = data.get("range") or "24h"
        data["range"] = which
        if which == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None or end is None:
                raise forms.ValidationError("A custom range needs both a start and an end date.")
            if end < start:
                raise forms.ValidationError("The end date is before the start date.")
            if (end - start).days >= MAX_CUSTOM_DAYS:
                raise forms.ValidationError(f"A custom range may cover at most {MAX_CUSTOM_DAYS} days.")
        return data

    def time_range(self, now: datetime | None = None) -> Range:
        data = self.cleaned_data
        now = now or timezone.now()
        if data["range"] == "custom":
            start = datetime.combine(data["start"], time(), tzinfo=UTC)
            end = datetime.combine(data["end"], time(), tzinfo=UTC) + timedelta(days=1)
            return Range(start, end)
        end = hour_floor(now) + HOUR
        if data["range"] == "24h":
            return Range(end - RANGES["24h"], end)
        # "Last 7 / 30 days": today and the whole days before it (UTC), so that every day but
        # today is read from one daily rollup.
        return Range(day_floor(now) - RANGES[data["range"]] + timedelta(days=1), end)

    def filters(self) -> Filters:
        data = self.cleaned_data
        route = data.get("route") or None
        return Filters(
            key=data.get("key"),
            route="" if route == PINNED else route,
            model=data.get("model") or None,
            provider=data.get("provider") or None,
            status=data.get("status") or None,
        )

    def query_params(self) -> dict:
        """The query as URL parameters (for links that keep it)."""
        data = self.cleaned_data
        params = {"range": data["range"], **self.filters().as_params()}
        if data["range"] == "custom":
            params.update(start=data["start"].isoformat(), end=data["end"].isoformat())
        return params
