from django.core.management.base import BaseCommand

from routing.services import catalog_load_seed


class Command(BaseCommand):
    help = "Loads the seed catalog (providers, models, routes). Idempotent; operator edits are kept."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="overwrite prices, capabilities and route targets with the seed values"
        )

    def handle(self, *args, reset=False, **options):
        created = catalog_load_seed(reset=reset)
        self.stdout.write(
            f"Catalog loaded: {created['providers']} providers, {created['models']} models and "
            f"{created['routes']} routes added."
        )
