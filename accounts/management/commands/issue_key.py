from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from accounts.keys import apikey_create, organization_get_or_create

NUSD_PER_USD = 1_000_000_000


def usd(text: str) -> int:
    """A dollar amount as integer nano-USD, exactly."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"--credit-usd must be a number of dollars, got {text!r}") from None
    if value < 0 or value != value.quantize(Decimal("0.000000001")):
        raise CommandError("--credit-usd must be positive, with at most 9 decimals")
    return int(value * NUSD_PER_USD)


class Command(BaseCommand):
    help = "Creates the organization if needed and prints a new API key as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization name")
        parser.add_argument("--name", default="cli", help="a name for the key")
        parser.add_argument("--credit-usd", default=None,
                            help="grant the organization this much credit (a ledger entry), e.g. 5 or 0.25")

    def handle(self, *args, org, name, credit_usd, **options):
        credit = usd(credit_usd) if credit_usd is not None else 0
        organization = organization_get_or_create(name=org)
        key, raw = apikey_create(organization=organization, name=name)
        self.stdout.write(f"Organization: {organization.name} (id {organization.pk})")
        if credit:
            from billing.services import ledger_post

            ledger_post(organization_id=organization.pk, kind="grant", amount_nusd=credit,
                        note=f"granted with key {key.prefix}", grant_key=f"issue_key:{key.pk}")
            self.stdout.write(f"Granted ${Decimal(credit) / NUSD_PER_USD} of credit.")
        self._say_balance(organization)
        self.stdout.write(f"Key {key.prefix}… created. It is shown once; store it now:")
        self.stdout.write(raw)

    def _say_balance(self, organization) -> None:
        from billing.models import CreditAccount
        from billing.pricing import format_usd

        account = CreditAccount.objects.filter(organization=organization).first()
        if account is not None and (account.postpaid or account.balance_nusd > 0):
            what = "postpaid" if account.postpaid else f"balance {format_usd(account.balance_nusd)}"
            self.stdout.write(f"The organization's credit: {what}.")
            return
        self.stdout.write(self.style.WARNING(
            "The organization has no credit: its requests will be refused with 402 insufficient_quota. "
            f'Grant some as you issue a key: manage.py issue_key --org "{organization.name}" --credit-usd 5, '
            "or in admin: Billing → Credit accounts → this organization → \"Adjust balance by (USD)\"."))
