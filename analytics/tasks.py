"""Celery tasks: thin, each calls a service."""

from celery import shared_task


@shared_task
def rollup_usage() -> int:
    """Rolls up the hours that need it, then expires usage rows past the retention period."""
    from .rollups import purge_expired, rollup_due

    hours = rollup_due()
    purge_expired()
    return len(hours)
