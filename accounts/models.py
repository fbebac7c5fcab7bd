from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from .scoping import OrganizationScopedManager


# The plugin cannot resolve the related managers (api_keys, ...): their models' default manager is
# a class django_scopes builds at run time.
class Organization(models.Model):  # type: ignore[django-manager-missing]
    """The tenant. Every tenant-owned row points at one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"
        VIEWER = "viewer"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def is_manager(self) -> bool:
        """Owners and admins manage members, invitations and every key of the organization."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    @property
    def can_use_keys(self) -> bool:
        """Viewers see analytics only."""
        return self.role != self.Role.VIEWER


class ApiKey(models.Model):
    """An API key. Only a hash of the secret is stored; the full key is shown once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # The first characters of the key, shown in lists so that a key can be recognised.
    prefix = models.CharField(max_length=24, db_index=True)
    # HMAC-SHA256 of the full key under settings.SECRET_KEY, hex.
    secret_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Per-key limits, enforced by the gateway. Empty means no per-key limit.
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="requests per minute")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="tokens per minute (prompt + completion)")
    # Model public ids ("anthropic/claude-sonnet-4") and route names ("auto-code") this key may call.
    # An empty list allows every model and route.
    allowed_models = models.JSONField(default=list, blank=True)
    # The quality trade-off of the key's requests to prompt-aware routes (0 cheapest - 1 best);
    # empty: the route's default. A request's x-aipower-quality header overrides it.
    route_quality = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="0 (cheapest) to 1 (best); empty: the route's default",
    )

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["ApiKey"] = OrganizationScopedManager()

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class Invitation(models.Model):
    """An invitation to join an organization, sent by email.

    The link carries a random token; only its HMAC is stored. The invitee accepts it signed in with
    a verified email address equal to the one invited, so a forwarded link is of no use to others.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["Invitation"] = OrganizationScopedManager()

    def __str__(self):
        return f"{self.email} → {self.organization} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class ManagementToken(models.Model):
    """A token for the management API (/api/), acting as one user in one organization.

    Not a gateway key: it starts with ``aip-mt-`` and is refused by /v1/, and gateway keys are
    refused by /api/. Only an HMAC is stored; the token is shown once.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="management_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="management_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=24)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["ManagementToken"] = OrganizationScopedManager()

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class AuditLog(models.Model):
    """Who changed what in an organization, and when: keys, members, roles, invitations and the
    billing settings (markup, spending cap, budgets). Written by the services that make the change,
    in the same transaction; never edited."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # The user who acted (None: the system, or a user since deleted: see actor_label).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who acted, as it read at the time: an email, "operator alice" (admin) or "system: ...".
    actor_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    # "key.create", "member.role", "billing.settings", ... (see accounts.audit.ACTIONS)
    action = models.CharField(max_length=40)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    # {"field": [before, after]}; creations have before = null.
    changes = models.JSONField(default=dict, blank=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping).
    objects: models.Manager["AuditLog"] = OrganizationScopedManager()

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_created")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"
