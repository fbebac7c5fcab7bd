from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .audit import audit_record, diff
from .models import ApiKey, Invitation, ManagementToken, Membership, Organization

User = get_user_model()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug", "memberships__user__email")
    date_hierarchy = "created_at"
    inlines = [MembershipInline]


class AuditedAdmin(admin.ModelAdmin):
    """Changes an operator makes here are recorded in the organization's audit log."""

    audit_actions = {"add": "", "change": "", "delete": ""}

    def save_model(self, request, obj, form, change):
        before = {f: form.initial.get(f) for f in form.changed_data} if change else {}
        super().save_model(request, obj, form, change)
        if form.changed_data:
            after = {f: form.cleaned_data.get(f) for f in form.changed_data}
            audit_record(
                organization_id=obj.organization_id,
                actor=request.user,
                target=obj,
                action=self.audit_actions["change" if change else "add"],
                changes=diff(before, {f: getattr(v, "pk", v) for f, v in after.items()}),
            )

    def delete_model(self, request, obj):
        audit_record(
            organization_id=obj.organization_id, actor=request.user, target=obj, action=self.audit_actions["delete"]
        )
        super().delete_model(request, obj)


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    audit_actions = {"add": "member.join", "change": "member.role", "delete": "member.remove"}
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "user__username", "organization__name", "organization__slug")
    raw_id_fields = ("user", "organization")
    list_select_related = ("user", "organization")


class ActiveFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expiring", "Has an expiry")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expiring":
            return queryset.filter(expires_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    audit_actions = {"add": "key.create", "change": "key.update", "delete": "key.delete"}
    # The secret is never stored; only its hash, which is not shown either.
    list_display = (
        "name",
        "prefix",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "rpm_limit",
        "tpm_limit",
    )
    list_filter = (ActiveFilter, "created_at", "last_used_at")
    search_fields = ("name", "prefix", "organization__name", "organization__slug", "created_by__email")
    exclude = ("secret_hash",)
    readonly_fields = ("prefix", "created_at", "last_used_at")
    raw_id_fields = ("organization", "created_by")
    list_select_related = ("organization", "created_by")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # a key is created where its secret can be shown: the keys page or the API


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "invited_by", "created_at", "expires_at", "accepted_at")
    list_filter = ("role", "accepted_at")
    search_fields = ("email", "organization__name")
    exclude = ("token_hash",)
    readonly_fields = ("created_at", "accepted_at", "accepted_by")
    raw_id_fields = ("organization", "invited_by")

    def has_add_permission(self, request):
        return False  # the token goes out by email from the members page


@admin.register(ManagementToken)
class ManagementTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "organization", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__email", "organization__name")
    exclude = ("token_hash",)
    readonly_fields = ("prefix", "created_at", "last_used_at")
    raw_id_fields = ("organization", "user")

    def has_add_permission(self, request):
        return False


class MembershipOfUserInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("organization",)
    verbose_name_plural = "organizations"


# The user admin, with the user's organizations and a search by organization.
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    inlines = [MembershipOfUserInline]
    list_display = ("email", "username", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("email", "username", "first_name", "last_name", "memberships__organization__name")
    ordering = ("-date_joined",)
