"""An immutable, in-memory snapshot of the catalog for the request path.

Each process keeps one snapshot and reloads it in the background when it is older than
AIPOWER_CATALOG_CACHE_SECONDS, so an edit in Django admin reaches every process within seconds
and no request waits for the database to read the catalog (except the very first).
"""

import asyncio
import math
import time
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any

from django.conf import settings

from aipower.db import db_task
from billing.pricing import LONG_FIELDS, prices_at

# The price kinds, under one name each wherever a price is kept: a catalog model's price fields, a
# price version's, a snapshot's ModelInfo and a usage row's (what the request was billed at). All
# integer micro-USD per 1M tokens (billing/money.py); the cached-input and cache-write prices may
# be None (billed at the input price), the 1-hour cache-write price too (the model is then never
# sent a 1-hour cache mark: routing/adapters/common.py).
RATE_FIELDS = (
    "input_price_usd_micro_per_mtok",
    "cached_input_price_usd_micro_per_mtok",
    "cache_write_price_usd_micro_per_mtok",
    "cache_write_1h_price_usd_micro_per_mtok",
    "output_price_usd_micro_per_mtok",
)
# A model's prices are those and its long-prompt tier (billing/pricing.py LONG_PRICES: a threshold in
# tokens, all None for a model without one, and the prices above it), versioned together. A usage
# row keeps the RATE_FIELDS only: the tier its request was billed at (billed_prices).
PRICE_FIELDS = RATE_FIELDS + LONG_FIELDS
NO_PRICES: dict[str, int | None] = dict.fromkeys(RATE_FIELDS)  # a usage row of a request nothing served
_prices = attrgetter(*PRICE_FIELDS)


def prices_of(obj) -> dict[str, Any]:  # int, or None for the optional prices
    """The price fields of a CatalogModel, PriceVersion or ModelInfo alike, by name."""
    return dict(zip(PRICE_FIELDS, _prices(obj), strict=True))


def billed_prices(obj, prompt_tokens: int) -> dict[str, Any]:
    """The RATE_FIELDS a request with a prompt of `prompt_tokens` is billed at on a model: its
    long-prompt prices above its threshold, its normal ones otherwise."""
    return prices_at(prompt_tokens, prices_of(obj))


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    slug: str
    name: str
    wire_format: str
    base_url: str
    credential_env: str
    connect_timeout_s: float | None = None
    first_byte_timeout_s: float | None = None
    idle_timeout_s: float | None = None
    total_timeout_s: float | None = None
    quirks: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: int
    public_id: str
    upstream_id: str
    display_name: str
    provider: ProviderInfo
    # Prices (PRICE_FIELDS): micro-USD per 1M tokens of input, output, cached input (None: the input price)
    input_price_usd_micro_per_mtok: int
    output_price_usd_micro_per_mtok: int
    cached_input_price_usd_micro_per_mtok: int | None
    context_window: int  # tokens
    max_output_tokens: int  # tokens
    supports_streaming: bool = True
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json_mode: bool = True
    supports_pdf_input: bool = False  # file content parts (PDFs)
    supports_audio_input: bool = False  # input_audio content parts
    quirks: dict = field(default_factory=dict)
    cache_write_price_usd_micro_per_mtok: int | None = None  # input tokens written to the cache; None: the input price
    cache_write_1h_price_usd_micro_per_mtok: int | None = None  # written for one hour; None: no 1-hour caching
    # The long-prompt tier (billing/pricing.py): above this many prompt tokens, the long prices (None: no tier)
    long_prompt_threshold_tokens: int | None = None
    long_input_price_usd_micro_per_mtok: int | None = None  # None: the normal price of the kind
    long_cached_input_price_usd_micro_per_mtok: int | None = None
    long_cache_write_price_usd_micro_per_mtok: int | None = None
    long_output_price_usd_micro_per_mtok: int | None = None
    quality_overall: int | None = None  # 0-100 rank (auto-best); None: unranked
    quality_coding: int | None = None  # 0-100 rank (auto-code); None: unranked
    typical_output_tokens: int = 500  # expected answer length when max_tokens is not set
    kind: str = "chat"  # or "embedding" (/v1/embeddings only)
    dimensions: int | None = None  # embeddings: the output dimension
    max_batch: int | None = None  # embeddings: inputs per request at most


@dataclass(frozen=True, slots=True)
class RouteInfo:
    name: str
    goal: str
    description: str
    targets: tuple[ModelInfo, ...]
    policy: str = "ordered"  # how the pool is ordered per request (routing/policy.py)
    tiers: tuple[str, ...] = ()  # each target's tier, in the order of targets ("" = none)
    premium_threshold: float = 0.5
    default_quality: float = 0.5
    price_cap_usd_micro_per_mtok: int | None = None  # input + output price at most (policy "free")


@dataclass(frozen=True, slots=True)
class Snapshot:
    models: dict[str, ModelInfo]  # by public id
    by_upstream_id: dict[str, ModelInfo]  # bare upstream ids that name exactly one model
    routes: dict[str, RouteInfo]
    fallbacks: dict[str, tuple[ModelInfo, ...]] = field(default_factory=dict)  # by provider slug
    loaded_at: float = 0.0
    next_price_change_at: float = math.inf  # epoch seconds: a scheduled price takes effect (reload then)

    def resolve_model(self, name: str) -> ModelInfo | None:
        return self.models.get(name) or self.by_upstream_id.get(name)


def load_snapshot() -> Snapshot:
    from .models import CatalogModel, FallbackTarget, Route
    from .prices import scheduled_prices

    price_overrides, next_price_change_at = scheduled_prices()

    models: dict[str, ModelInfo] = {}
    by_pk: dict[int, ModelInfo] = {}
    upstream_counts: dict[str, list[ModelInfo]] = {}
    for m in CatalogModel.objects.select_related("provider").filter(enabled=True, provider__enabled=True):
        p = m.provider
        info = ModelInfo(
            id=m.pk,
            public_id=m.public_id,
            upstream_id=m.upstream_id,
            display_name=m.display_name,
            provider=ProviderInfo(
                slug=p.slug,
                name=p.name,
                wire_format=p.wire_format,
                base_url=p.base_url.rstrip("/"),
                credential_env=p.credential_env,
                connect_timeout_s=p.connect_timeout_s,
                first_byte_timeout_s=p.first_byte_timeout_s,
                idle_timeout_s=p.idle_timeout_s,
                total_timeout_s=p.total_timeout_s,
                quirks=p.quirks or {},
            ),
            **prices_of(m),
            context_window=m.context_window,
            max_output_tokens=m.max_output_tokens,
            supports_streaming=m.supports_streaming,
            supports_tools=m.supports_tools,
            supports_vision=m.supports_vision,
            supports_json_mode=m.supports_json_mode,
            supports_pdf_input=m.supports_pdf_input,
            supports_audio_input=m.supports_audio_input,
            quirks=m.quirks or {},
            quality_overall=m.quality_overall,
            quality_coding=m.quality_coding,
            typical_output_tokens=m.typical_output_tokens,
            kind=m.kind,
            dimensions=m.dimensions,
            max_batch=m.max_batch_inputs,
        )
        if m.pk in price_overrides:  # a scheduled price now in force, not yet copied to the model
            info = replace(info, **price_overrides[m.pk])
        models[info.public_id] = info
        by_pk[m.pk] = info
        upstream_counts.setdefault(m.upstream_id, []).append(info)
    by_upstream = {uid: infos[0] for uid, infos in upstream_counts.items() if len(infos) == 1 and uid not in models}
    routes = {}
    for r in Route.objects.filter(enabled=True).prefetch_related("targets"):
        kept = [t for t in r.targets.all() if t.model_id in by_pk]
        routes[r.name] = RouteInfo(
            name=r.name,
            goal=r.goal,
            description=r.description,
            targets=tuple(by_pk[t.model_id] for t in kept),
            policy=r.policy,
            tiers=tuple(t.tier for t in kept),
            premium_threshold=r.premium_threshold,
            default_quality=r.default_quality,
            price_cap_usd_micro_per_mtok=r.price_cap_usd_micro_per_mtok,
        )
    fallbacks: dict[str, list[ModelInfo]] = {}
    for f in FallbackTarget.objects.select_related("provider").order_by("provider", "position", "id"):
        if f.model_id in by_pk:
            fallbacks.setdefault(f.provider.slug, []).append(by_pk[f.model_id])
    return Snapshot(
        models=models,
        by_upstream_id=by_upstream,
        routes=routes,
        fallbacks={k: tuple(v) for k, v in fallbacks.items()},
        loaded_at=time.monotonic(),
        next_price_change_at=next_price_change_at,
    )


_load_async = db_task(load_snapshot)
_current: Snapshot | None = None
_refreshing: asyncio.Task | None = None


async def get_snapshot() -> Snapshot:
    global _current, _refreshing
    snap = _current
    if snap is None:
        loaded: Snapshot = await asyncio.wait_for(_load_async(), settings.AIPOWER_DB_TIMEOUT_SECONDS * 2)
        _current = loaded
        return loaded
    if snap.next_price_change_at <= time.time():
        # A scheduled price took effect: requests from now on are billed at it, so wait for it.
        return await _reload_for_price_change()
    if time.monotonic() - snap.loaded_at > settings.AIPOWER_CATALOG_CACHE_SECONDS:
        loop = asyncio.get_running_loop()
        if _refreshing is None or _refreshing.done() or _refreshing.get_loop() is not loop:
            _refreshing = loop.create_task(_refresh())
    return snap


async def _refresh() -> None:
    global _current, _refreshing
    try:
        _current = await _load_async()
    finally:
        _refreshing = None


async def _reload_for_price_change() -> Snapshot:
    global _refreshing
    loop = asyncio.get_running_loop()
    for _ in range(2):  # a reload already under way may have read the catalog before the change
        if _refreshing is None or _refreshing.done() or _refreshing.get_loop() is not loop:
            _refreshing = loop.create_task(_refresh())
        await asyncio.shield(_refreshing)
        if _current is not None and _current.next_price_change_at > time.time():
            break
    assert _current is not None  # _refresh() sets it or raises
    return _current


def invalidate() -> None:
    """Forget this process's snapshot (after a catalog edit, in tests and commands)."""
    global _current
    _current = None
