from django import template

from billing.pricing import format_usd

register = template.Library()


@register.filter
def usd(nusd) -> str:
    """Nano-USD for people: $1.234567."""
    return format_usd(int(nusd or 0))
