"""The public pages show live numbers: every price and cost on / and /pricing is a computation
from the catalog in the database, and an operator's price edit in admin shows at once."""

import html
import json
import re
from pathlib import Path

import pytest
from django.test import Client

from routing.models import CatalogModel, Route
from website import costs

MARKUP = 1500  # AIPOWER_DEFAULT_MARKUP_BP
ROOT = Path(__file__).resolve().parents[2]


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def model(public_id: str) -> CatalogModel:
    return CatalogModel.objects.get(public_id=public_id)


def per_request_nusd(m: CatalogModel, inp: int, out: int) -> int:
    """Independently of the site's code: pico-USD × (1 + markup), rounded up to nano-USD."""
    pico = inp * m.input_price_usd_micro_per_mtok + out * m.output_price_usd_micro_per_mtok
    return -(-pico * (10_000 + MARKUP) // (1000 * 10_000))


def first_choice(route: str) -> CatalogModel:
    """The model a route's goal picks for the site's example request (500 in, 200 out), worked out
    here from the catalog: the cheapest of auto-cheap's pool, the best ranked of auto-best's
    (overall) and auto-code's (coding); the other routes' static order (no prompt to judge, no
    latency measured yet)."""
    r = Route.objects.get(name=route)
    pool = [t.model for t in r.targets.order_by("position", "id").select_related("model")]
    if route == "auto-cheap":
        return min(pool, key=lambda m: per_request_nusd(m, 500, 200))
    if route == "auto-best":
        return max(pool, key=lambda m: m.quality_overall or 0)
    if route == "auto-code":
        return max(pool, key=lambda m: m.quality_coding or 0)
    if route == "auto-free":
        return min(pool, key=lambda m: per_request_nusd(m, 500, 200))
    return pool[0]


def cost_rows(page: str) -> dict[str, tuple[str, str, str]]:
    rows = re.findall(
        r'<th scope="row">([^<]+)(?:<span class="detail">[^<]*</span>)?</th>\s*'
        r'<td class="num" data-cost-day>([^<]+)</td>\s*'
        r'<td class="num month" data-cost-month>([^<]+)</td>\s*'
        r'<td class="num" data-change>([^<]+)</td>',
        page,
    )
    return {label.strip(): (day, month, change) for label, day, month, change in rows}


@pytest.fixture
def web(live_db, db):
    return Client()


def test_money_and_price_formats():
    assert costs.money(8_625 * 10**9) == "$8,625"
    assert costs.money(12_345_000_000) == "$12.35" and costs.money(1_234_567) == "$0.0012"
    assert costs.per_million(2_875_000) == "$2.875" and costs.per_million(57_500) == "$0.0575"
    assert costs.per_million(15_000_000) == "$15.00" and costs.per_million(798_610) == "$0.7986"
    assert costs.money(257_600_000_000) == "$258" and costs.money(99_994_000_000) == "$99.99"
    assert costs.change_percent(8625, 4312) == -50 and costs.change_percent(100, 100) == 0
    assert costs.change_percent(0, 5) is None


def test_the_cost_table_is_computed_from_live_prices_with_the_markup(web):
    page = text(web.get("/"))
    rows = cost_rows(page)
    opus, gpt, deepseek = model("anthropic/claude-opus-4.6"), model("openai/gpt-5.4"), model("deepseek/deepseek-chat")
    baseline = 1_000_000 * per_request_nusd(opus, 500, 200)
    assert baseline == 8_625 * 10**9  # 500 × $5 + 200 × $25 per 1M requests, + 15%: by hand
    for label, m in (("Only Claude Opus 4.6", opus), ("Only GPT-5.4", gpt), ("Only DeepSeek V3", deepseek)):
        day = 1_000_000 * per_request_nusd(m, 500, 200)
        change = "baseline" if m is opus else f"−{round((baseline - day) * 100 / baseline)}%"
        assert rows[label] == (costs.money(day), costs.money(day * 30), change), label
    mix_day = (
        80 * per_request_nusd(first_choice("auto-cheap"), 500, 200) * 1_000_000
        + 15 * per_request_nusd(first_choice("auto-code"), 500, 200) * 1_000_000
        + 5 * per_request_nusd(first_choice("auto-best"), 500, 200) * 1_000_000
    ) // 100
    day, month, change = rows["AIPower smart routing"]
    assert (day, month) == (costs.money(mix_day), costs.money(mix_day * 30))
    assert change == f"−{round((baseline - mix_day) * 100 / baseline)}%"
    assert "80% auto-cheap · 15% auto-code · 5% auto-best" in page


def test_the_route_cards_show_each_first_choice_and_its_price(web):
    page = text(web.get("/"))
    for route in Route.objects.filter(enabled=True):
        m = first_choice(route.name)
        inp = costs.per_million(costs.marked_up_micro(m.input_price_usd_micro_per_mtok, MARKUP))
        out = costs.per_million(costs.marked_up_micro(m.output_price_usd_micro_per_mtok, MARKUP))
        card = re.search(
            rf'<code class="route-name">model="{re.escape(route.name)}"</code>.*?</article>', page, re.S
        ).group(0)
        assert m.display_name in card and route.goal in card
        assert f'data-route-price="{route.name}">{inp} in · {out} out<' in card
    assert "Try routing free — 2 calls" in page and 'href="/try/"' in page
    # The live fallback chains.
    assert "openai: [anthropic/claude-sonnet-4, deepseek/deepseek-chat]" in page
    assert "Why not just build this myself?" in page


def test_pricing_lists_every_enabled_model_with_upstream_and_our_price(web):
    page = text(web.get("/pricing/"))
    assert "upstream price + 15%" in page
    enabled = CatalogModel.objects.filter(enabled=True, provider__enabled=True).select_related("provider")
    for m in enabled:
        row = re.search(rf'<tr data-model="{re.escape(m.public_id)}">(.*?)</tr>', page, re.S)
        assert row, m.public_id
        row = row.group(1)
        cached = m.cached_input_price_usd_micro_per_mtok
        cached = m.input_price_usd_micro_per_mtok if cached is None else cached
        priced = [("input", m.input_price_usd_micro_per_mtok)]
        if m.kind == "embedding":  # input only: no cached-input or output prices, which it never bills
            assert 'data-price="embedding"' in row and 'data-price="output-' not in row
            assert 'data-price="cached-' not in row and '<span class="pill">embeddings</span>' in row
            assert f'<span class="pill">{m.dimensions:,} dimensions</span>' in row
        else:
            priced += [("cached", cached), ("output", m.output_price_usd_micro_per_mtok)]
        for kind, micro in priced:
            ours = micro * (10_000 + MARKUP)  # exact, in 1e-4 micro-USD
            assert f'data-price="{kind}-upstream">{costs.per_million(micro)}<' in row
            assert f'data-price="{kind}-ours">{costs.per_million(costs.Decimal(ours) / 10_000)}<' in row
        for kind, micro in (
            ("write", m.cache_write_price_usd_micro_per_mtok),
            ("write-1h", m.cache_write_1h_price_usd_micro_per_mtok),
        ):
            if micro is None:  # no write charge, or no 1-hour caching: not shown
                assert f'data-price="{kind}-upstream"' not in row and f'data-price="{kind}-ours"' not in row
                continue
            ours = micro * (10_000 + MARKUP)
            assert f'data-price="{kind}-upstream">{costs.per_million(micro)}<' in row
            assert f'data-price="{kind}-ours">{costs.per_million(costs.Decimal(ours) / 10_000)}<' in row
        assert m.display_name in row and m.provider.name in row and m.public_id in row
        # The capability chips: PDF and audio input where the model takes them.
        assert ('<span class="pill">PDF input</span>' in row) == m.supports_pdf_input, m.public_id
        assert ('<span class="pill">audio input</span>' in row) == m.supports_audio_input, m.public_id
    assert page.count("<tr data-model=") == enabled.count()
    assert enabled.filter(supports_pdf_input=True).exists() and enabled.filter(supports_audio_input=True).exists()
    assert enabled.filter(kind="embedding").exists()
    # Claude's cache writes: $3.75 for five minutes, $6 for one hour (+15%: $4.3125, $6.90).
    sonnet = re.search(r'<tr data-model="anthropic/claude-sonnet-4">(.*?)</tr>', page, re.S).group(1)
    assert 'data-price="write-ours">$4.3125<' in sonnet and 'data-price="write-1h-ours">$6.90<' in sonnet
    model_page = text(web.get("/models/anthropic/claude-sonnet-4/"))
    assert "Cache write, 1 hour" in model_page and 'data-price="write-1h-ours">$6.90<' in model_page
    # Long-prompt prices, under the models that have them (and only those).
    for public_id, line in (
        ("openai/gpt-5.4", "above 272K input tokens: $5.00 in / $22.50 out (ours $5.75 / $25.875)"),
        ("google/gemini-2.5-pro", "above 200K input tokens: $2.50 in / $15.00 out (ours $2.875 / $17.25)"),
    ):
        row = re.search(rf'<tr data-model="{re.escape(public_id)}">(.*?)</tr>', page, re.S).group(1)
        assert f'data-price="long">{line}<' in row, public_id
    assert page.count('data-price="long"') == enabled.exclude(long_prompt_threshold_tokens=None).count() == 2
    gpt_page = text(web.get("/models/openai/gpt-5.4/"))
    assert 'data-price="long">above 272K input tokens: $5.00 in / $22.50 out<' in gpt_page
    assert 'data-price="long-input-ours">$5.75<' in gpt_page and 'data-price="long-cached-ours">$0.575<' in gpt_page
    assert "more than 272,000 tokens" in gpt_page
    assert 'data-price="long"' not in model_page  # Claude Sonnet 4: one price


def test_an_admin_price_edit_shows_at_once_on_both_pages(web, admin_client):
    m = model("anthropic/claude-opus-4.6")
    before = cost_rows(text(web.get("/")))["Only Claude Opus 4.6"][0]
    form = {
        f: getattr(m, f)
        for f in (
            "upstream_id",
            "public_id",
            "display_name",
            "context_window",
            "max_output_tokens",
            "price_source",
            "typical_output_tokens",
        )
    }
    form.update(
        provider=m.provider_id,
        input_price_usd_micro_per_mtok="6.5",
        output_price_usd_micro_per_mtok="30",
        cached_input_price_usd_micro_per_mtok="0.65",
        cache_write_price_usd_micro_per_mtok="",
        quirks="{}",
        enabled="on",
        supports_streaming="on",
        supports_tools="on",
        supports_json_mode="on",
        supports_vision="on",
        supports_pdf_input="on",
        kind="chat",
    )
    r = admin_client.post(f"/admin/routing/catalogmodel/{m.pk}/change/", form)
    assert r.status_code == 302, r.content.decode()[:3000]
    m.refresh_from_db()
    assert (m.input_price_usd_micro_per_mtok, m.output_price_usd_micro_per_mtok) == (6_500_000, 30_000_000)
    after = cost_rows(text(web.get("/")))["Only Claude Opus 4.6"][0]
    assert before == "$8,625" and after == costs.money(1_000_000 * per_request_nusd(m, 500, 200)) == "$10,638"
    pricing = text(web.get("/pricing/"))
    assert 'data-price="output-ours">$34.50<' in pricing and 'data-price="output-upstream">$30.00<' in pricing
    assert 'data-price="output-ours">$34.50<' in text(web.get("/models/anthropic/claude-opus-4.6/"))


def test_the_calculator_gives_the_seed_example_without_javascript(web):
    query = {
        "requests": 1_000_000,
        "input_tokens": 500,
        "output_tokens": 200,
        "mix_auto-cheap": 80,
        "mix_auto-code": 15,
        "mix_auto-best": 5,
        "mix_auto": 0,
        "mix_auto-fast": 0,
        "mix_auto-free": 0,
    }
    page = text(web.get("/pricing/", query))
    mix_day = (
        (
            80 * per_request_nusd(first_choice("auto-cheap"), 500, 200)
            + 15 * per_request_nusd(first_choice("auto-code"), 500, 200)
            + 5 * per_request_nusd(first_choice("auto-best"), 500, 200)
        )
        * 1_000_000
        // 100
    )
    assert f'data-result="day">{costs.money(mix_day)}<' in page
    assert f'data-result="month">{costs.money(mix_day * 30)}<' in page
    opus_day = 1_000_000 * per_request_nusd(model("anthropic/claude-opus-4.6"), 500, 200)
    saving = round((opus_day - mix_day) * 100 / opus_day)
    row = re.search(r'<tr data-single="anthropic/claude-opus-4.6">(.*?)</tr>', page, re.S).group(1)
    assert costs.money(opus_day) in row and f"saves {saving}%" in row
    # The same fragment feeds the live calculator.
    fragment = text(web.get("/pricing/estimate/", query))
    assert f'data-result="day">{costs.money(mix_day)}<' in fragment and "<html" not in fragment
    # The default form is the seed's example.
    assert f'data-result="day">{costs.money(mix_day)}<' in text(web.get("/pricing/"))


def test_the_calculator_refuses_a_mix_that_is_not_100_percent(web):
    page = text(web.get("/pricing/", {"requests": 10, "input_tokens": 5, "output_tokens": 5, "mix_auto": 50}))
    assert "The route mix must add up to 100% (it adds up to 50%)." in page and 'data-result="day"' not in page
    page = text(web.get("/pricing/", {"requests": "lots", "input_tokens": 5, "output_tokens": 5, "mix_auto": 100}))
    assert "Enter a whole number." in page and 'data-result="day"' not in page


def test_a_model_page_shows_prices_limits_routes_and_chain(web):
    page = text(web.get("/models/deepseek/deepseek-chat/"))
    m = model("deepseek/deepseek-chat")
    assert "DeepSeek V3" in page and f"({m.context_window:,})" in page and f"({m.max_output_tokens:,})" in page
    assert "<code>auto</code> — <strong>first choice</strong>" in page
    assert "qwen/qwen-plus" in page and "openai/gpt-4o-mini" in page  # the deepseek family's chain
    assert web.get("/models/deepseek/no-such-model/").status_code == 404


def test_docs_cover_every_header_and_error_code_the_gateway_sends(web):
    page = text(web.get("/docs/"))
    assert "http://testserver/v1" in page
    source = "".join(p.read_text() for p in (ROOT / "routing").rglob("*.py"))
    for header in set(re.findall(r"x-aipower-[a-z-]+", source)):
        assert f"<code>{header}</code>" in page, header
    for code in set(re.findall(r'code="([a-z_]+)"', source)):
        assert code in page, code
    for route in Route.objects.filter(enabled=True):
        assert f"<code>{route.name}</code>" in page
    assert "402" in page and "Settlement" in page and "held back until their first token" in page


def test_docs_name_the_providers_that_read_cache_marks_from_the_catalog(web):
    from routing.models import Provider

    def readers() -> str:
        page = text(web.get("/docs/"))
        return page.split('id="caching"', 1)[1].split("Providers that read the mark:", 1)[1].split(".", 1)[0]

    assert readers().strip() == "Anthropic"
    Provider.objects.filter(slug="qwen").update(quirks={"cache_control_marks": True})  # an operator, in admin
    assert readers().strip() == "Anthropic, Qwen (DashScope)"


def test_docs_tell_a_signed_in_user_how_to_make_a_key(web):
    from tests.accounts.conftest import make_user

    web.force_login(make_user())
    page = text(web.get("/docs/"))
    assert 'href="/keys/"' in page and "Create key" in page


def test_the_openapi_document(web):
    doc = json.loads(web.get("/docs/openapi.json").content)
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": "http://testserver/v1"}]
    post = doc["paths"]["/chat/completions"]["post"]
    assert {"200", "400", "401", "402", "429", "502"} <= set(post["responses"])
    assert "x-aipower-max-tokens-capped" in post["responses"]["200"]["headers"]
    assert {"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"} <= set(
        post["responses"]["200"]["headers"]
    )
    enum = doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]["model"]["enum"]
    assert "auto-code" in enum and "anthropic/claude-sonnet-4" in enum


def test_the_navigation_reaches_every_member_page(web):
    from tests.accounts.conftest import make_user

    anonymous = text(web.get("/"))
    for href in ('href="/pricing/"', 'href="/docs/"', 'href="/try/"'):
        assert href in anonymous
    footer = anonymous.split('class="site-footer"')[1]
    assert 'href="/pricing/"' in footer and 'href="/docs/"' in footer
    web.force_login(make_user())
    page = text(web.get("/keys/"))
    for href in (
        'href="/dashboard/analytics"',
        'href="/keys/"',
        'href="/members/"',
        'href="/billing/"',
        'href="/docs/"',
    ):
        assert href in page, href
