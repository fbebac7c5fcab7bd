"""What a sync may change on its own. Everything else waits for an operator.

Applied on its own: a price that moves by at most the allowed factor (AIPOWER_PRICE_SYNC_MAX_FACTOR,
3 by default, either way), a limit that grows, a capability gained. Held: a price that moves by
more, or crosses zero (to or from free); a limit that shrinks; a capability lost. A value the
source does not give is left as it is.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from billing.pricing import LONG_PRICES, THRESHOLD

from ..price_models import PRICE_FIELDS

LIMIT_FIELDS = ("context_window", "max_output_tokens")
CAPABILITY_FIELDS = ("supports_tools", "supports_vision", "supports_pdf_input", "supports_audio_input")
INPUT = "input_price_usd_micro_per_mtok"
WRITE, WRITE_1H = "cache_write_price_usd_micro_per_mtok", "cache_write_1h_price_usd_micro_per_mtok"
NORMAL_OF = {long_name: name for name, long_name in LONG_PRICES.items()}  # a long-prompt price -> its kind


@dataclass
class Decision:
    apply: dict = field(default_factory=dict)  # field -> [old, new]
    hold: dict = field(default_factory=dict)  # field -> [old, new]
    reasons: list = field(default_factory=list)  # why each held field is held


def _effective(model, name: str):
    """The price billed for a field: an empty cached or cache-write price means the input price, an
    empty 1-hour cache-write price the cache-write price, an empty long-prompt price the normal price
    of its kind (billing/pricing.py); an empty threshold is no long-prompt tier."""
    value = getattr(model, name)
    if value is not None or name in (INPUT, THRESHOLD):
        return value
    if name == WRITE_1H:
        return _effective(model, WRITE)
    if name in NORMAL_OF:
        return _effective(model, NORMAL_OF[name])
    return getattr(model, INPUT)


def decide(model, entry, *, factor: Decimal) -> Decision:
    d = Decision()
    for name in PRICE_FIELDS:
        if name not in entry.prices:
            continue
        new, old = entry.prices[name], _effective(model, name)
        if new == old:  # (an empty cached price already means the input price: nothing to change)
            continue
        change = [getattr(model, name), new]
        if (old == 0) != (new == 0):
            d.hold[name] = change
            d.reasons.append(f"{name} crosses zero ({old} -> {new})")
        elif old and (Decimal(new) > Decimal(old) * factor or Decimal(new) * factor < Decimal(old)):
            d.hold[name] = change
            d.reasons.append(f"{name} moves more than {factor}x ({old} -> {new})")
        else:
            d.apply[name] = change
    for name in LIMIT_FIELDS:
        if name in entry.limits and entry.limits[name] != getattr(model, name):
            old, new = getattr(model, name), entry.limits[name]
            if new < old:
                d.hold[name] = [old, new]
                d.reasons.append(f"{name} shrinks ({old} -> {new})")
            else:
                d.apply[name] = [old, new]
    for name in CAPABILITY_FIELDS:
        if name in entry.capabilities and entry.capabilities[name] != getattr(model, name):
            if entry.capabilities[name]:
                d.apply[name] = [False, True]
            else:
                d.hold[name] = [True, False]
                d.reasons.append(f"{name} would be turned off")
    return d
