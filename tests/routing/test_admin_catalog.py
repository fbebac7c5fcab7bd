"""Operators edit providers, models, prices, routes and fallback chains in Django admin."""

from routing.models import CatalogModel, Provider, Route


def test_an_operator_edits_a_price_in_admin(admin_client, live_db):
    m = CatalogModel.objects.get(public_id="deepseek/deepseek-chat")
    page = admin_client.get(f"/admin/routing/catalogmodel/{m.pk}/change/")
    assert page.status_code == 200 and b"input_price_usd_micro_per_mtok" in page.content
    form = {f: getattr(m, f) for f in ("upstream_id", "public_id", "display_name", "input_price_usd_micro_per_mtok",
                                      "output_price_usd_micro_per_mtok", "context_window", "max_output_tokens")}
    form.update(provider=m.provider_id, cached_input_price_usd_micro_per_mtok=m.cached_input_price_usd_micro_per_mtok,
                price_source=m.price_source, quirks="{}", enabled="on", supports_streaming="on",
                supports_tools="on", supports_json_mode="on", output_price_usd_micro_per_mtok=500_000, kind="chat")
    assert admin_client.post(f"/admin/routing/catalogmodel/{m.pk}/change/", form).status_code == 302
    m.refresh_from_db()
    assert m.output_price_usd_micro_per_mtok == 500_000


def test_the_catalog_pages_list_providers_routes_and_chains(admin_client, live_db):
    assert b"deepseek" in admin_client.get("/admin/routing/provider/").content
    p = Provider.objects.get(slug="deepseek")
    chain = admin_client.get(f"/admin/routing/provider/{p.pk}/change/").content
    assert b"Fallback chain" in chain
    r = Route.objects.get(name="auto-code")
    assert admin_client.get(f"/admin/routing/route/{r.pk}/change/").status_code == 200
