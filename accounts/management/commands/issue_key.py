from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.audit import audit_record
from accounts.keys import apikey_create
from accounts.models import Organization
from accounts.orgs import organization_row_create
from accounts.scoping import scopes_disabled
from billing.money import InvalidAmount, format_usd, parse_usd, usd_to_nusd


def usd(text: str) -> int:
    """A dollar amount as integer nano-USD, exactly."""
    try:
        value = parse_usd(text)
    except InvalidAmount:
        raise CommandError(f"--credit-usd must be a number of dollars, got {text!r}") from None
    if value < 0:
        raise CommandError("--credit-usd must be positive, with at most 9 decimals")
    try:
        return usd_to_nusd(value)
    except InvalidAmount:
        raise CommandError("--credit-usd must be positive, with at most 9 decimals") from None


class Command(BaseCommand):
    help = "Creates the organization if needed and prints a new API key as the last line."

    def add_arguments(self, parser):
        parser.add_argument(
            "--org",
            required=True,
            help="the organization's slug or name (created under that name when there is none); "
            "a name that several organizations share is refused: give the slug",
        )
        parser.add_argument("--name", default="cli", help="a name for the key")
        parser.add_argument(
            "--credit-usd",
            default=None,
            help="grant the organization this much credit (a ledger entry), e.g. 5 or 0.25",
        )

    @scopes_disabled()  # an operator's command
    def handle(self, *args, org, name, credit_usd, **options):
        credit = usd(credit_usd) if credit_usd is not None else 0
        organization = self._organization(org)
        with transaction.atomic():
            key, raw = apikey_create(organization=organization, name=name)
            audit_record(
                organization_id=organization.pk,
                actor="manage.py issue_key",
                action="key.create",
                target=key,
                changes={"name": [None, name]},
            )
        self.stdout.write(f"Organization: {organization.name} (id {organization.pk})")
        if credit:
            from billing.services import ledger_post

            ledger_post(
                organization_id=organization.pk,
                kind="grant",
                amount_nusd=credit,
                note=f"granted with key {key.prefix}",
                grant_key=f"issue_key:{key.pk}",
            )
            self.stdout.write(f"Granted {format_usd(credit)} of credit.")
        self._say_balance(organization)
        self.stdout.write(f"Key {key.prefix}… created. It is shown once; store it now:")
        self.stdout.write(raw)

    def _organization(self, org: str) -> Organization:
        """The organization whose slug is `org`, else the one named `org`, else a new one of that
        name. Names are not unique (every sign-up's "<name>'s organization"): a key must never go
        to a tenant picked at random, so a shared name is refused."""
        by_slug = Organization.objects.filter(slug=org).first()
        if by_slug is not None:
            return by_slug
        named = list(Organization.objects.filter(name=org).order_by("pk")[:6])
        if len(named) > 1:
            slugs = ", ".join(o.slug for o in named[:5]) + (", ..." if len(named) > 5 else "")
            raise CommandError(
                f'More than one organization is named "{org}" (slugs: {slugs}); give the slug: --org <slug>'
            )
        return named[0] if named else organization_row_create(org)

    def _say_balance(self, organization) -> None:
        from billing.models import CreditAccount
        from billing.pricing import format_usd

        account = CreditAccount.objects.filter(organization=organization).first()
        if account is not None and (account.postpaid or account.balance_nusd > 0):
            what = "postpaid" if account.postpaid else f"balance {format_usd(account.balance_nusd)}"
            self.stdout.write(f"The organization's credit: {what}.")
            return
        self.stdout.write(
            self.style.WARNING(
                "The organization has no credit: its requests will be refused with 402 insufficient_quota. "
                f'Grant some as you issue a key: manage.py issue_key --org "{organization.name}" --credit-usd 5, '
                'or in admin: Billing → Credit accounts → this organization → "Adjust balance by (USD)".'
            )
        )
