"""The routing policy: a pure function from (requested model, request features, catalog snapshot)
to an ordered list of candidates. No database, no I/O."""

from dataclasses import dataclass

from .catalog import ModelInfo, Snapshot
from .errors import GatewayError, invalid
from .request import Features


@dataclass(frozen=True, slots=True)
class Plan:
    route: str | None  # the virtual model asked for, if any
    candidates: tuple[ModelInfo, ...]


def unfit_reason(model: ModelInfo, f: Features) -> str | None:
    """Why `model` cannot serve a request with features `f`, or None if it can."""
    if model.kind != "chat":
        return "is an embedding model (use /v1/embeddings)"
    if f.tools and not model.supports_tools:
        return "does not support tools"
    if f.vision and not model.supports_vision:
        return "does not accept images"
    if f.json_mode and not model.supports_json_mode:
        return "does not support JSON mode"
    if f.stream and not model.supports_streaming:
        return "does not support streaming"
    if f.max_tokens is not None and f.max_tokens > model.max_output_tokens:
        # Still servable: the adapter caps nothing silently, so say so instead.
        return f"max output is {model.max_output_tokens} tokens, {f.max_tokens} requested"
    wanted = f.prompt_tokens + (f.max_tokens or 0)
    if wanted > model.context_window:
        return (f"context window is {model.context_window} tokens; the prompt (~{f.prompt_tokens}) plus "
                f"max_tokens ({f.max_tokens or 0}) needs {wanted}")
    return None


def not_found(name: str) -> GatewayError:
    return GatewayError(404, f"The model '{name}' does not exist or you do not have access to it.",
                        "invalid_request_error", param="model", code="model_not_found")


def plan(requested: str, f: Features, snapshot: Snapshot, *, fallback: bool = True,
         extra_models: list[str] | None = None) -> Plan:
    """Candidates in order: the route's targets (or the pinned model); then either the caller's
    own list (`extra_models`, the body's `models`) or the fallback chains of the families
    already in the list. With fallback off, only the first candidate that can serve."""
    route = snapshot.routes.get(requested)
    if route is not None:
        pool, route_name = list(route.targets), route.name
    else:
        model = snapshot.resolve_model(requested)
        if model is None:
            raise not_found(requested)
        pool, route_name = [model], None
        reason = unfit_reason(model, f)
        if reason is not None:
            raise invalid(f"The model '{model.public_id}' cannot serve this request: it {reason}.", param="model",
                          code="no_capable_model")

    if extra_models is not None:
        for name in extra_models:
            m = snapshot.resolve_model(name)
            if m is None:
                raise not_found(name)
            pool.append(m)
    elif fallback:
        for m in list(pool):
            pool.extend(snapshot.fallbacks.get(m.provider.slug, ()))

    seen: set[int] = set()
    candidates, skipped = [], []
    for m in pool:
        if m.id in seen:
            continue
        seen.add(m.id)
        reason = unfit_reason(m, f)
        if reason is None:
            candidates.append(m)
        else:
            skipped.append(f"{m.public_id} {reason}")
    if not candidates:
        what = f"route '{requested}'" if route_name else f"model '{requested}'"
        detail = "; ".join(skipped) if skipped else "it has no enabled target models"
        raise invalid(f"No model of {what} can serve this request: {detail}.", param="model",
                      code="no_capable_model")
    if not fallback:
        candidates = candidates[:1]
    return Plan(route=route_name, candidates=tuple(candidates))


def restrict(plan: Plan, requested: str, allowed: frozenset[str], snapshot: Snapshot) -> Plan:
    """The plan cut down to what a key's allow-list permits: the models it names and the targets
    of the routes it names, on failover too. Raises 403 when the key may not use what it asked for."""
    reachable = {m for m in allowed if m in snapshot.models}
    for name in allowed:
        route = snapshot.routes.get(name)
        if route is not None:
            reachable.update(t.public_id for t in route.targets)
    resolved = snapshot.resolve_model(requested)
    if requested not in allowed and (resolved is None or resolved.public_id not in reachable):
        raise GatewayError(403, f"This API key may not use '{requested}'. It may use: {', '.join(sorted(allowed))}.",
                           "permission_error", param="model", code="model_not_allowed")
    candidates = tuple(m for m in plan.candidates if m.public_id in reachable)
    if not candidates:
        raise GatewayError(403, f"No model this API key may use can serve '{requested}'.", "permission_error",
                           param="model", code="model_not_allowed")
    return Plan(route=plan.route, candidates=candidates)
