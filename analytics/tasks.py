"""Celery tasks: thin, each calls a service."""

from celery import shared_task


@shared_task
def rollup_usage() -> int:
    """Rolls up the hours that need it, then expires usage rows past the retention period."""
    from .rollups import rollup_and_expire

    return rollup_and_expire()[0]
