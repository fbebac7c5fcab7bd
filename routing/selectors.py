"""Reads of the catalog for pages and the API."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .price_models import PRICE_FIELDS, PriceVersion


@dataclass(frozen=True)
class PricePoint:
    effective_at: datetime | None  # None: the catalog's price, from before versions were recorded
    input_price_usd_micro_per_mtok: int
    cached_input_price_usd_micro_per_mtok: int | None
    cache_write_price_usd_micro_per_mtok: int | None
    cache_write_1h_price_usd_micro_per_mtok: int | None
    output_price_usd_micro_per_mtok: int
    source: str
    state: str  # "scheduled", "in force" or "past"
    long_prompt_threshold_tokens: int | None = None  # the long-prompt tier (billing/pricing.py); None: none
    long_input_price_usd_micro_per_mtok: int | None = None
    long_cached_input_price_usd_micro_per_mtok: int | None = None
    long_cache_write_price_usd_micro_per_mtok: int | None = None
    long_output_price_usd_micro_per_mtok: int | None = None


def price_history(model) -> list[PricePoint]:
    """The model's prices, newest first: scheduled ones, the one in force, then earlier ones."""
    now = timezone.now()
    points, seen_in_force = [], False
    for v in PriceVersion.objects.filter(model=model).order_by("-effective_at", "-id"):
        if v.effective_at > now:
            state = "scheduled"
        elif not seen_in_force:
            state, seen_in_force = "in force", True
        else:
            state = "past"
        points.append(PricePoint(effective_at=v.effective_at, source=v.source, state=state, **v.prices()))
    if not seen_in_force:  # a model added outside admin and the seed: its price has no version yet
        points.append(
            PricePoint(
                effective_at=None, source="catalog", state="in force", **{f: getattr(model, f) for f in PRICE_FIELDS}
            )
        )
    return points
