"""What a completion cost the caller, as the response reports it: `usage.cost` (USD) and the
`x-aipower-cost-usd` header, both rendered exactly from the integer nano-USD charge. The JSON
number's digits are written straight into the body (orjson.Fragment): no float ever holds it."""

import orjson

from billing.pricing import cost_of

from .catalog import prices_of

COST_HEADER = "x-aipower-cost-usd"


def price(served, usage, markup_bp: int) -> tuple[int, int]:
    """(upstream cost, charge) in nano-USD of `usage` on the served model."""
    cost = cost_of(  # at the model's long-prompt prices when the prompt is above its threshold
        prompt_tokens=usage.prompt_tokens,
        cached_tokens=usage.cached_tokens,
        completion_tokens=usage.completion_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        markup_bp=markup_bp,
        **prices_of(served),
    )
    return cost.upstream_nusd, cost.charged_nusd


def usd_text(nusd: int) -> str:
    """Nano-USD as an exact decimal USD number: 1234567 -> "0.001234567", 2 * 10**9 -> "2"."""
    sign = "-" if nusd < 0 else ""
    whole, frac = divmod(abs(nusd), 10**9)
    frac_text = f"{frac:09d}".rstrip("0")
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"


def with_cost(usage: dict, charged_nusd: int | None) -> dict:
    """An OpenAI usage object with `cost` (USD) added."""
    if charged_nusd is not None:
        usage["cost"] = orjson.Fragment(usd_text(charged_nusd).encode())
    return usage
