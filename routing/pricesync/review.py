"""An operator's decision on what a sync held or proposed."""

from django.db import transaction
from django.utils import timezone

from ..price_models import PRICE_FIELDS, PriceChange, PriceVersion
from ..prices import price_version_create
from .guardrails import CAPABILITY_FIELDS


class ReviewError(Exception):
    pass


@transaction.atomic
def change_approve(*, change_id: int, by: str):
    """Applies a held change (a new price version in force now), or adds a proposed model to the
    catalog, disabled: the operator enables it when ready."""
    from ..models import CatalogModel

    change = PriceChange.objects.select_for_update().get(pk=change_id)
    if change.status not in (PriceChange.Status.HELD, PriceChange.Status.PROPOSED):
        raise ReviewError(f"{change} is {change.get_status_display()}: only held or proposed changes can be approved")
    if change.kind == PriceChange.Kind.UPDATE:
        assert change.model_id is not None  # an update is of a catalog model
        model = CatalogModel.objects.select_for_update().get(pk=change.model_id)
        prices = {f: v[1] for f, v in change.fields.items() if f in PRICE_FIELDS}
        if prices:
            price_version_create(
                model=model,
                prices=prices,
                source=PriceVersion.Source.SYNC,
                created_by=f"{by} (approved held change {change.pk})",
                note=change.reason,
            )
        other = {f: v[1] for f, v in change.fields.items() if f not in PRICE_FIELDS}
        if other:
            CatalogModel.objects.filter(pk=model.pk).update(**other)
    else:
        assert change.provider is not None  # a proposed model is of a provider
        f = change.fields
        prices = f.get("prices", {})
        model = CatalogModel.objects.create(
            provider=change.provider,
            upstream_id=f["upstream_id"],
            public_id=f"{change.provider.slug}/{f['upstream_id']}"[:160],
            display_name=f["display_name"][:120],
            input_price_usd_micro_per_mtok=prices["input_price_usd_micro_per_mtok"],
            output_price_usd_micro_per_mtok=prices["output_price_usd_micro_per_mtok"],
            cached_input_price_usd_micro_per_mtok=prices.get("cached_input_price_usd_micro_per_mtok"),
            cache_write_price_usd_micro_per_mtok=prices.get("cache_write_price_usd_micro_per_mtok"),
            cache_write_1h_price_usd_micro_per_mtok=prices.get("cache_write_1h_price_usd_micro_per_mtok"),
            context_window=f.get("limits", {}).get("context_window", 0),
            max_output_tokens=f.get("limits", {}).get("max_output_tokens", 0),
            **{name: f.get("capabilities", {}).get(name, False) for name in CAPABILITY_FIELDS},
            enabled=False,
            **{f"{f['source_format']}_id": change.source_id},
        )
        change.model = model
        PriceVersion.objects.create(
            model=model,
            effective_at=timezone.now(),
            source=PriceVersion.Source.SYNC,
            created_by=f"{by} (approved proposal {change.pk})",
            applied=True,
            **{k: getattr(model, k) for k in PRICE_FIELDS},
        )
    change.status = PriceChange.Status.APPROVED
    change.decided_by, change.decided_at = by[:200], timezone.now()
    change.save()
    return change


@transaction.atomic
def change_reject(*, change_id: int, by: str):
    change = PriceChange.objects.select_for_update().get(pk=change_id)
    if change.status not in (PriceChange.Status.HELD, PriceChange.Status.PROPOSED):
        raise ReviewError(f"{change} is {change.get_status_display()}: only held or proposed changes can be rejected")
    change.status = PriceChange.Status.REJECTED
    change.decided_by, change.decided_at = by[:200], timezone.now()
    change.save()
    return change
