"""Prices and costs, exactly, in integers.

Catalog prices are micro-USD per one million tokens, so tokens × price is a cost in pico-USD
(1e-12 USD) with no rounding at all. Costs are kept in nano-USD (1e-9 USD), rounded up once per
request; the markup is in basis points (1500 = 15%).

Prompt-cache writes come in two lifetimes (Anthropic's): five minutes, at the cache-write price,
and one hour, at the 1-hour cache-write price. A model without a 1-hour price is never sent a
1-hour mark (routing/adapters/common.py), so its writes are all five-minute ones; should an
upstream report 1-hour writes anyway, they are billed at its (five-minute) cache-write price.

Long prompts. Some models price a whole request higher when its prompt is long (OpenAI's GPT-5.4
above 272K input tokens, Google's Gemini 2.5 Pro above 200K): a model may have a long-prompt
threshold (tokens) and long prices (LONG_PRICES). A request whose prompt tokens (every input
token: cached and cache-written ones included, as these vendors count "input") are more than the
threshold is billed entirely at the long prices; exactly at the threshold it is not. An empty long
price is that kind's price below the threshold (1-hour cache writes have no long price).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from .money import BP_PER_UNIT as BP
from .money import PICO_PER_NANO
from .money import format_usd as format_usd  # re-exported: templates and commands import it from here


@dataclass(frozen=True, slots=True)
class Cost:
    upstream_nusd: int
    charged_nusd: int


# The prices a request above its model's long-prompt threshold is billed at: the long price of each
# kind, by the name of the kind it replaces. Micro-USD per 1M tokens, like every price.
LONG_PRICES = {
    "input_price_usd_micro_per_mtok": "long_input_price_usd_micro_per_mtok",
    "cached_input_price_usd_micro_per_mtok": "long_cached_input_price_usd_micro_per_mtok",
    "cache_write_price_usd_micro_per_mtok": "long_cache_write_price_usd_micro_per_mtok",
    "output_price_usd_micro_per_mtok": "long_output_price_usd_micro_per_mtok",
}
THRESHOLD = "long_prompt_threshold_tokens"  # the most prompt tokens billed at the normal prices
LONG_FIELDS = (THRESHOLD, *LONG_PRICES.values())
NO_LONG_PRICES: dict[str, int | None] = dict.fromkeys(LONG_FIELDS)


def is_long(prompt_tokens: int, threshold: int | None) -> bool:
    """Whether a prompt of `prompt_tokens` is billed at the long prices: more than the threshold."""
    return threshold is not None and prompt_tokens > threshold


def prices_at(prompt_tokens: int, prices: Mapping) -> dict:
    """`prices` (a model's, by PRICE_FIELDS name, long ones included or not) as a request with a
    prompt of `prompt_tokens` is billed: the long ones in place of the normal ones above the
    threshold, and no long ones left."""
    billed = {k: v for k, v in prices.items() if k not in NO_LONG_PRICES}
    if is_long(prompt_tokens, prices.get(THRESHOLD)):
        for name, long_name in LONG_PRICES.items():
            if prices.get(long_name) is not None:
                billed[name] = prices[long_name]
    return billed


def tiers_up_to(prompt_tokens: int, prices: Mapping) -> list[dict]:
    """The prices a request with a prompt of at most `prompt_tokens` may be billed at: the normal
    ones, and the long ones too when such a prompt can be more than the threshold (what to hold
    for is the dearest of them)."""
    tiers = [prices_at(0, prices)]
    if is_long(prompt_tokens, prices.get(THRESHOLD)):
        tiers.append(prices_at(prompt_tokens, prices))
    return tiers


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _or(price: int | None, default: int) -> int:
    return default if price is None else price


def cost_of(
    *,
    prompt_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    input_price_usd_micro_per_mtok: int,
    output_price_usd_micro_per_mtok: int,
    cached_input_price_usd_micro_per_mtok: int | None,
    markup_bp: int,
    cache_write_tokens: int = 0,
    cache_write_price_usd_micro_per_mtok: int | None = None,
    cache_write_1h_tokens: int = 0,
    cache_write_1h_price_usd_micro_per_mtok: int | None = None,
    long_prompt_threshold_tokens: int | None = None,
    long_input_price_usd_micro_per_mtok: int | None = None,
    long_cached_input_price_usd_micro_per_mtok: int | None = None,
    long_cache_write_price_usd_micro_per_mtok: int | None = None,
    long_output_price_usd_micro_per_mtok: int | None = None,
) -> Cost:
    """prompt_tokens counts every input token, cached and cache-written ones included;
    cache_write_tokens every token written to the cache, the 1-hour ones (cache_write_1h_tokens)
    included. A prompt of more than long_prompt_threshold_tokens is billed, with its output, at
    the long prices (an empty one: the normal price of its kind)."""
    if is_long(prompt_tokens, long_prompt_threshold_tokens):
        input_price_usd_micro_per_mtok = _or(long_input_price_usd_micro_per_mtok, input_price_usd_micro_per_mtok)
        output_price_usd_micro_per_mtok = _or(long_output_price_usd_micro_per_mtok, output_price_usd_micro_per_mtok)
        if long_cached_input_price_usd_micro_per_mtok is not None:
            cached_input_price_usd_micro_per_mtok = long_cached_input_price_usd_micro_per_mtok
        if long_cache_write_price_usd_micro_per_mtok is not None:
            cache_write_price_usd_micro_per_mtok = long_cache_write_price_usd_micro_per_mtok
    cached = min(cached_tokens, prompt_tokens)
    written = min(cache_write_tokens, prompt_tokens - cached)
    written_1h = min(cache_write_1h_tokens, written)
    plain = prompt_tokens - cached - written
    write_price = _or(cache_write_price_usd_micro_per_mtok, input_price_usd_micro_per_mtok)
    pico = (
        plain * input_price_usd_micro_per_mtok
        + cached * _or(cached_input_price_usd_micro_per_mtok, input_price_usd_micro_per_mtok)
        + (written - written_1h) * write_price
        + written_1h * _or(cache_write_1h_price_usd_micro_per_mtok, write_price)
        + completion_tokens * output_price_usd_micro_per_mtok
    )
    return Cost(
        upstream_nusd=_ceil_div(pico, PICO_PER_NANO),
        charged_nusd=_ceil_div(pico * (BP + markup_bp), PICO_PER_NANO * BP),
    )


def dearest_prompt_price(
    *,
    input_price_usd_micro_per_mtok: int,
    cache_write_price_usd_micro_per_mtok: int | None = None,
    cache_write_1h_price_usd_micro_per_mtok: int | None = None,
) -> int:
    """The most one prompt token can cost on a model, micro-USD per 1M tokens: the input price, or
    a cache write's (five-minute or one-hour) where that is dearer — the whole prompt may be
    written to the cache."""
    return max(
        input_price_usd_micro_per_mtok,
        _or(cache_write_price_usd_micro_per_mtok, 0),
        _or(cache_write_1h_price_usd_micro_per_mtok, 0),
    )


def worst_case_nusd(
    *,
    prompt_tokens: int,
    max_tokens: int | None,
    model_max_output: int,
    input_price_usd_micro_per_mtok: int,
    output_price_usd_micro_per_mtok: int,
    markup_bp: int,
    n: int = 1,
    cache_write_price_usd_micro_per_mtok: int | None = None,
    cache_write_1h_price_usd_micro_per_mtok: int | None = None,
) -> int:
    """What to reserve before calling a model: every prompt token at the dearest price a prompt
    token can cost there (dearest_prompt_price: no cache discount assumed, and a cache write where
    the model prices one above the input) and the most output the model can give —
    min(max_tokens, its max output), so an absurd max_tokens cannot lock a whole balance — for each
    of the `n` choices, with the markup, rounded up."""
    output = model_max_output if max_tokens is None else min(max(max_tokens, 0), model_max_output)
    output *= max(n, 1)  # n choices, each up to the cap
    return cost_of(
        prompt_tokens=prompt_tokens,
        cached_tokens=0,
        completion_tokens=output,
        input_price_usd_micro_per_mtok=dearest_prompt_price(
            input_price_usd_micro_per_mtok=input_price_usd_micro_per_mtok,
            cache_write_price_usd_micro_per_mtok=cache_write_price_usd_micro_per_mtok,
            cache_write_1h_price_usd_micro_per_mtok=cache_write_1h_price_usd_micro_per_mtok,
        ),
        output_price_usd_micro_per_mtok=output_price_usd_micro_per_mtok,
        cached_input_price_usd_micro_per_mtok=None,
        markup_bp=markup_bp,
    ).charged_nusd
