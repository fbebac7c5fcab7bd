"""A price sync: one source's entries against the catalog, under the guardrails, recorded.

A failed fetch or a malformed payload records the run with its reason and changes nothing. A
model the operator pinned is never changed. Nothing is deleted: a model the source no longer
lists keeps its prices. New models of the catalog's providers are proposed, never enabled.
"""

import logging
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from ..price_models import PRICE_FIELDS, PriceChange, PriceSyncRun, PriceVersion
from ..prices import price_version_create, price_versions_apply_due
from .formats import PARSERS, Entry, PayloadError, load_json
from .guardrails import decide
from .sources import FetchError, configured, fetch

log = logging.getLogger(__name__)

# A source's name for a vendor -> our provider slug, where they differ.
PROVIDER_ALIASES = {
    "litellm": {
        "gemini": "google",
        "dashscope": "qwen",
        "zai": "zhipu",
        "zhipuai": "zhipu",
        "volcengine": "bytedance",
        "moonshotai": "moonshot",
    },
    "openrouter": {"z-ai": "zhipu", "moonshotai": "moonshot", "qwen": "qwen", "bytedance-seed": "bytedance"},
}
SOURCE_ID_FIELD = {"litellm": "litellm_id", "openrouter": "openrouter_id"}


def provider_slug(fmt: str, name: str) -> str:
    return PROVIDER_ALIASES.get(fmt, {}).get(name, name)


def run_configured(*, trigger: str = "") -> list[PriceSyncRun]:
    return [run_source(fmt=fmt, url=url, trigger=trigger) for fmt, url in configured()]


def run_source(*, fmt: str, url: str, dry_run: bool = False, trigger: str = "") -> PriceSyncRun:
    if fmt not in PARSERS:
        raise ValueError(f"unknown price list format {fmt!r} (known: {', '.join(sorted(PARSERS))})")
    run = PriceSyncRun.objects.create(format=fmt, url=url[:500], dry_run=dry_run, trigger=trigger[:40])
    try:
        entries = PARSERS[fmt](load_json(fetch(url)))
        if not entries:
            raise PayloadError("the source lists no models")
        run.entries = len(entries)
        with transaction.atomic():
            held = _sync(run, fmt, url, entries, dry_run=dry_run)
            if dry_run:
                transaction.set_rollback(True)
    except (FetchError, PayloadError) as exc:
        run.error = str(exc)
        held = []
    except Exception as exc:  # recorded, and the transaction rolled back: nothing changed
        log.exception("price sync from %s failed", url)
        run.error = f"{exc.__class__.__name__}: {exc}"
        held = []
    else:
        run.ok = True
    if not run.ok:
        run.applied = run.held = run.proposed = 0
    run.finished_at = timezone.now()
    run.save()  # (created before the transaction: a dry run's rollback keeps the run and its report)
    if held and not dry_run:
        _notify(run, held)
    return run


def _index(fmt: str, entries: list[Entry]):
    by_id: dict[str, Entry] = {}
    by_bare: dict[tuple[str, str], Entry] = {}
    for e in entries:
        by_id.setdefault(e.source_id, e)
        by_bare.setdefault((provider_slug(fmt, e.provider), e.bare_id), e)
    return by_id, by_bare


def _sync(run: PriceSyncRun, fmt: str, url: str, entries: list[Entry], *, dry_run: bool) -> list[PriceChange]:
    from ..models import CatalogModel, Provider

    price_versions_apply_due()  # compare with the prices in force
    factor = Decimal(str(settings.AIPOWER_PRICE_SYNC_MAX_FACTOR))
    by_id, by_bare = _index(fmt, entries)
    matched: set[int] = set()
    held: list[PriceChange] = []
    report = []
    who = f"{fmt} sync ({url})"[:200]
    for model in CatalogModel.objects.select_for_update().select_related("provider").order_by("public_id"):
        explicit = getattr(model, SOURCE_ID_FIELD[fmt])
        entry = by_id.get(explicit) if explicit else by_bare.get((model.provider.slug, model.upstream_id))
        line = {"model": model.public_id, "source_id": explicit or (entry.source_id if entry else "")}
        report.append(line)
        if entry is None:
            line["status"] = "not listed"
            continue
        matched.add(id(entry))
        if model.price_pinned:
            line["status"] = "pinned"
            continue
        if entry.error:
            line.update(status="error", reasons=[entry.error])
            continue
        decision = decide(model, entry, factor=factor)
        if not decision.apply and not decision.hold:
            line["status"] = "unchanged"
            continue
        if decision.apply:
            line["applied"] = decision.apply
            run.applied += 1
            prices = {f: new for f, (_, new) in decision.apply.items() if f in PRICE_FIELDS}
            if prices:
                price_version_create(
                    model=model,
                    prices=prices,
                    source=PriceVersion.Source.SYNC,
                    created_by=who,
                    note=f"sync run {run.pk}",
                )
            other = {f: new for f, (_, new) in decision.apply.items() if f not in PRICE_FIELDS}
            if other:
                CatalogModel.objects.filter(pk=model.pk).update(**other)
            PriceChange.objects.create(
                run=run,
                model=model,
                status=PriceChange.Status.APPLIED,
                source_id=entry.source_id,
                fields=decision.apply,
            )
        if decision.hold:
            line["held"] = decision.hold
            line["reasons"] = decision.reasons
            change = _hold(run, model, entry, decision)
            if change is None:
                line["status"] = "held earlier" if not decision.apply else "applied; rest held earlier"
            else:
                held.append(change)
                run.held += 1
                line["status"] = "held" if not decision.apply else "applied and held"
        else:
            line["status"] = "applied"
    report += _propose(run, fmt, entries, matched, Provider.objects.filter(enabled=True))
    run.report = report
    return held


def _hold(run, model, entry, decision) -> PriceChange | None:
    """Holds the change unless the same one waits already or was rejected before."""
    earlier = PriceChange.objects.filter(
        model=model, kind=PriceChange.Kind.UPDATE, status__in=[PriceChange.Status.HELD, PriceChange.Status.REJECTED]
    )
    for change in earlier:
        if {f: v[1] for f, v in change.fields.items()} == {f: v[1] for f, v in decision.hold.items()}:
            return None
    earlier.filter(status=PriceChange.Status.HELD).update(status=PriceChange.Status.SUPERSEDED)
    return PriceChange.objects.create(
        run=run,
        model=model,
        status=PriceChange.Status.HELD,
        source_id=entry.source_id,
        fields=decision.hold,
        reason="; ".join(decision.reasons)[:500],
    )


def _propose(run, fmt, entries, matched, providers) -> list[dict]:
    from ..models import CatalogModel

    by_slug = {p.slug: p for p in providers}
    known = set(CatalogModel.objects.values_list("provider__slug", "upstream_id"))
    earlier = set(
        PriceChange.objects.filter(kind=PriceChange.Kind.NEW_MODEL).values_list("provider__slug", "fields__upstream_id")
    )
    lines, seen = [], set()
    for e in entries:
        slug = provider_slug(fmt, e.provider)
        key = (slug, e.bare_id)
        if (
            id(e) in matched
            or slug not in by_slug
            or e.mode != "chat"
            or e.error
            or key in known
            or key in earlier
            or key in seen
            or "input_price_usd_micro_per_mtok" not in e.prices
            or "output_price_usd_micro_per_mtok" not in e.prices
        ):
            continue
        seen.add(key)
        PriceChange.objects.create(
            run=run,
            provider=by_slug[slug],
            kind=PriceChange.Kind.NEW_MODEL,
            status=PriceChange.Status.PROPOSED,
            source_id=e.source_id,
            reason=f"listed by {fmt}, not in the catalog",
            fields={
                "upstream_id": e.bare_id,
                "display_name": e.display_name or e.bare_id,
                "source_format": fmt,
                "prices": e.prices,
                "limits": e.limits,
                "capabilities": e.capabilities,
            },
        )
        run.proposed += 1
        lines.append({"model": f"{slug}/{e.bare_id}", "source_id": e.source_id, "status": "proposed (new model)"})
    return lines


def _notify(run: PriceSyncRun, held: list[PriceChange]) -> None:
    # ADMINS holds (name, email) pairs, or (Django 6) plain addresses.
    recipients = list(settings.AIPOWER_PRICE_SYNC_EMAILS) or [
        a if isinstance(a, str) else a[1] for a in settings.ADMINS
    ]
    if not recipients:
        log.warning("price sync %s held %d changes and no operator email is configured", run.pk, len(held))
        return
    lines = [f"- {c.model.public_id if c.model else c.source_id}: {c.reason}" for c in held]
    send_mail(
        subject=f"[AIPower] Price sync held {len(held)} change(s) for review",
        message=f"The {run.format} price sync ({run.url}) held these changes until an operator approves or "
        f"rejects them (Django admin: Routing > Price changes, status 'held for review'):\n\n"
        + "\n".join(lines)
        + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
        fail_silently=True,
    )
