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


def plan(requested: str, f: Features, snapshot: Snapshot) -> Plan:
    route = snapshot.routes.get(requested)
    if route is not None:
        pool, route_name = route.targets, route.name
    else:
        model = snapshot.resolve_model(requested)
        if model is None:
            raise not_found(requested)
        pool, route_name = (model,), None

    candidates, skipped = [], []
    for m in pool:
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
    return Plan(route=route_name, candidates=tuple(candidates))
