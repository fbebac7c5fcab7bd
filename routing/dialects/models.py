"""GET /v1/models and GET /v1/models/{id}: what a key may use, with the details clients ask for
(context window, max output, capabilities, prices per one million tokens) as extra fields."""

from decimal import Decimal

import orjson

from billing.pricing import prices_at
from routing.api_types import ApiResponse, error_response
from routing.catalog import ModelInfo, RouteInfo, Snapshot, get_snapshot, prices_of
from routing.errors import GatewayError

CREATED = 1767225600  # 2026-01-01: the catalog has no per-model creation dates
_MICRO = Decimal(1_000_000)


def usd_per_mtok(micro: int | None) -> str | None:
    """Micro-USD per 1M tokens as a decimal string of USD ("3", "0.075"); never a float."""
    if micro is None:
        return None
    return format((Decimal(micro) / _MICRO).normalize(), "f")


def _rates(prices: dict) -> dict:
    """Prices by kind (RATE_FIELDS names) as /v1/models shows them; an empty cached-input or cache-write
    price is the input price."""
    inp = prices["input_price_usd_micro_per_mtok"]
    cached, write = prices["cached_input_price_usd_micro_per_mtok"], prices["cache_write_price_usd_micro_per_mtok"]
    return {
        "input": usd_per_mtok(inp),
        "output": usd_per_mtok(prices["output_price_usd_micro_per_mtok"]),
        "cached_input": usd_per_mtok(cached if cached is not None else inp),
        "cache_write": usd_per_mtok(write if write is not None else inp),
    }


def _pricing(m: ModelInfo) -> dict:
    prices = prices_of(m)
    threshold = m.long_prompt_threshold_tokens
    return {
        "currency": "USD",
        "unit": "1M tokens",
        **_rates(prices),
        # null: no 1-hour caching on this model (a 1-hour cache mark caches for five minutes)
        "cache_write_1h": usd_per_mtok(m.cache_write_1h_price_usd_micro_per_mtok),
        # A request whose prompt (cached and cache-written tokens included) has more than threshold_tokens
        # is billed entirely, output included, at these prices; null: the same prices at any length.
        "long_context": (
            None if threshold is None else {"threshold_tokens": threshold, **_rates(prices_at(threshold + 1, prices))}
        ),
    }


def _capabilities(m: ModelInfo) -> dict:
    kind = getattr(m, "kind", "chat")
    if kind == "embedding":
        return {"embeddings": True}
    return {
        "chat": True,
        "streaming": m.supports_streaming,
        "tools": m.supports_tools,
        "vision": m.supports_vision,
        "pdf_input": m.supports_pdf_input,
        "audio_input": m.supports_audio_input,
        "json_mode": m.supports_json_mode,
    }


def model_entry(m: ModelInfo) -> dict:
    entry = {
        "id": m.public_id,
        "object": "model",
        "created": CREATED,
        "owned_by": m.provider.slug,
        "display_name": m.display_name,
        "context_window": m.context_window,
        "max_output_tokens": m.max_output_tokens,
        "capabilities": _capabilities(m),
        "pricing": _pricing(m),
    }
    dims = getattr(m, "dimensions", None)
    if dims:
        entry["dimensions"] = dims
    return entry


def route_entry(r: RouteInfo, usable: set[str] | None = None) -> dict:
    """A route: its bounds over the targets the key may reach, and the prices of its first pick."""
    targets = [t for t in r.targets if usable is None or t.public_id in usable] or list(r.targets)
    caps: dict = {}
    for t in targets:
        for name, value in _capabilities(t).items():
            caps[name] = caps.get(name, False) or value
    entry = {
        "id": r.name,
        "object": "model",
        "created": CREATED,
        "owned_by": "aipower",
        "display_name": r.goal,
        "description": r.description,
        "route": True,
        "targets": [t.public_id for t in targets],
        "context_window": max((t.context_window for t in targets), default=0),
        "max_output_tokens": max((t.max_output_tokens for t in targets), default=0),
        "capabilities": caps,
    }
    if targets:
        entry["pricing"] = _pricing(targets[0])
    return entry


def usable_names(snapshot: Snapshot, allowed: frozenset[str]) -> tuple[set[str], set[str]]:
    """(route names, model public ids) a key may use: everything when its allow-list is empty;
    else the routes it names, the models it names and the targets of the routes it names (the
    same reach routing.policy.restrict gives it)."""
    if not allowed:
        return set(snapshot.routes), set(snapshot.models)
    routes = {n for n in allowed if n in snapshot.routes}
    models = {n for n in allowed if n in snapshot.models}
    for name in routes:
        models.update(t.public_id for t in snapshot.routes[name].targets)
    return routes, models


async def list_models(request) -> ApiResponse:
    from routing.gateway import authenticate

    try:
        key = await authenticate(request)
    except GatewayError as err:
        return error_response(err)
    snapshot = await get_snapshot()
    routes, models = usable_names(snapshot, key.allowed)
    data = [route_entry(snapshot.routes[n], models) for n in sorted(routes)]
    data += [model_entry(snapshot.models[n]) for n in sorted(models)]
    return ApiResponse(orjson.dumps({"object": "list", "data": data}))


async def retrieve_model(request) -> ApiResponse:
    from routing.gateway import authenticate

    if request.method != "GET":
        err = GatewayError(
            405,
            f"Method {request.method} is not allowed on {request.path}; use GET.",
            "invalid_request_error",
            code="method_not_allowed",
        )
        return error_response(err, {"allow": "GET"})
    try:
        key = await authenticate(request)
    except GatewayError as err:
        return error_response(err)
    name = request.path[len("/v1/models/") :].rstrip("/")
    snapshot = await get_snapshot()
    routes, models = usable_names(snapshot, key.allowed)
    if name in routes:
        return ApiResponse(orjson.dumps(route_entry(snapshot.routes[name], models)))
    model = snapshot.resolve_model(name)
    if model is not None and model.public_id in models:
        return ApiResponse(orjson.dumps(model_entry(model)))
    return error_response(
        GatewayError(
            404,
            f"The model '{name}' does not exist or you do not have access to it.",
            "invalid_request_error",
            param="model",
            code="model_not_found",
        )
    )
