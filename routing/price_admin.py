"""Admin for prices: every price edit is a version, scheduled changes, sync runs and the
changes a sync held or proposed (approve / reject)."""

from typing import ClassVar

from django.contrib import admin, messages
from django.db import IntegrityError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .price_models import PRICE_FIELDS, PriceChange, PriceSyncRun, PriceVersion
from .prices import price_version_create, price_versions_apply_due
from .pricesync.review import ReviewError, change_approve, change_reject
from .selectors import price_history


class PriceVersioningMixin:
    """For CatalogModelAdmin: a price edited on the model is a new version in force now."""

    readonly_fields: ClassVar[list[str] | tuple[str, ...] | tuple[()]] = ("price_history",)

    @admin.display(description="Price history")
    def price_history(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return render_to_string(
            "routing/_price_history.html",
            {
                "history": price_history(obj),
                "schedule_url": (reverse("admin:routing_priceversion_add") + f"?model={obj.pk}"),
            },
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        price_versions_apply_due()  # show (and edit) the price in force, even where no beat runs
        return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        price_versions_apply_due()
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or any(f in form.changed_data for f in PRICE_FIELDS):
            price_version_create(
                model=obj,
                prices={f: getattr(obj, f) for f in PRICE_FIELDS},
                source=PriceVersion.Source.ADMIN,
                created_by=request.user.get_username(),
                note="edited on the model",
            )


@admin.register(PriceVersion)
class PriceVersionAdmin(admin.ModelAdmin):
    """Versions are history: added (to schedule a change, or correct one now), never edited or deleted."""

    list_display = (
        "model",
        "effective_at",
        "input_price_usd_micro_per_mtok",
        "cached_input_price_usd_micro_per_mtok",
        "cache_write_price_usd_micro_per_mtok",
        "cache_write_1h_price_usd_micro_per_mtok",
        "output_price_usd_micro_per_mtok",
        "source",
        "created_by",
        "applied",
    )
    list_filter = ("source", "applied")
    search_fields = ("model__public_id",)
    fields = ("model", "effective_at", *PRICE_FIELDS, "note")
    autocomplete_fields = ("model",)

    def get_changeform_initial_data(self, request):
        return {"effective_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        version = price_version_create(
            model=obj.model,
            prices={f: getattr(obj, f) for f in PRICE_FIELDS},
            source=PriceVersion.Source.ADMIN,
            created_by=request.user.get_username(),
            note=obj.note,
            effective_at=obj.effective_at,
        )
        obj.pk = version.pk


class PriceChangeInline(admin.TabularInline):
    model = PriceChange
    fields = ("model", "kind", "status", "source_id", "fields", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class SyncRecordAdmin(admin.ModelAdmin):
    """What syncs did is a record: shown, never added, edited or deleted by hand."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PriceSyncRun)
class PriceSyncRunAdmin(SyncRecordAdmin):
    list_display = (
        "started_at",
        "format",
        "url",
        "trigger",
        "dry_run",
        "ok",
        "entries",
        "applied",
        "held",
        "proposed",
        "error",
    )
    list_filter = ("format", "ok", "dry_run")
    inlines = [PriceChangeInline]


@admin.register(PriceChange)
class PriceChangeAdmin(SyncRecordAdmin):
    list_display = ("created_at", "kind", "model", "source_id", "status", "fields", "reason", "decided_by")
    list_filter = ("status", "kind")
    search_fields = ("source_id", "model__public_id")
    actions = ["approve", "reject"]

    def _decide(self, request, queryset, decide, verb):
        done = 0
        for change in queryset:
            try:
                decide(change_id=change.pk, by=request.user.get_username())
                done += 1
            except (ReviewError, IntegrityError) as exc:
                self.message_user(request, f"{change}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} change(s).", messages.SUCCESS)

    @admin.action(description="Approve: apply the held change / add the proposed model (disabled)")
    def approve(self, request, queryset):
        self._decide(request, queryset, change_approve, "Approved")

    @admin.action(description="Reject: keep the catalog as it is")
    def reject(self, request, queryset):
        self._decide(request, queryset, change_reject, "Rejected")
