"""Celery tasks: thin, each calls a service."""

from celery import shared_task


@shared_task
def sync_prices() -> list[dict]:
    from .pricesync.sync import run_configured

    return [
        {
            "run": r.pk,
            "format": r.format,
            "ok": r.ok,
            "applied": r.applied,
            "held": r.held,
            "proposed": r.proposed,
            "error": r.error,
        }
        for r in run_configured(trigger="schedule")
    ]


@shared_task
def apply_due_prices() -> int:
    from .prices import price_versions_apply_due

    return price_versions_apply_due()


@shared_task
def purge_expired_responses() -> int:
    """Stored /v1/responses answers past AIPOWER_RESPONSES_TTL_SECONDS (never readable after it)."""
    from .dialects.responses import responses_purge_expired

    return responses_purge_expired()
