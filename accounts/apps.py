from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from .superusers import verify_new_superuser

        post_save.connect(verify_new_superuser, sender=get_user_model(), dispatch_uid="aipower-verify-superuser")
