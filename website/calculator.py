"""The pricing page's cost calculator: a plain GET form (works without JavaScript); the page's
script asks the same view for the results fragment as the fields change."""

from dataclasses import dataclass

from django import forms

from routing.catalog import Snapshot

from . import costs
from .selectors import EXAMPLE, EXAMPLE_MIX, markup_bp, mix_shares

MAX_REQUESTS = 1_000_000_000
MAX_TOKENS = 10_000_000


class CalculatorForm(forms.Form):
    requests = forms.IntegerField(label="Requests per day", min_value=1, max_value=MAX_REQUESTS)
    input_tokens = forms.IntegerField(label="Input tokens per request", min_value=0, max_value=MAX_TOKENS)
    output_tokens = forms.IntegerField(label="Output tokens per request", min_value=0, max_value=MAX_TOKENS)

    def __init__(self, *args, routes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.routes = routes
        for name in routes:
            self.fields[f"mix_{name}"] = forms.IntegerField(label=name, min_value=0, max_value=100, required=False)

    def route_fields(self):
        return [self[f"mix_{name}"] for name in self.routes]

    def clean(self):
        data = super().clean()
        total = sum(data.get(f"mix_{name}") or 0 for name in self.routes)
        if not self.errors and total != 100:
            raise forms.ValidationError(f"The route mix must add up to 100% (it adds up to {total}%).")
        return data

    def mix(self) -> dict[str, int]:
        return {name: self.cleaned_data.get(f"mix_{name}") or 0 for name in self.routes}


def initial(routes: list[str]) -> dict:
    data = dict(EXAMPLE)
    for name in routes:
        data[f"mix_{name}"] = EXAMPLE_MIX.get(name, 0)
    return data


@dataclass(frozen=True)
class Estimate:
    day_nusd: int
    month_nusd: int
    per_request_nusd: int
    singles: list  # (ModelRow-like model, Strategy, mix's change against it in percent)
    mix: dict


def estimate(
    snapshot: Snapshot, *, requests: int, input_tokens: int, output_tokens: int, mix: dict[str, int]
) -> Estimate | None:
    bp = markup_bp()
    shares = mix_shares(snapshot, mix)
    if shares is None:
        return None
    day = costs.mix(shares, requests=requests, input_tokens=input_tokens, output_tokens=output_tokens, markup_bp=bp)
    singles = []
    for m in snapshot.models.values():
        s = costs.single_model(
            m, requests=requests, input_tokens=input_tokens, output_tokens=output_tokens, markup_bp=bp
        )
        singles.append((m, s, costs.change_percent(s.day_nusd, day)))
    singles.sort(key=lambda row: (-row[1].day_nusd, row[0].display_name))
    return Estimate(
        day_nusd=day,
        month_nusd=day * costs.DAYS_PER_MONTH,
        per_request_nusd=(day + requests // 2) // requests,
        singles=singles,
        mix=mix,
    )
