from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from allauth.account.signals import email_confirmed, user_signed_up

        from .services import on_email_confirmed, on_user_signed_up

        # The free trial is granted when an email address is verified (once per address).
        email_confirmed.connect(on_email_confirmed, dispatch_uid="billing-trial-grant")
        user_signed_up.connect(on_user_signed_up, dispatch_uid="billing-trial-grant-social")
