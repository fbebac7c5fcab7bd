"""The public site's money math, exactly: integers and Decimal, never floats.

Catalog prices are micro-USD per one million tokens. Our price is the upstream price plus the
default markup (basis points). A request's cost is what the gateway would charge for it
(billing.pricing.cost_of: nano-USD, rounded up once per request); a day is requests × that.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.pricing import BP, cost_of

MICRO = Decimal(1_000_000)
NANO = Decimal(1_000_000_000)
DAYS_PER_MONTH = 30


def marked_up_micro(upstream_micro: int, markup_bp: int) -> Decimal:
    """Our price in micro-USD per 1M tokens: upstream × (1 + markup), exact."""
    return Decimal(upstream_micro) * (BP + markup_bp) / BP


def per_million(micro: Decimal | int) -> str:
    """A price per 1M tokens for people: $2.875, $0.0575, $15.00 (2 to 4 decimals, half up)."""
    usd = (Decimal(micro) / MICRO).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    text = f"{usd:.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return "$" + text


def money(nusd: int) -> str:
    """An amount for people: $8,625 from $100 up, $12.34 from a cent, $0.0012 below (half up)."""
    usd = Decimal(nusd) / NANO
    if usd >= 100:
        return f"${usd.quantize(Decimal(1), ROUND_HALF_UP):,}"
    if usd >= Decimal("0.01") or usd == 0:
        return f"${usd.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"
    return f"${usd.quantize(Decimal('0.0001'), ROUND_HALF_UP)}"


def request_cost_nusd(model, *, input_tokens: int, output_tokens: int, markup_bp: int) -> int:
    """What the gateway charges for one request to `model` (a routing.catalog.ModelInfo)."""
    return cost_of(
        prompt_tokens=input_tokens,
        cached_tokens=0,
        completion_tokens=output_tokens,
        input_price_usd_micro_per_mtok=model.input_price_usd_micro_per_mtok,
        output_price_usd_micro_per_mtok=model.output_price_usd_micro_per_mtok,
        cached_input_price_usd_micro_per_mtok=None,
        markup_bp=markup_bp,
    ).charged_nusd


def change_percent(baseline_nusd: int, nusd: int) -> int | None:
    """The change against a baseline in whole percent, half away from zero: -43 is 43% cheaper.
    None against a free baseline (no percentage of nothing)."""
    if baseline_nusd == 0:
        return None
    return int((Decimal(nusd - baseline_nusd) * 100 / baseline_nusd).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Strategy:
    label: str
    day_nusd: int
    detail: str = ""
    model: object = None  # the single model, for "only X" strategies

    @property
    def month_nusd(self) -> int:
        return self.day_nusd * DAYS_PER_MONTH


def single_model(model, *, requests: int, input_tokens: int, output_tokens: int, markup_bp: int) -> Strategy:
    per = request_cost_nusd(model, input_tokens=input_tokens, output_tokens=output_tokens, markup_bp=markup_bp)
    return Strategy(label=f"Only {model.display_name}", day_nusd=requests * per, model=model)


def mix(
    shares: list[tuple[object, int]], *, requests: int, input_tokens: int, output_tokens: int, markup_bp: int
) -> int:
    """Cost per day in nano-USD of `requests` split over (route's first-choice model, percent)
    shares summing to 100; rounded half up to the nano-USD once."""
    total = sum(
        pct * request_cost_nusd(m, input_tokens=input_tokens, output_tokens=output_tokens, markup_bp=markup_bp)
        for m, pct in shares
    )
    return int((Decimal(requests) * total / 100).quantize(Decimal(1), ROUND_HALF_UP))
