"""Operators edit each route's goal, tiers and thresholds, and each model's quality ranks, in
Django admin; the gateway's snapshot reads them."""

from routing.catalog import load_snapshot
from routing.models import CatalogModel, Route, RouteTarget


def _inline(route):
    form = {
        "targets-TOTAL_FORMS": 0,
        "targets-INITIAL_FORMS": 0,
        "targets-MIN_NUM_FORMS": 0,
        "targets-MAX_NUM_FORMS": 1000,
    }
    for i, t in enumerate(RouteTarget.objects.filter(route=route).order_by("position")):
        form.update(
            {
                f"targets-{i}-id": t.pk,
                f"targets-{i}-route": route.pk,
                f"targets-{i}-model": t.model_id,
                f"targets-{i}-position": t.position,
                f"targets-{i}-tier": t.tier,
            }
        )
        form["targets-TOTAL_FORMS"] = form["targets-INITIAL_FORMS"] = i + 1
    return form


def test_an_operator_edits_a_routes_threshold_and_a_targets_tier(admin_client, live_db):
    route = Route.objects.get(name="auto")
    page = admin_client.get(f"/admin/routing/route/{route.pk}/change/").content
    assert b"premium_threshold" in page and b"Economy" in page
    form = {
        "name": route.name,
        "goal": route.goal,
        "description": route.description,
        "enabled": "on",
        "policy": "tiered",
        "premium_threshold": "0.8",
        "default_quality": "0.4",
        **_inline(route),
    }
    deepseek = RouteTarget.objects.get(route=route, model__public_id="deepseek/deepseek-chat")
    i = next(k.split("-")[1] for k, v in form.items() if k.endswith("-id") and v == deepseek.pk)
    form[f"targets-{i}-tier"] = "premium"
    try:
        response = admin_client.post(f"/admin/routing/route/{route.pk}/change/", form)
        assert response.status_code == 302, response.content[:3000]
        snap = load_snapshot().routes["auto"]
        assert (snap.premium_threshold, snap.default_quality) == (0.8, 0.4)
        tiers = dict(zip((m.public_id for m in snap.targets), snap.tiers, strict=True))
        assert tiers["deepseek/deepseek-chat"] == "premium"
    finally:
        Route.objects.filter(pk=route.pk).update(premium_threshold=0.6, default_quality=0.5)
        RouteTarget.objects.filter(pk=deepseek.pk).update(tier="economy")


def test_quality_ranks_and_their_source_are_on_each_model(admin_client, live_db):
    m = CatalogModel.objects.get(public_id="anthropic/claude-opus-4.6")
    assert m.quality_overall and m.quality_coding and "lmarena.ai" in m.quality_source
    page = admin_client.get(f"/admin/routing/catalogmodel/{m.pk}/change/").content
    assert b"quality_overall" in page and b"quality_source" in page
    assert load_snapshot().models[m.public_id].quality_overall == m.quality_overall


def test_the_migration_gives_an_existing_catalog_the_seeds_goals(live_db, db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("routing.migrations.0003_routing_smart_policies")
    route = Route.objects.get(name="auto-cheap")
    Route.objects.filter(pk=route.pk).update(policy="ordered")
    RouteTarget.objects.filter(route=route, model__public_id="google/gemini-2.5-flash").delete()
    CatalogModel.objects.filter(public_id="openai/gpt-4o-mini").update(quality_overall=None, quality_coding=None)
    edited = CatalogModel.objects.get(public_id="qwen/qwen-plus")
    CatalogModel.objects.filter(pk=edited.pk).update(quality_overall=1)  # an operator's edit stays

    migration.seed_goals(apps, None)

    assert Route.objects.get(pk=route.pk).policy == "cheapest"
    assert RouteTarget.objects.filter(route=route, model__public_id="google/gemini-2.5-flash").exists()
    assert CatalogModel.objects.get(public_id="openai/gpt-4o-mini").quality_overall == 58
    assert CatalogModel.objects.get(pk=edited.pk).quality_overall == 1
