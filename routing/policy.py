"""The routing policy: a pure function from (requested model, request features, catalog snapshot,
live stats) to an ordered list of candidates, each choice with a short reason. No database, no I/O.

A route is a goal over its pool of models (edited in Django admin); its policy orders the pool
for each request (routing/goals.py says how each goal orders it). Models that cannot serve the
request (context window, tools, images, PDF documents, audio, JSON mode) are left out, so a prompt
too long for the first choice goes to a larger-context model of the pool, and a PDF to a model
that reads PDFs.
"""

from dataclasses import dataclass

from .catalog import ModelInfo, Snapshot
from .errors import GatewayError, invalid
from .goals import LiveStats, order_pool
from .request import Features

__all__ = ["LiveStats", "Plan", "plan", "restrict", "unfit_reason"]


@dataclass(frozen=True, slots=True)
class Plan:
    route: str | None  # the virtual model asked for, if any
    candidates: tuple[ModelInfo, ...]
    reason: str = ""  # why the first candidate (short; the x-aipower-route-reason header)
    difficulty: float | None = None  # tiered routes: the prompt's estimated difficulty
    tier: str = ""  # tiered routes: the tier chosen
    why: tuple[str, ...] = ()  # per candidate: why it is where it is
    skipped: tuple[tuple[str, str], ...] = ()  # (public id, why it cannot serve)


# Why a model cannot take a request's documents or audio, naming the capability (/v1/models `capabilities`).
PDF_UNFIT = "does not accept PDF documents (pdf_input)"
AUDIO_UNFIT = "does not accept audio input (audio_input)"


def unfit_reason(model: ModelInfo, f: Features) -> str | None:
    """Why `model` cannot serve a request with features `f`, or None if it can."""
    if model.kind != "chat":
        return "is an embedding model (use /v1/embeddings)"
    if f.tools and not model.supports_tools:
        return "does not support tools"
    if f.vision and not model.supports_vision:
        return "does not accept images"
    if f.documents and not model.supports_pdf_input:
        return PDF_UNFIT
    if f.audio and not model.supports_audio_input:
        return AUDIO_UNFIT
    if f.json_mode and not model.supports_json_mode:
        return "does not support JSON mode"
    if f.stream and not model.supports_streaming:
        return "does not support streaming"
    if f.max_tokens is not None and f.max_tokens > model.max_output_tokens:
        # Still servable: the adapter caps nothing silently, so say so instead.
        return f"max output is {model.max_output_tokens} tokens, {f.max_tokens} requested"
    wanted = f.prompt_tokens + (f.max_tokens or 0)
    if wanted > model.context_window:
        return (
            f"context window is {model.context_window} tokens; the prompt (~{f.prompt_tokens}) plus "
            f"max_tokens ({f.max_tokens or 0}) needs {wanted}"
        )
    return None


def not_found(name: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model '{name}' does not exist or you do not have access to it.",
        "invalid_request_error",
        param="model",
        code="model_not_found",
    )


def plan(
    requested: str,
    f: Features,
    snapshot: Snapshot,
    *,
    fallback: bool = True,
    extra_models: list[str] | None = None,
    stats: LiveStats | None = None,
    messages=None,
    quality: float | None = None,
) -> Plan:
    """Candidates in order: the route's pool as its policy orders it (or the pinned model); then
    either the caller's own list (`extra_models`, the body's `models`) or the fallback chains of
    the families already in the list. With fallback off, only the first candidate that can serve.

    `messages` (the request's) feed the tiered policy's difficulty estimate; `quality` (0-1) is
    the caller's trade-off, None for the route's default; `stats` the live latency figures."""
    route = snapshot.routes.get(requested)
    skipped: list[tuple[str, str]] = []
    ordering = None
    if route is not None:
        capable = []
        for m in route.targets:
            why_not = unfit_reason(m, f)
            if why_not is None:
                capable.append(m)
            else:
                skipped.append((m.public_id, why_not))
        too_long = [pid for pid, r in skipped if r.startswith("context window")]
        ordering = order_pool(route, capable, f, stats or LiveStats(), messages, quality)
        pool, why, route_name = list(ordering.models), list(ordering.why), route.name
        if ordering.excluded:
            skipped.extend(ordering.excluded)
    else:
        model = snapshot.resolve_model(requested)
        if model is None:
            raise not_found(requested)
        pool, why, route_name = [model], ["pinned"], None
        reason = unfit_reason(model, f)
        if reason is not None:
            raise invalid(
                f"The model '{model.public_id}' cannot serve this request: it {reason}.",
                param="model",
                code="no_capable_model",
            )

    seen: set[int] = {m.id for m in pool}
    skipped_ids = {pid for pid, _ in skipped}
    if extra_models is not None:
        extra = []
        for name in extra_models:
            named = snapshot.resolve_model(name)
            if named is None:
                raise not_found(name)
            extra.append((named, "the caller's models list"))
    elif fallback:
        extra = [
            (fb, f"fallback chain of {m.provider.slug}")
            for m in list(pool)
            for fb in snapshot.fallbacks.get(m.provider.slug, ())
        ]
    else:
        extra = []
    for m, because in extra:
        if m.id in seen or m.public_id in skipped_ids:
            continue
        seen.add(m.id)
        why_not = unfit_reason(m, f)
        if why_not is None:
            pool.append(m)
            why.append(because)
        else:
            skipped.append((m.public_id, why_not))
            skipped_ids.add(m.public_id)

    if not pool:
        what = f"route '{requested}'" if route_name else f"model '{requested}'"
        detail = "; ".join(f"{pid} {r}" for pid, r in skipped) if skipped else "it has no enabled target models"
        raise invalid(f"No model of {what} can serve this request: {detail}.", param="model", code="no_capable_model")
    if not fallback:
        pool, why = pool[:1], why[:1]
    reason = ordering.reason if ordering is not None else ""
    if route is not None and too_long:
        reason += f"; prompt (~{f.prompt_tokens} tokens) too long for {_some(too_long)}: larger context window"
    if route is not None and f.unbounded:
        cannot = [pid for pid, r in skipped if r in (PDF_UNFIT, AUDIO_UNFIT)]
        if cannot:
            what = " and ".join(w for w, on in (("PDF documents", f.documents), ("audio", f.audio)) if on)
            reason += f"; {what}: skipped {_some(cannot)}, which cannot take them"
    return Plan(
        route=route_name,
        candidates=tuple(pool),
        reason=reason,
        difficulty=ordering.difficulty if ordering is not None else None,
        tier=ordering.tier if ordering is not None else "",
        why=tuple(why),
        skipped=tuple(skipped),
    )


def _some(ids: list[str]) -> str:
    more = f" and {len(ids) - 2} more" if len(ids) > 2 else ""
    return ", ".join(ids[:2]) + more


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
        raise GatewayError(
            403,
            f"This API key may not use '{requested}'. It may use: {', '.join(sorted(allowed))}.",
            "permission_error",
            param="model",
            code="model_not_allowed",
        )
    candidates = tuple(m for m in plan.candidates if m.public_id in reachable)
    if not candidates:
        raise GatewayError(
            403,
            f"No model this API key may use can serve '{requested}'.",
            "permission_error",
            param="model",
            code="model_not_allowed",
        )
    why = tuple(w for m, w in zip(plan.candidates, plan.why, strict=False) if m.public_id in reachable)
    return Plan(
        route=plan.route,
        candidates=candidates,
        reason=plan.reason,
        difficulty=plan.difficulty,
        tier=plan.tier,
        why=why,
        skipped=plan.skipped,
    )
