from django.db import transaction

from . import seed
from .catalog import prices_of
from .models import CatalogModel, FallbackTarget, Provider, Route, RouteTarget
from .price_models import PRICE_FIELDS, PriceVersion
from .prices import price_version_create


@transaction.atomic
def catalog_load_seed(*, reset: bool = False) -> dict:
    """Adds what the seed has and the catalog lacks; with reset, overwrites seed rows' fields."""
    added = {"providers": 0, "models": 0, "routes": 0}
    providers = {}
    for slug, name, wire, base, cred in seed.PROVIDERS:
        values = {
            "name": name,
            "wire_format": wire,
            "base_url": base,
            "credential_env": cred,
            "quirks": seed.PROVIDER_QUIRKS.get(slug, {}),
        }
        p, created = Provider.objects.get_or_create(slug=slug, defaults=values)
        if reset and not created:
            Provider.objects.filter(pk=p.pk).update(**values)
        added["providers"] += created
        providers[slug] = p
    models = {}
    for row in seed.MODELS:
        values = {k: v for k, v in row.items() if k not in ("provider", "public_id")}
        values["provider"] = providers[row["provider"]]
        m, created = CatalogModel.objects.get_or_create(public_id=row["public_id"], defaults=values)
        prices = {f: values[f] for f in PRICE_FIELDS}
        if reset and not created:
            CatalogModel.objects.filter(pk=m.pk).update(**{k: v for k, v in values.items() if k not in prices})
        if created or (reset and prices_of(m) != prices):
            price_version_create(model=m, prices=prices, source=PriceVersion.Source.SEED, created_by="seed catalog")
        added["models"] += created
        models[m.public_id] = m
    for name, goal, description, policy, options, targets in seed.ROUTES:
        values = {"goal": goal, "description": description, "policy": policy, **options}
        r, created = Route.objects.get_or_create(name=name, defaults=values)
        if reset and not created:
            Route.objects.filter(pk=r.pk).update(**values)
        added["routes"] += created
        if created or reset:
            RouteTarget.objects.filter(route=r).delete()
            pool = [t if isinstance(t, tuple) else (t, "") for t in targets]
            RouteTarget.objects.bulk_create(
                RouteTarget(route=r, model=models[public], position=i, tier=tier)
                for i, (public, tier) in enumerate(pool)
            )
    for slug, chain in seed.FALLBACKS.items():
        if reset or not FallbackTarget.objects.filter(provider=providers[slug]).exists():
            FallbackTarget.objects.filter(provider=providers[slug]).delete()
            FallbackTarget.objects.bulk_create(
                FallbackTarget(provider=providers[slug], model=models[public], position=i)
                for i, public in enumerate(chain)
            )
    return added
