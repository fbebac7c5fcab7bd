"""Celery tasks: thin, each calls a service."""

from celery import shared_task


@shared_task
def purge_expired_responses() -> int:
    """Stored /v1/responses answers past AIPOWER_RESPONSES_TTL_SECONDS (never readable after it)."""
    from .dialects.responses import responses_purge_expired

    return responses_purge_expired()
