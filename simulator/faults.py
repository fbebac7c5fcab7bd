"""Injected faults: their specs, the `x-sim-fault` header's rules, and the control API's registry.

A fault spec is one of:
  status:CODE                  the vendor's error body with that HTTP status
  status:429:retry-after=S     ... with a Retry-After header
  status:400:context           the vendor's context-length-exceeded error
  hang                         accept the request and never answer (capped at HANG_SECONDS)
  drop                         close the connection without any response
  drop-mid-stream:N            streaming: N content chunks, then the connection is cut
  error-event:N                streaming: N content chunks, then the vendor's in-stream error event
  slow-first-byte:MS           wait MS milliseconds before the response starts

A rule applies a spec to the requests of one target: a provider slug, an upstream model id,
"provider/model", or "*" (every request). In the header, rules are separated by ";" and written
`target=spec`; a bare spec applies to every request.
"""

import itertools
import random
from dataclasses import dataclass

HANG_SECONDS = 120.0


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # status | hang | drop | drop-mid-stream | error-event | slow-first-byte
    status: int = 0
    retry_after: str | None = None
    context: bool = False
    n: int = 0  # chunks (drop-mid-stream, error-event) or milliseconds (slow-first-byte)
    spec: str = ""


def _non_negative_int(text: str, spec: str) -> int:
    if not text.isdigit():
        raise FaultSpecError(f"bad number in fault spec {spec!r}")
    return int(text)


def parse_fault(spec: str) -> Fault:
    """The Fault a spec names; FaultSpecError when it names none."""
    s = spec.strip()
    if s in ("hang", "drop"):
        return Fault(kind=s, spec=s)
    head, sep, rest = s.partition(":")
    if not sep:
        raise FaultSpecError(f"unknown fault spec {spec!r}")
    if head == "status":
        code_text, _, option = rest.partition(":")
        code = _non_negative_int(code_text, spec)
        if not 400 <= code <= 599:
            raise FaultSpecError(f"bad HTTP status in fault spec {spec!r}")
        if not option:
            return Fault(kind="status", status=code, spec=s)
        if option == "context":
            return Fault(kind="status", status=code, context=True, spec=s)
        name, eq, value = option.partition("=")
        if name == "retry-after" and eq and value:
            return Fault(kind="status", status=code, retry_after=value, spec=s)
        raise FaultSpecError(f"unknown status option in fault spec {spec!r}")
    if head in ("drop-mid-stream", "error-event", "slow-first-byte"):
        return Fault(kind=head, n=_non_negative_int(rest, spec), spec=s)
    raise FaultSpecError(f"unknown fault spec {spec!r}")


def matches(target: str, provider: str, model: str) -> bool:
    return target == "*" or target in (provider, model) or target == f"{provider}/{model}"


def parse_header_rules(header: str) -> list[tuple[str, Fault]]:
    """[(target, fault)] of an x-sim-fault header. A rule that parses whole as a spec is bare
    (target "*"), so a spec's own "=" (retry-after=S) is never read as a target separator."""
    rules = []
    for raw in header.split(";"):
        raw = raw.strip()
        if not raw:
            continue
        try:
            rules.append(("*", parse_fault(raw)))
            continue
        except FaultSpecError:
            pass
        target, eq, spec = raw.partition("=")
        if not eq or not target.strip():
            raise FaultSpecError(f"bad fault rule {raw!r}")
        rules.append((target.strip(), parse_fault(spec)))
    return rules


def header_fault(header: str | None, provider: str, model: str) -> Fault | None:
    """The first rule of the header that applies to this request."""
    if not header:
        return None
    for target, fault in parse_header_rules(header):
        if matches(target, provider, model):
            return fault
    return None


@dataclass(slots=True)
class Rule:
    id: int
    target: str
    fault: Fault
    remaining: int | None  # None: until cleared
    probability: float = 1.0
    hits: int = 0

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "target": self.target,
            "fault": self.fault.spec,
            "count": self.remaining,
            "probability": self.probability,
            "hits": self.hits,
        }


class FaultRegistry:
    """The faults set through the control API. Rules are tried in the order they were added; a rule
    with a count applies to that many matching requests and is then removed."""

    def __init__(self, rng: random.Random | None = None):
        self.rules: list[Rule] = []
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()

    def add(self, target: object, spec: str, count: int | None = None, probability: float = 1.0) -> Rule:
        if not isinstance(target, str) or not target:
            raise FaultSpecError("target must be a provider slug, an upstream model id or '*'")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise FaultSpecError("count must be a positive integer or null")
        if not isinstance(probability, (int, float)) or not 0 < probability <= 1:
            raise FaultSpecError("probability must be in (0, 1]")
        rule = Rule(next(self._ids), target, parse_fault(spec), count, float(probability))
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def take(self, provider: str, model: str) -> Fault | None:
        """The fault this request gets, if any, counting it against its rule."""
        if not self.rules:
            return None
        for rule in self.rules:
            if not matches(rule.target, provider, model):
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            rule.hits += 1
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
            return rule.fault
        return None

    def as_list(self) -> list[dict]:
        return [r.as_dict() for r in self.rules]
