from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

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


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
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
class ApiKeyAdmin(admin.ModelAdmin):
    # The secret is never stored; only its hash, which is not shown either.
    list_display = ("name", "prefix", "organization", "created_by", "created_at", "last_used_at", "expires_at",
                    "revoked_at", "rpm_limit", "tpm_limit")
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
