"""Admin forms for the catalog: prices entered and shown in dollars per 1M tokens (stored as
integer micro-USD per 1M tokens), models named by their display name."""

from decimal import Decimal

from django import forms

MICRO = Decimal(1_000_000)
PRICE_FIELDS = {
    "input_price_usd_micro_per_mtok": "Input price",
    "output_price_usd_micro_per_mtok": "Output price",
    "cached_input_price_usd_micro_per_mtok": "Cached input price",
    "cache_write_price_usd_micro_per_mtok": "Cache write price",
    "cache_write_1h_price_usd_micro_per_mtok": "1-hour cache write price",
    "long_input_price_usd_micro_per_mtok": "Long-prompt input price",
    "long_cached_input_price_usd_micro_per_mtok": "Long-prompt cached input price",
    "long_cache_write_price_usd_micro_per_mtok": "Long-prompt cache write price",
    "long_output_price_usd_micro_per_mtok": "Long-prompt output price",
}


def usd_per_m(micro: int | None) -> str:
    """$2.50 for 2_500_000 micro-USD (at least two decimals, at most six)."""
    if micro is None:
        return "—"
    text = f"{Decimal(micro) / MICRO:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


class CatalogModelForm(forms.ModelForm):
    """The price fields in $ per 1M tokens, six decimals at most (one micro-dollar)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in PRICE_FIELDS.items():
            if name not in self.fields:
                continue
            old = self.fields[name]
            self.fields[name] = forms.DecimalField(
                label=f"{label} ($ per 1M tokens)",
                required=old.required,
                min_value=0,
                max_digits=14,
                decimal_places=6,
                help_text=old.help_text or ("Empty: the input price." if not old.required else ""),
            )
            micro = self.initial.get(name)
            if micro is not None:
                self.initial[name] = Decimal(micro) / MICRO

    def _clean_price(self, name):
        value = self.cleaned_data.get(name)
        return None if value is None else int(value * MICRO)

    def clean(self):
        data = super().clean()
        for name in PRICE_FIELDS:
            if name in self.fields and name in data:
                data[name] = self._clean_price(name)
        return data


class ModelChoiceByName(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.display_name} ({obj.public_id})"
