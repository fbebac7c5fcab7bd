"""What the public pages show, read from the catalog in the database on every request (an
operator's price edit shows at once; the catalog is a few dozen rows)."""

from dataclasses import dataclass

from django.conf import settings

from billing.pricing import prices_at
from routing.catalog import ModelInfo, Snapshot, load_snapshot, prices_of

from . import costs

# The seed's example: a 1M requests/day app, 500 input + 200 output tokens per request.
EXAMPLE = {"requests": 1_000_000, "input_tokens": 500, "output_tokens": 200}
EXAMPLE_SINGLES = ["anthropic/claude-opus-4.6", "openai/gpt-5.4", "deepseek/deepseek-chat"]
EXAMPLE_MIX = {"auto-cheap": 80, "auto-code": 15, "auto-best": 5}


def markup_bp() -> int:
    return settings.AIPOWER_DEFAULT_MARKUP_BP


def markup_percent() -> str:
    bp = markup_bp()
    return f"{bp // 100}%" if bp % 100 == 0 else f"{bp / 100:.2f}%"


@dataclass(frozen=True)
class Price:
    """One price per 1M tokens: upstream and ours, formatted."""

    upstream: str
    ours: str


def price(upstream_micro: int | None, fallback_micro: int, bp: int) -> Price:
    micro = fallback_micro if upstream_micro is None else upstream_micro
    return Price(upstream=costs.per_million(micro), ours=costs.per_million(costs.marked_up_micro(micro, bp)))


@dataclass(frozen=True)
class ModelRow:
    model: ModelInfo
    provider_name: str
    input: Price
    cached_input: Price
    output: Price
    capabilities: tuple[str, ...]
    # Prompt-cache writes (five minutes, one hour); None: the model charges none (or, for one hour,
    # has no 1-hour caching: a 1-hour mark caches for five minutes).
    cache_write: Price | None = None
    cache_write_1h: Price | None = None
    long: "LongPrices | None" = None  # the long-prompt prices; None: the same prices at any length


@dataclass(frozen=True)
class LongPrices:
    """A model's long-prompt tier (billing/pricing.py): a request whose prompt has more than
    `threshold` tokens is billed entirely at these."""

    threshold: int  # tokens
    input: Price
    cached_input: Price
    output: Price
    cache_write: Price | None = None

    @property
    def threshold_text(self) -> str:
        """272000 -> "272K"; exact ("272,001") where a rounder text would not be."""
        n = self.threshold
        return f"{n // 1000}K" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def long_prices(m: ModelInfo, bp: int) -> LongPrices | None:
    threshold = m.long_prompt_threshold_tokens
    if threshold is None:
        return None
    p = prices_at(threshold + 1, prices_of(m))
    inp = p["input_price_usd_micro_per_mtok"]
    return LongPrices(
        threshold=threshold,
        input=price(inp, 0, bp),
        cached_input=price(p["cached_input_price_usd_micro_per_mtok"], inp, bp),
        output=price(p["output_price_usd_micro_per_mtok"], 0, bp),
        cache_write=_optional(p["cache_write_price_usd_micro_per_mtok"], bp),
    )


def capabilities(m: ModelInfo) -> tuple[str, ...]:
    """Beyond chat (every model): tools, vision, PDF and audio input, JSON mode; "no streaming" when
    it cannot stream. An embedding model: "embeddings" and its dimensions."""
    if m.kind == "embedding":
        return ("embeddings",) + ((f"{m.dimensions:,} dimensions",) if m.dimensions else ())
    caps = [] if m.supports_streaming else ["no streaming"]
    if m.supports_tools:
        caps.append("tools")
    if m.supports_vision:
        caps.append("vision")
    if m.supports_pdf_input:
        caps.append("PDF input")
    if m.supports_audio_input:
        caps.append("audio input")
    if m.supports_json_mode:
        caps.append("JSON mode")
    return tuple(caps)


def model_row(m: ModelInfo, bp: int) -> ModelRow:
    return ModelRow(
        model=m,
        provider_name=m.provider.name,
        input=price(m.input_price_usd_micro_per_mtok, 0, bp),
        cached_input=price(m.cached_input_price_usd_micro_per_mtok, m.input_price_usd_micro_per_mtok, bp),
        output=price(m.output_price_usd_micro_per_mtok, 0, bp),
        capabilities=capabilities(m),
        cache_write=_optional(m.cache_write_price_usd_micro_per_mtok, bp),
        cache_write_1h=_optional(m.cache_write_1h_price_usd_micro_per_mtok, bp),
        long=long_prices(m, bp),
    )


def _optional(upstream_micro: int | None, bp: int) -> Price | None:
    return None if upstream_micro is None else price(upstream_micro, 0, bp)


def model_rows(snapshot: Snapshot) -> list[ModelRow]:
    bp = markup_bp()
    models = sorted(snapshot.models.values(), key=lambda m: (m.provider.name.lower(), m.display_name.lower()))
    return [model_row(m, bp) for m in models]


@dataclass(frozen=True)
class RouteCard:
    name: str
    goal: str
    description: str
    first: ModelRow | None
    targets: tuple[ModelInfo, ...]


def first_choice(snapshot: Snapshot, route) -> ModelInfo | None:
    """What the route's policy calls first for the site's example request (500 input and 200
    output tokens, plain text): the cheapest for auto-cheap, the highest ranked for auto-best, the
    route's default tier for auto (no prompt to judge), the static order for auto-fast until it has
    measurements. The pool's first model when the policy cannot say."""
    from routing import policy
    from routing.errors import GatewayError
    from routing.request import Features

    example = Features(
        prompt_tokens=EXAMPLE["input_tokens"],
        max_tokens=EXAMPLE["output_tokens"],
        tools=False,
        vision=False,
        json_mode=False,
        stream=False,
        include_usage=False,
    )
    try:
        candidates = policy.plan(route.name, example, snapshot, fallback=False).candidates
    except GatewayError:
        candidates = []
    if candidates:
        return candidates[0]
    return route.targets[0] if route.targets else None


def route_cards(snapshot: Snapshot) -> list[RouteCard]:
    bp = markup_bp()
    cards = []
    for r in snapshot.routes.values():
        first = first_choice(snapshot, r)
        cards.append(
            RouteCard(
                name=r.name,
                goal=r.goal,
                description=r.description,
                first=model_row(first, bp) if first is not None else None,
                targets=r.targets,
            )
        )
    return cards


def fallback_chains(snapshot: Snapshot) -> list[tuple[str, str, tuple[ModelInfo, ...]]]:
    """(provider slug, provider name, chain) for every provider with an enabled model or a chain."""
    names = {m.provider.slug: m.provider.name for m in snapshot.models.values()}
    return [(slug, names.get(slug, slug), chain) for slug, chain in snapshot.fallbacks.items() if chain]


@dataclass(frozen=True)
class CostTable:
    rows: list  # (Strategy, change percent against the first row or None for the baseline)
    requests: int
    input_tokens: int
    output_tokens: int
    mix_label: str


def example_cost_table(snapshot: Snapshot) -> CostTable:
    """The seed's "Real cost math" table, from live prices with the markup."""
    bp = markup_bp()
    strategies = [
        costs.single_model(snapshot.models[pid], markup_bp=bp, **EXAMPLE)
        for pid in EXAMPLE_SINGLES
        if pid in snapshot.models
    ]
    shares = mix_shares(snapshot, EXAMPLE_MIX)
    label = " · ".join(f"{pct}% {name}" for name, pct in EXAMPLE_MIX.items())
    if shares is not None:
        strategies.append(
            costs.Strategy(
                label="AIPower smart routing", detail=label, day_nusd=costs.mix(shares, markup_bp=bp, **EXAMPLE)
            )
        )
    rows = []
    for i, s in enumerate(strategies):
        rows.append((s, None if i == 0 else costs.change_percent(strategies[0].day_nusd, s.day_nusd)))
    return CostTable(rows=rows, mix_label=label, **EXAMPLE)


def mix_shares(snapshot: Snapshot, mix: dict[str, int]) -> list[tuple[ModelInfo, int]] | None:
    """(first choice of each route, percent), or None when a route in the mix has no target."""
    shares = []
    for name, pct in mix.items():
        if not pct:
            continue
        route = snapshot.routes.get(name)
        first = first_choice(snapshot, route) if route is not None else None
        if first is None:
            return None
        shares.append((first, pct))
    return shares


def routes_using(snapshot: Snapshot, m: ModelInfo) -> list[tuple[str, int]]:
    """(route name, position: 1 = first choice) of the routes that list the model."""
    out = []
    for r in snapshot.routes.values():
        for i, t in enumerate(r.targets):
            if t.public_id == m.public_id:
                out.append((r.name, i + 1))
    return out


def cache_mark_readers(snapshot: Snapshot) -> list[str]:
    """The providers (names) that read Anthropic's cache_control marks: Anthropic's own wire format,
    and OpenAI-format vendors whose quirks say so (routing/adapters/openai_compat.py)."""
    providers = {m.provider.slug: m.provider for m in snapshot.models.values()}
    return sorted(
        p.name for p in providers.values() if p.wire_format == "anthropic" or p.quirks.get("cache_control_marks")
    )


def snapshot() -> Snapshot:
    return load_snapshot()
