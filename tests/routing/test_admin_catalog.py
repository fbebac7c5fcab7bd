"""Operators edit providers, models, prices, routes and fallback chains in Django admin."""

from routing.models import CatalogModel, Provider, Route


def test_an_operator_edits_a_price_in_admin(admin_client, live_db):
    m = CatalogModel.objects.get(public_id="deepseek/deepseek-chat")
    page = admin_client.get(f"/admin/routing/catalogmodel/{m.pk}/change/")
    assert page.status_code == 200 and b"Input price ($ per 1M tokens)" in page.content
    assert b'value="0.28"' in page.content  # $0.28 per 1M, stored as 280000 micro-USD
    form = {
        f: getattr(m, f)
        for f in (
            "upstream_id",
            "public_id",
            "display_name",
            "input_price_usd_micro_per_mtok",
            "output_price_usd_micro_per_mtok",
            "context_window",
            "max_output_tokens",
        )
    }
    form.update(
        provider=m.provider_id,
        price_source=m.price_source,
        quirks="{}",
        enabled="on",
        supports_streaming="on",
        typical_output_tokens=m.typical_output_tokens,
        supports_tools="on",
        supports_json_mode="on",
        output_price_usd_micro_per_mtok="0.5",
        input_price_usd_micro_per_mtok="0.28",
        cached_input_price_usd_micro_per_mtok="0.028",
        kind="chat",
    )
    assert admin_client.post(f"/admin/routing/catalogmodel/{m.pk}/change/", form).status_code == 302
    m.refresh_from_db()
    assert (m.output_price_usd_micro_per_mtok, m.input_price_usd_micro_per_mtok) == (500_000, 280_000)
    # Prices in dollars in the list too.
    assert b"$0.50" in admin_client.get("/admin/routing/catalogmodel/").content


def test_a_price_finer_than_a_micro_dollar_is_a_form_error(admin_client, live_db):
    m = CatalogModel.objects.get(public_id="deepseek/deepseek-chat")
    form = {
        f: getattr(m, f) for f in ("upstream_id", "public_id", "display_name", "context_window", "max_output_tokens")
    }
    form.update(
        provider=m.provider_id,
        price_source=m.price_source,
        quirks="{}",
        enabled="on",
        input_price_usd_micro_per_mtok="0.0000001",
        output_price_usd_micro_per_mtok="-1",
    )
    page = admin_client.post(f"/admin/routing/catalogmodel/{m.pk}/change/", form)
    assert page.status_code == 200 and b"errornote" in page.content
    assert CatalogModel.objects.get(pk=m.pk).input_price_usd_micro_per_mtok == m.input_price_usd_micro_per_mtok


def test_route_targets_and_fallbacks_are_shown_by_model_name(admin_client, live_db):
    r = Route.objects.get(name="auto-code")
    page = admin_client.get(f"/admin/routing/route/{r.pk}/change/").content.decode()
    assert "Claude Sonnet 4 (anthropic/claude-sonnet-4)" in page and "RouteTarget object" not in page
    p = Provider.objects.get(slug="openai")
    page = admin_client.get(f"/admin/routing/provider/{p.pk}/change/").content.decode()
    assert "DeepSeek V3 (deepseek/deepseek-chat)" in page and "FallbackTarget object" not in page


def test_the_catalog_pages_list_providers_routes_and_chains(admin_client, live_db):
    assert b"deepseek" in admin_client.get("/admin/routing/provider/").content
    p = Provider.objects.get(slug="deepseek")
    chain = admin_client.get(f"/admin/routing/provider/{p.pk}/change/").content
    assert b"Fallback chain" in chain
    r = Route.objects.get(name="auto-code")
    assert admin_client.get(f"/admin/routing/route/{r.pk}/change/").status_code == 200
