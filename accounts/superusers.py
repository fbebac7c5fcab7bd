"""A superuser's email address counts as verified from the start: the admin signs in through
allauth, whose mandatory verification would otherwise stop an operator who made the account with
`manage.py createsuperuser` (and may have no mail set up yet)."""


def verify_new_superuser(sender, instance, created, raw=False, **kwargs):
    if not created or raw or not instance.is_superuser or not instance.email:
        return
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(
        user=instance, email=instance.email.lower(), defaults={"verified": True, "primary": True}
    )
