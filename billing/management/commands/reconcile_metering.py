from django.core.management.base import BaseCommand

from accounts.scoping import scopes_disabled
from billing.metering import reconcile
from billing.pricing import format_usd


class Command(BaseCommand):
    help = "Compares the usage sent to Stripe's Billing Meter with the ledger, hour by hour; exits 1 on a mismatch."

    def handle(self, *args, **options):
        with scopes_disabled():  # every organization's
            mismatches = reconcile()
        for m in mismatches:
            self.stdout.write(
                f"org {m.organization_id} {m.hour:%Y-%m-%d %H:00}Z: ledger {format_usd(m.ledger_nusd)}"
                f" ({m.ledger_nusd} nUSD), sent {format_usd(m.sent_nusd)} ({m.sent_nusd} nUSD)"
            )
        if mismatches:
            raise SystemExit(1)
        self.stdout.write("metering matches the ledger")
