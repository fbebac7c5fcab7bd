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
