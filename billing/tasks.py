"""Celery tasks: thin, each calls a service. They are the system acting, for every organization
or for the one they name: they run outside tenant scopes (accounts.scoping)."""

from celery import shared_task

from accounts.scoping import scopes_disabled


@shared_task
def sweep_reservations() -> int:
    from .reservations import sweep_expired

    with scopes_disabled():
        return sweep_expired()


@shared_task
def balance_fell(organization_id: int, before_nusd: int, after_nusd: int) -> None:
    """A settle or clawback lowered the balance through a threshold: alerts, then auto-recharge."""
    from .recharge import auto_recharge, low_balance_alerts

    with scopes_disabled():
        low_balance_alerts(organization_id=organization_id, before_nusd=before_nusd, after_nusd=after_nusd)
        auto_recharge(organization_id=organization_id)


@shared_task
def report_metered_usage() -> int:
    from .metering import report_usage

    with scopes_disabled():
        return report_usage()
