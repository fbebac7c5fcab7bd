"""How each route's goal orders its pool of capable models for one request (pure functions).

- ordered:  as listed in admin.
- cheapest: lowest estimated cost for this request: its estimated prompt tokens at the input price
            plus its expected output (max_tokens, else the model's typical answer length) at the
            output price, the model's long-prompt prices when the estimate is above its threshold. (The
            markup multiplies every model alike, so it does not change the order.)
- fastest:  lowest measured time to first token (p50 over a recent window, from the gateway's own
            requests); the static order when too few models have been measured. Models not
            measured recently are assumed as fast as AIPOWER_TTFT_UNMEASURED_MS, and now and then
            (LiveStats.explore) one is tried, so a provider that recovers wins its place back.
- free:     models priced at most the route's cap (input + output per 1M tokens), cheapest first.
- best / code: highest quality rank (overall / coding) first; unranked models last.
- tiered:   the prompt's estimated difficulty (routing/difficulty) and the caller's quality
            trade-off pick a tier (economy, premium, or code for code prompts at premium level);
            that tier's models first, then the rest of the pool. A prompt that cannot be assessed
            keeps the pool's order (the route's default) and the reason says why.
"""

from dataclasses import dataclass, field

from billing.money import BP_PER_UNIT, PICO_PER_NANO

from .catalog import ModelInfo, RouteInfo, billed_prices
from .request import Features

TIER_RANK = {"economy": 0, "": 0, "code": 1, "premium": 1}


@dataclass(frozen=True, slots=True)
class LiveStats:
    """Live figures the policy reads (routing/latency.py builds them off the request path)."""

    ttft_p50_ms: dict[str, float] = field(default_factory=dict)  # by public id: measured recently enough
    bucket_ms: float = 50.0  # differences of p50 below this are noise: the static order decides
    unmeasured_ms: float = 500.0  # what an unmeasured model is assumed to take
    explore: str | None = None  # a public id this request may try to measure (stale or unmeasured)


@dataclass(frozen=True, slots=True)
class Ordering:
    models: tuple[ModelInfo, ...]
    why: tuple[str, ...]
    reason: str
    difficulty: float | None = None
    tier: str = ""
    excluded: tuple[tuple[str, str], ...] = ()


def expected_output_tokens(m: ModelInfo, f: Features) -> int:
    return min(f.max_tokens or m.typical_output_tokens, m.max_output_tokens)


def estimated_cost_nusd(m: ModelInfo, f: Features, markup_bp: int = 0) -> int:
    """Nano-USD this request is expected to cost on `m` (prices are micro-USD per 1M tokens), at the
    prices its estimated prompt would be billed at (the long-prompt ones above the model's threshold)."""
    prices = billed_prices(m, f.prompt_tokens)
    pico_usd = (  # tokens × micro-USD per 1M tokens
        f.prompt_tokens * prices["input_price_usd_micro_per_mtok"]
        + expected_output_tokens(m, f) * prices["output_price_usd_micro_per_mtok"]
    )
    nusd = pico_usd // PICO_PER_NANO
    return nusd + nusd * markup_bp // BP_PER_UNIT


def _usd(nusd: int) -> str:
    return f"${nusd / 1e9:.6f}".rstrip("0").rstrip(".") if nusd else "$0"


def effective_threshold(route: RouteInfo, quality: float) -> float:
    """The difficulty at which the premium tier starts, for a quality trade-off in [0, 1]:
    the route's threshold at 0.5, never premium at 0, always premium at 1 (monotone)."""
    t = min(max(route.premium_threshold, 0.0), 1.0)
    q = min(max(quality, 0.0), 1.0)
    if q <= 0.5:
        return t + (1.000001 - t) * (0.5 - q) / 0.5
    return t * (1.0 - q) / 0.5


def _ordered(route, pool, f, stats, messages, quality) -> Ordering:
    return Ordering(tuple(pool), tuple(f"position {i + 1} of the pool" for i in range(len(pool))), "route order")


def _cheapest(route, pool, f, stats, messages, quality) -> Ordering:
    costs_nusd = {m.id: estimated_cost_nusd(m, f) for m in pool}
    ranked = sorted(pool, key=lambda m: costs_nusd[m.id])  # stable: ties keep the pool's order
    why = tuple(
        f"~{f.prompt_tokens}+{expected_output_tokens(m, f)} tokens cost {_usd(costs_nusd[m.id])}" for m in ranked
    )
    return Ordering(tuple(ranked), why, f"cheapest for ~{f.prompt_tokens} prompt tokens: {why[0]}" if ranked else "")


def _fastest(route, pool, f, stats, messages, quality) -> Ordering:
    p50 = stats.ttft_p50_ms
    measured = [m for m in pool if m.public_id in p50]
    if stats.explore is not None:
        probe = next((m for m in pool if m.public_id == stats.explore), None)
        if probe is not None:
            rest = [m for m in pool if m is not probe]
            why = (f"probing its latency (last p50 {_ms(p50.get(probe.public_id))})",) + tuple(
                f"p50 {_ms(p50.get(m.public_id))}" for m in rest
            )
            return Ordering((probe, *rest), why, f"probing the latency of {probe.public_id}")
    if not measured:
        return Ordering(
            tuple(pool),
            tuple("too little latency data: static order" for _ in pool),
            "too little latency data: static order",
        )
    position = {m.id: i for i, m in enumerate(pool)}

    def key(m):
        ms = p50.get(m.public_id, stats.unmeasured_ms)
        return (int(ms // stats.bucket_ms) if stats.bucket_ms > 0 else ms, position[m.id])

    ranked = sorted(pool, key=key)
    why = tuple(
        f"p50 {_ms(p50.get(m.public_id))}"
        if m.public_id in p50
        else f"not measured recently (assumed {_ms(stats.unmeasured_ms)})"
        for m in ranked
    )
    first = ranked[0]
    reason = (
        f"lowest time to first token: {first.public_id} p50 {_ms(p50[first.public_id])}"
        if first.public_id in p50
        else f"lowest time to first token: {first.public_id} (not measured recently)"
    )
    return Ordering(tuple(ranked), why, reason)


def _ms(value) -> str:
    return "unknown" if value is None else f"{value:.0f} ms"


def _in_plus_out(m: ModelInfo) -> int:
    """The input plus the output price, micro-USD per 1M tokens (what a "free" route's cap bounds)."""
    return m.input_price_usd_micro_per_mtok + m.output_price_usd_micro_per_mtok


def _free(route, pool, f, stats, messages, quality) -> Ordering:
    cap_usd_micro_per_mtok = route.price_cap_usd_micro_per_mtok or 0
    kept, excluded = [], []
    for m in pool:
        price_usd_micro_per_mtok = _in_plus_out(m)
        if price_usd_micro_per_mtok <= cap_usd_micro_per_mtok:
            kept.append(m)
        else:
            excluded.append(
                (
                    m.public_id,
                    f"costs {price_usd_micro_per_mtok} micro-USD per 1M tokens (in + out), "
                    f"over the cap of {cap_usd_micro_per_mtok}",
                )
            )
    ranked = sorted(kept, key=_in_plus_out)
    why = tuple(
        "free" if _in_plus_out(m) == 0 else f"{_in_plus_out(m) / 1e6:g} USD per 1M tokens (in + out)" for m in ranked
    )
    reason = f"{'free' if ranked and why[0] == 'free' else 'near-zero price'}: {ranked[0].public_id}" if ranked else ""
    return Ordering(tuple(ranked), why, reason, excluded=tuple(excluded))


def _by_rank(attr: str, label: str):
    def order(route, pool, f, stats, messages, quality) -> Ordering:
        ranked = sorted(pool, key=lambda m: -(getattr(m, attr) if getattr(m, attr) is not None else -1))
        why = tuple(
            f"{label} rank {getattr(m, attr)}" if getattr(m, attr) is not None else f"no {label} rank" for m in ranked
        )
        reason = f"highest {label} rank: {ranked[0].public_id} ({why[0].split()[-1]})" if ranked else ""
        return Ordering(tuple(ranked), why, reason)

    return order


def _tiered(route, pool, f, stats, messages, quality) -> Ordering:
    from .difficulty.model import estimator

    tier_of = {}
    for m, tier in zip(route.targets, route.tiers or (), strict=False):
        tier_of[m.id] = tier or "economy"
    q = route.default_quality if quality is None else quality
    a = estimator().assess(messages)
    if a.difficulty is None:
        why = tuple(f"{tier_of.get(m.id, 'economy')} tier, route default" for m in pool)
        return Ordering(tuple(pool), why, f"{a.note}: route default")
    t = effective_threshold(route, q)
    present = {tier_of.get(m.id, "economy") for m in pool}  # tiers with a model that can serve
    if a.difficulty >= t:
        reason = f"difficulty {a.difficulty:.2f} >= {min(t, 1.0):.2f}"
        wanted = ("code", "premium", "economy") if a.code else ("premium", "code", "economy")
    else:
        reason = f"difficulty {a.difficulty:.2f} < {min(t, 1.0):.2f}"
        wanted = ("economy", "premium", "code")
    tier = next((w for w in wanted if w in present), "economy")
    reason += f": {tier} tier"
    if a.code:
        reason += "; code detected"
    if wanted[0] != tier and not (wanted[0] == "code" and tier == "premium"):
        reason += f"; no capable {wanted[0]} model"
    if quality is not None:
        reason += f"; quality {q:g}"
    order = {w: i for i, w in enumerate(wanted)}
    ranked = sorted(pool, key=lambda m: order.get(tier_of.get(m.id, "economy"), 2))
    why = tuple(f"{tier_of.get(m.id, 'economy')} tier" for m in ranked)
    return Ordering(tuple(ranked), why, reason, difficulty=a.difficulty, tier=tier)


POLICIES = {
    "ordered": _ordered,
    "cheapest": _cheapest,
    "fastest": _fastest,
    "free": _free,
    "best": _by_rank("quality_overall", "overall quality"),
    "code": _by_rank("quality_coding", "coding quality"),
    "tiered": _tiered,
}


def order_pool(
    route: RouteInfo, pool: list[ModelInfo], f: Features, stats: LiveStats, messages, quality: float | None
) -> Ordering:
    policy = POLICIES.get(route.policy, _ordered)
    return policy(route, pool, f, stats, messages, quality)
