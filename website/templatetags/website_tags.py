from django import template

from .. import costs

register = template.Library()


@register.filter
def money(nusd: int) -> str:
    return costs.money(nusd)


@register.filter
def tokens(n: int) -> str:
    """128000 -> 128K, 1048576 -> 1M (context windows and output limits)."""
    if n >= 1_000_000 and n % 1_000_000 < 100_000:
        return f"{n // 1_000_000}M" if n % 1_000_000 < 50_000 else f"{n / 1_000_000:.1f}M"
    if n >= 1000:
        return f"{round(n / 1000)}K" if n % 1000 else f"{n // 1000}K"
    return str(n)


@register.filter
def change(pct: int | None) -> str:
    if pct is None:
        return "baseline"
    return f"{pct:+d}%".replace("-", "−") if pct else "±0%"


@register.filter
def model_url(m) -> str:
    """The page of a routing.catalog.ModelInfo."""
    from django.urls import reverse

    provider, _, name = m.public_id.partition("/")
    return reverse("model-detail", args=[provider, name])
