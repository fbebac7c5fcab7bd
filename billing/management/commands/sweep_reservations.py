from django.core.management.base import BaseCommand

from accounts.scoping import scopes_disabled
from billing.reservations import sweep_expired


class Command(BaseCommand):
    help = "Releases the credit held by reservations past their expiry (their request never settled)."

    def handle(self, *args, **options):
        with scopes_disabled():  # every organization's
            released = sweep_expired()
        self.stdout.write(f"released {released} expired reservation(s)")
