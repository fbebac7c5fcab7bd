"""The simulator's settings (server-wide defaults) and the per-request `x-sim-*` controls."""

from dataclasses import dataclass, fields
from typing import overload

FINISHES = ("stop", "length", "tool_calls", "content_filter")
STOP_FIELDS = ("stop_reason", "matched_stop")  # where vLLM / SGLang name the matched stop sequence


@dataclass(slots=True)
class SimConfig:
    """Server-wide defaults; each applies when its request header is absent."""

    latency_ms: float = 0.0  # delay before the response starts
    ttft_ms: float = 0.0  # streaming: delay between the headers and the first content chunk
    tokens_per_second: float = 0.0  # streaming pace; 0: no pacing
    output_tokens: int | None = None  # reply length; None: a short deterministic reply
    chunks: int | None = None  # content chunks per stream; None: one per word
    stream_ms: float = 0.0  # streaming: time over which the chunks are spread; 0: no spreading

    @classmethod
    def from_kwargs(cls, **kwargs) -> "SimConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(kwargs) - names
        if unknown:
            raise TypeError(f"unknown simulator settings: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in kwargs.items() if v is not None})


class ControlError(ValueError):
    pass


def _number(headers, name: str, default: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ControlError(f"header {name} must be a number, got {raw!r}") from None
    if value < 0 or value != value:
        raise ControlError(f"header {name} must not be negative")
    return value


@overload
def _int(headers, name: str, default: int) -> int: ...
@overload
def _int(headers, name: str, default: None) -> int | None: ...
def _int(headers, name: str, default: int | None) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    if not raw.isdigit():
        raise ControlError(f"header {name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _flag(headers, name: str) -> bool:
    return headers.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(slots=True, frozen=True)
class Controls:
    latency_ms: float
    ttft_ms: float
    tokens_per_second: float
    output_tokens: int | None
    chunks: int | None
    stream_ms: float
    finish: str | None
    no_usage: bool
    cached_tokens: int
    reasoning_tokens: int | None
    parallel_tools: bool
    fault_header: str | None
    stop_field: str | None = None
    prompt_tokens: int | None = None  # the prompt's token count to report (None: counted from the request)

    @classmethod
    def parse(cls, headers, config: SimConfig) -> "Controls":
        """The controls of a request with these headers (a mapping whose keys are lower case)."""
        finish = headers.get("x-sim-finish")
        if finish is not None:
            finish = finish.strip().lower()
            if finish not in FINISHES:
                raise ControlError(f"header x-sim-finish must be one of {', '.join(FINISHES)}")
        stop_field = headers.get("x-sim-stop-field")
        if stop_field is not None and stop_field.strip() not in STOP_FIELDS:
            raise ControlError(f"header x-sim-stop-field must be one of {', '.join(STOP_FIELDS)}")
        chunks = _int(headers, "x-sim-chunks", config.chunks)
        if chunks == 0:
            raise ControlError("header x-sim-chunks must be at least 1")
        return cls(
            latency_ms=_number(headers, "x-sim-latency-ms", config.latency_ms),
            ttft_ms=_number(headers, "x-sim-ttft-ms", config.ttft_ms),
            tokens_per_second=_number(headers, "x-sim-tokens-per-second", config.tokens_per_second),
            output_tokens=_int(headers, "x-sim-output-tokens", config.output_tokens),
            chunks=chunks,
            stream_ms=_number(headers, "x-sim-stream-ms", config.stream_ms),
            finish=finish,
            no_usage=_flag(headers, "x-sim-no-usage"),
            cached_tokens=_int(headers, "x-sim-cached-tokens", 0),
            reasoning_tokens=_int(headers, "x-sim-reasoning-tokens", None),
            parallel_tools=_flag(headers, "x-sim-parallel-tools"),
            fault_header=headers.get("x-sim-fault"),
            stop_field=stop_field.strip() if stop_field is not None else None,
            prompt_tokens=_int(headers, "x-sim-prompt-tokens", None),
        )

    @classmethod
    def of_request(cls, headers, config: SimConfig, defaults: "Controls | None" = None) -> "Controls":
        """The controls of a request's headers (any case); `defaults` (the controls of a request without
        x-sim-* headers) is returned as it is when the request has none, the common case."""
        sim = {k.lower(): v for k, v in headers.items() if k[:6].lower() == "x-sim-"}
        if not sim and defaults is not None:
            return defaults
        return cls.parse(sim, config)

    def reasoning_for(self, model: str) -> int:
        """Reasoning tokens the model spends: the header's, or a default for reasoning models."""
        if self.reasoning_tokens is not None:
            return self.reasoning_tokens
        lowered = model.lower()
        if "reasoner" in lowered or "r1" in lowered:
            return 24
        return 0


class Stats:
    """Requests received, per provider and per (provider, model)."""

    def __init__(self):
        self.total = 0
        self.providers: dict[str, int] = {}
        self.models: dict[str, int] = {}
        self.pairs: dict[str, dict[str, int]] = {}

    def count(self, provider: str, model: str | None) -> None:
        self.total += 1
        self.providers[provider] = self.providers.get(provider, 0) + 1
        if model:
            self.models[model] = self.models.get(model, 0) + 1
            per = self.pairs.setdefault(provider, {})
            per[model] = per.get(model, 0) + 1

    def reset(self) -> None:
        self.total = 0
        self.providers.clear()
        self.models.clear()
        self.pairs.clear()

    def as_dict(self) -> dict:
        return {"total": self.total, "providers": self.providers, "models": self.models, "by_provider": self.pairs}
