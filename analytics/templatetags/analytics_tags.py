from decimal import Decimal

from django import template

from routing.costs import usd_text

register = template.Library()


@register.filter
def ms(value) -> str:
    """Milliseconds for people: 840 ms, 2.3 s; none: a dash."""
    if value is None or value == "":
        return "–"
    value = int(value)
    return f"{value} ms" if value < 1000 else f"{value / 1000:.1f} s"


@register.filter
def pct(rate) -> str:
    return f"{(rate or 0) * 100:.1f}%"


@register.filter
def usd_exact(nusd) -> str:
    return "$" + usd_text(int(nusd or 0))


@register.filter
def per_mtok(micro) -> str:
    """A catalog price (micro-USD per 1M tokens) as dollars: $3.00, $0.075."""
    if micro is None:
        return "–"
    d = Decimal(int(micro)) / Decimal(1_000_000)
    text = f"{d:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


@register.filter
def bp(value) -> str:
    return f"{Decimal(int(value or 0)) / 100:g}%"


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def humanize_status(status: str) -> str:
    return (status or "").replace("_", " ")
