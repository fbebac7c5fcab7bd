from django.core.management.base import BaseCommand

from billing.reservations import sweep_expired


class Command(BaseCommand):
    help = "Releases the credit held by reservations past their expiry (their request never settled)."

    def handle(self, *args, **options):
        self.stdout.write(f"released {sweep_expired()} expired reservation(s)")
