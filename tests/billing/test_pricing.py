from billing.pricing import cost_of, format_usd


def test_it_prices_tokens_exactly_in_integers():
    # 1,000 input tokens at $0.28/M and 500 output tokens at $0.42/M = $0.00028 + $0.00021.
    cost = cost_of(
        prompt_tokens=1000,
        cached_tokens=0,
        completion_tokens=500,
        input_price_usd_micro_per_mtok=280_000,
        output_price_usd_micro_per_mtok=420_000,
        cached_input_price_usd_micro_per_mtok=28_000,
        markup_bp=1500,
    )
    assert cost.upstream_nusd == 490_000
    assert cost.charged_nusd == 563_500  # +15%
    assert isinstance(cost.upstream_nusd, int) and isinstance(cost.charged_nusd, int)


def test_cached_tokens_use_the_cached_price():
    cost = cost_of(
        prompt_tokens=1000,
        cached_tokens=400,
        completion_tokens=0,
        input_price_usd_micro_per_mtok=2_500_000,
        output_price_usd_micro_per_mtok=15_000_000,
        cached_input_price_usd_micro_per_mtok=250_000,
        markup_bp=0,
    )
    assert cost.upstream_nusd == (600 * 2_500_000 + 400 * 250_000) // 1000


def test_it_rounds_up_to_the_nano_dollar_once():
    cost = cost_of(
        prompt_tokens=1,
        cached_tokens=0,
        completion_tokens=0,
        input_price_usd_micro_per_mtok=50_000,
        output_price_usd_micro_per_mtok=0,
        cached_input_price_usd_micro_per_mtok=None,
        markup_bp=1500,
    )
    assert cost.upstream_nusd == 50  # 50,000 pico-USD
    assert cost.charged_nusd == 58  # 57.5 rounded up


def test_format_usd():
    assert format_usd(563_500) == "$0.000563"
    assert format_usd(12_345_678_901) == "$12.345678"


def test_the_worst_case_caps_max_tokens_at_the_models_max_output():
    from billing.pricing import worst_case_nusd

    common = {
        "prompt_tokens": 1000,
        "model_max_output": 8192,
        "input_price_usd_micro_per_mtok": 3_000_000,
        "output_price_usd_micro_per_mtok": 15_000_000,
        "markup_bp": 1500,
    }
    absurd = worst_case_nusd(max_tokens=10**9, **common)
    assert absurd == worst_case_nusd(max_tokens=None, **common) == worst_case_nusd(max_tokens=8192, **common)
    assert absurd == -(-(1000 * 3_000_000 + 8192 * 15_000_000) * 11_500 // (1000 * 10_000))
    small = worst_case_nusd(max_tokens=10, **common)
    assert (
        small
        == cost_of(
            prompt_tokens=1000,
            cached_tokens=0,
            completion_tokens=10,
            input_price_usd_micro_per_mtok=3_000_000,
            output_price_usd_micro_per_mtok=15_000_000,
            cached_input_price_usd_micro_per_mtok=None,
            markup_bp=1500,
        ).charged_nusd
    )
    assert small < absurd


# Claude Sonnet 4's list prices, micro-USD per 1M tokens: input, cached input, 5-minute and 1-hour
# cache writes, output.
SONNET = {
    "input_price_usd_micro_per_mtok": 3_000_000,
    "cached_input_price_usd_micro_per_mtok": 300_000,
    "cache_write_price_usd_micro_per_mtok": 3_750_000,
    "cache_write_1h_price_usd_micro_per_mtok": 6_000_000,
    "output_price_usd_micro_per_mtok": 15_000_000,
}


def test_one_hour_cache_writes_are_priced_at_the_one_hour_price():
    # 10,000 prompt tokens: 2,000 read from the cache, 5,000 written (3,000 of them for one hour),
    # 3,000 plain; 100 output tokens.
    cost = cost_of(
        prompt_tokens=10_000,
        cached_tokens=2_000,
        completion_tokens=100,
        cache_write_tokens=5_000,
        cache_write_1h_tokens=3_000,
        markup_bp=1500,
        **SONNET,
    )
    pico = 3_000 * 3_000_000 + 2_000 * 300_000 + 2_000 * 3_750_000 + 3_000 * 6_000_000 + 100 * 15_000_000
    assert pico == 36_600_000_000
    assert cost.upstream_nusd == 36_600_000
    assert cost.charged_nusd == 42_090_000  # +15%
    five_minute_only = cost_of(
        prompt_tokens=10_000,
        cached_tokens=2_000,
        completion_tokens=100,
        cache_write_tokens=5_000,
        markup_bp=0,
        **SONNET,
    )
    # The 3,000 one-hour tokens cost 2.25 USD per 1M more than at the five-minute price.
    assert cost.upstream_nusd - five_minute_only.upstream_nusd == 3_000 * (6_000_000 - 3_750_000) // 1000


def _written(prompt: int, write: int, write_1h: int, prices: dict) -> int:
    """The upstream cost of a prompt of which `write` tokens were written to the cache, `write_1h` of
    them for one hour."""
    return cost_of(
        prompt_tokens=prompt,
        cached_tokens=0,
        completion_tokens=0,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
        markup_bp=0,
        **prices,
    ).upstream_nusd


def test_one_hour_writes_are_part_of_the_writes_and_the_writes_of_the_prompt():
    # More 1-hour writes reported than writes, or writes than prompt, are capped: a token is billed once.
    assert _written(1_000, 5_000, 9_000, SONNET) == 1_000 * 6_000_000 // 1000


def test_one_hour_writes_on_a_model_without_a_one_hour_price_are_billed_at_its_cache_write_price():
    prices = {**SONNET, "cache_write_1h_price_usd_micro_per_mtok": None}
    assert _written(1_000, 1_000, 1_000, prices) == 1_000 * 3_750_000 // 1000


def test_the_worst_case_holds_every_prompt_token_at_the_dearest_price_it_can_cost():
    from billing.pricing import dearest_prompt_price, worst_case_nusd

    common = {
        "prompt_tokens": 100_000,
        "max_tokens": 1000,
        "model_max_output": 64_000,
        "input_price_usd_micro_per_mtok": 3_000_000,
        "output_price_usd_micro_per_mtok": 15_000_000,
        "markup_bp": 1500,
    }
    # A whole prompt written to the cache for one hour: 100,000 × $6/M + 1,000 × $15/M = $0.615, +15%.
    full_1h_write = worst_case_nusd(
        cache_write_price_usd_micro_per_mtok=3_750_000, cache_write_1h_price_usd_micro_per_mtok=6_000_000, **common
    )
    assert full_1h_write == 707_250_000
    charged = cost_of(
        prompt_tokens=100_000,
        cached_tokens=0,
        completion_tokens=1000,
        cache_write_tokens=100_000,
        cache_write_1h_tokens=100_000,
        markup_bp=1500,
        **SONNET,
    ).charged_nusd
    assert charged == full_1h_write  # the hold covers the dearest request exactly
    # Five-minute writes only: 1.25x input.
    assert worst_case_nusd(cache_write_price_usd_micro_per_mtok=3_750_000, **common) == -(
        -(100_000 * 3_750_000 + 1000 * 15_000_000) * 11_500 // (1000 * 10_000)
    )
    # No cache-write price (or a cheaper one): the input price, as before.
    plain = worst_case_nusd(**common)
    assert plain == worst_case_nusd(cache_write_price_usd_micro_per_mtok=1_000_000, **common)
    assert plain == -(-(100_000 * 3_000_000 + 1000 * 15_000_000) * 11_500 // (1000 * 10_000))
    assert isinstance(full_1h_write, int)
    assert (
        dearest_prompt_price(
            input_price_usd_micro_per_mtok=3_000_000,
            cache_write_price_usd_micro_per_mtok=3_750_000,
            cache_write_1h_price_usd_micro_per_mtok=None,
        )
        == 3_750_000
    )
