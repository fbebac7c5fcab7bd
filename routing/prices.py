"""Price versions: services that write them, and what the catalog snapshot needs of them.

A version effective now is copied to the model's price fields at once (in the same
transaction). A version effective later waits (applied=False): every snapshot of the catalog
already bills at it from its effective time (see scheduled_prices), and
`price_versions_apply_due` copies it to the model once it is in force.
"""

import math
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .catalog import prices_of
from .price_models import PRICE_FIELDS, PriceVersion


@transaction.atomic
def price_version_create(
    *, model, prices: dict, source: str, created_by: str = "", note: str = "", effective_at: datetime | None = None
) -> PriceVersion:
    """Records a price (all four fields; missing ones keep the model's current value). In force
    now unless effective_at is later."""
    from .models import CatalogModel

    if price_versions_apply_due():  # what the new version does not set is taken from the price in force
        model.refresh_from_db(fields=PRICE_FIELDS)
    now = timezone.now()
    values = prices_of(model) | {k: v for k, v in prices.items() if k in PRICE_FIELDS}
    for field, value in values.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError(f"{field} must be a whole number of micro-USD per 1M tokens, not {value!r}")
    if values["input_price_usd_micro_per_mtok"] is None or values["output_price_usd_micro_per_mtok"] is None:
        raise ValueError("input and output prices are required")
    # A price cannot change the past (usage rows keep what they were billed): earlier means now.
    when = max(effective_at or now, now)
    in_force = when == now
    version = PriceVersion.objects.create(
        model=model,
        effective_at=when,
        source=source,
        created_by=created_by[:200],
        note=note[:300],
        applied=in_force,
        **values,
    )
    if in_force:
        CatalogModel.objects.filter(pk=model.pk).update(**values)
        for field, value in values.items():
            setattr(model, field, value)
    return version


@transaction.atomic
def price_versions_apply_due() -> int:
    """Copies scheduled versions that came into force to their models' price fields."""
    from .models import CatalogModel

    now = timezone.now()
    due = list(
        PriceVersion.objects.select_for_update()
        .filter(applied=False, effective_at__lte=now)
        .order_by("model_id", "effective_at", "id")
    )
    latest = {}
    for version in due:
        latest[version.model_id] = version  # the last in force wins
    for model_id, version in latest.items():
        CatalogModel.objects.filter(pk=model_id).update(**version.prices())
    PriceVersion.objects.filter(pk__in=[v.pk for v in due]).update(applied=True)
    return len(latest)


def scheduled_prices() -> tuple[dict[int, dict], float]:
    """For the catalog snapshot: {model pk: ModelInfo price attributes} of versions in force but
    not yet copied to their model, and when (epoch seconds) the next scheduled one takes effect."""
    now = timezone.now()
    overrides: dict[int, dict] = {}
    next_at = math.inf
    for version in PriceVersion.objects.filter(applied=False).order_by("effective_at", "id"):
        if version.effective_at <= now:
            overrides[version.model_id] = version.prices()  # ModelInfo's fields have the same names
        else:
            next_at = min(next_at, version.effective_at.timestamp())
    return overrides, next_at
