"""django-allauth hooks: every new user, by password or social sign-in, gets a personal organization."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings

from .orgs import organization_create_personal

SENT_TO = "aipower_verification_sent_to"
LINK = "aipower_verification_link"


def mail_stays_local() -> bool:
    """The embedded default: no mail server, emails are printed on the server's console."""
    return settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            organization_create_personal(user=user)
        return user

    def send_confirmation_mail(self, request, emailconfirmation, signup):
        """Remembers where the email went for the "verify your email" page; with no mail server
        (embedded mode only) also the link, since the email itself only reached the console."""
        super().send_confirmation_mail(request, emailconfirmation, signup)
        if request is None or not hasattr(request, "session"):
            return
        request.session[SENT_TO] = emailconfirmation.email_address.email
        if mail_stays_local():
            request.session[LINK] = self.get_email_confirmation_url(request, emailconfirmation)
        else:
            request.session.pop(LINK, None)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        organization_create_personal(user=user)
        return user
