"""Money: the units, and exact conversions between them and what people read and type.

Amounts (balances, costs, caps, budgets) are integer nano-USD (1e-9 USD), in fields ending in
`_nusd`. Catalog prices are integer micro-USD per one million tokens (`_usd_micro_per_mtok`), so
tokens × price is a cost in pico-USD with no rounding. Stripe counts US cents. Nothing here is a
float: people's text becomes a Decimal, then an exact integer, or an error.
"""

from decimal import Decimal, InvalidOperation

NUSD_PER_USD = 1_000_000_000  # nano-USD in one US dollar
NUSD_PER_CENT = 10_000_000  # nano-USD in one US cent (Stripe's unit)
PICO_PER_NANO = 1000  # tokens × price per 1M tokens (micro-USD) is pico-USD
USD_MICRO_PER_USD = 1_000_000  # catalog prices: micro-USD per 1M tokens
BP_PER_UNIT = 10_000  # markups in basis points: 1500 = 15%

_NANO = Decimal(1).scaleb(-9)


class InvalidAmount(ValueError):
    """Text that is not an amount of US dollars; the message is fit to show to the user."""


def usd_to_nusd(usd: Decimal | int) -> int:
    """Dollars as integer nano-USD, exactly; more precision than a nano-dollar is an error."""
    value = Decimal(usd)
    if not value.is_finite():
        raise InvalidAmount("Not an amount.")
    nusd = value * NUSD_PER_USD
    if nusd != nusd.to_integral_value():
        raise InvalidAmount("At most 9 decimals.")
    return int(nusd)


def parse_usd(text: str) -> Decimal:
    """People's text ("12345.67", "$12,345.67", "-5") as an exact Decimal of dollars."""
    cleaned = str(text).strip().replace(",", "").replace(" ", "")
    negative = cleaned.startswith("-")
    cleaned = cleaned.removeprefix("-").removeprefix("$")
    if not cleaned or not all(c.isdigit() or c == "." for c in cleaned) or cleaned.count(".") > 1:
        raise InvalidAmount(f"{text!r} is not an amount in US dollars.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidAmount(f"{text!r} is not an amount in US dollars.") from None
    return -value if negative else value


def parse_usd_to_nusd(text: str) -> int:
    return usd_to_nusd(parse_usd(text))


def nusd_to_usd(nusd: int) -> Decimal:
    """Exact: 12_345_670_000_000 -> Decimal('12345.67')."""
    return (Decimal(int(nusd)) * _NANO).quantize(_NANO).normalize() if nusd else Decimal(0)


def usd_input(nusd: int | None) -> str:
    """An amount as a form field shows it, exact and plain: 12345.67, 1234567, 0.000000001 (no
    exponent, no thousands separator, no trailing zeros), so that a form saved unchanged saves the
    same amount. None is the empty string."""
    if nusd is None:
        return ""
    return format(nusd_to_usd(nusd), "f")


def format_usd(nusd: int) -> str:
    """A nano-USD amount for people: $1,234.50, $16.00, $0.000563 (to the micro-dollar, truncated
    toward zero; at least cents, no trailing zeros past them)."""
    sign = "-" if nusd < 0 else ""
    dollars, micro = divmod(abs(nusd) // 1000, 1_000_000)
    return f"{sign}${dollars:,}.{f'{micro:06d}'.rstrip('0'):0<2}"


def nusd_to_cents(nusd: int) -> int:
    """Stripe's amount for a nano-USD amount of whole cents."""
    if nusd % NUSD_PER_CENT:
        raise ValueError("Stripe amounts are whole cents")
    return nusd // NUSD_PER_CENT
