from django import template

from billing.money import format_usd
from billing.money import usd_input as _usd_input

register = template.Library()


@register.filter
def usd(nusd) -> str:
    """Nano-USD for people: $1.234567."""
    return format_usd(int(nusd or 0))


@register.filter
def usd_input(nusd) -> str:
    """Nano-USD as a form field's value, exact and plain: 12345.67 (empty for None)."""
    return _usd_input(None if nusd is None or nusd == "" else int(nusd))
