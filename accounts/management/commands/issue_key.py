from django.core.management.base import BaseCommand

from accounts.keys import apikey_create, organization_get_or_create


class Command(BaseCommand):
    help = "Creates the organization if needed and prints a new API key as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization name")
        parser.add_argument("--name", default="cli", help="a name for the key")

    def handle(self, *args, org, name, **options):
        organization = organization_get_or_create(name=org)
        key, raw = apikey_create(organization=organization, name=name)
        self.stdout.write(f"Organization: {organization.name} (id {organization.pk})")
        self.stdout.write(f"Key {key.prefix}… created. It is shown once; store it now:")
        self.stdout.write(raw)
