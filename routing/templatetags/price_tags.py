from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def usd_per_mtok(micro_usd):
    """3_750_000 (micro-USD per 1M tokens) -> "$3.75", 75_000 -> "$0.075"; None -> "–"."""
    if micro_usd is None:
        return "–"
    whole, _, cents = format((Decimal(micro_usd) / 1_000_000).normalize(), "f").partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"
