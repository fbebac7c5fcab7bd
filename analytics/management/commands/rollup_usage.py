from django.core.management.base import BaseCommand

from analytics.rollups import rollup_and_expire


class Command(BaseCommand):
    help = "Rolls usage rows up into hourly and daily rollups (what Celery beat runs), then expires old rows."

    def handle(self, *args, **options):
        hours, deleted = rollup_and_expire()
        self.stdout.write(f"Rolled up {hours} hour(s); deleted {deleted} expired usage row(s).")
