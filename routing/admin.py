from django.contrib import admin
from django.urls import path

from .admin_forms import CatalogModelForm, ModelChoiceByName, usd_per_m
from .health_admin import provider_health
from .models import CatalogModel, FallbackTarget, Provider, Route, RouteTarget
from .price_admin import PriceVersioningMixin


class ModelByNameMixin:
    """Inline rows pick their model by display name and public id."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "model":
            kwargs["form_class"] = ModelChoiceByName
            kwargs.setdefault("queryset", CatalogModel.objects.order_by("display_name"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class FallbackTargetInline(ModelByNameMixin, admin.TabularInline):
    model = FallbackTarget
    extra = 1
    ordering = ("position",)
    verbose_name = "fallback model"
    verbose_name_plural = "Fallback chain (tried in order when this provider's models fail)"


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    inlines = [FallbackTargetInline]
    list_display = ("slug", "name", "wire_format", "base_url", "credential_env", "enabled")
    list_filter = ("wire_format", "enabled")
    search_fields = ("slug", "name")
    change_list_template = "admin/routing/change_list_with_health.html"

    def get_urls(self):
        # Before the defaults, whose "<object_id>/" would take "health/".
        health = path("health/", self.admin_site.admin_view(self.health_view), name="routing_provider_health")
        return [health, *super().get_urls()]

    def health_view(self, request):
        return provider_health(request, self)


@admin.register(CatalogModel)
class CatalogModelAdmin(PriceVersioningMixin, admin.ModelAdmin):
    form = CatalogModelForm
    list_display = (
        "public_id",
        "display_name",
        "provider",
        "input_price",
        "output_price",
        "context_window",
        "quality_overall",
        "quality_coding",
        "supports_tools",
        "supports_vision",
        "supports_pdf_input",
        "supports_audio_input",
        "supports_json_mode",
        "enabled",
    )
    list_filter = (
        "provider",
        "enabled",
        "supports_tools",
        "supports_vision",
        "supports_pdf_input",
        "supports_audio_input",
        "supports_json_mode",
        "price_pinned",
    )
    search_fields = ("public_id", "upstream_id", "display_name")
    change_list_template = "admin/routing/change_list_with_health.html"

    @admin.display(description="Input $ / 1M tokens", ordering="input_price_usd_micro_per_mtok")
    def input_price(self, obj):
        return usd_per_m(obj.input_price_usd_micro_per_mtok)

    @admin.display(description="Output $ / 1M tokens", ordering="output_price_usd_micro_per_mtok")
    def output_price(self, obj):
        return usd_per_m(obj.output_price_usd_micro_per_mtok)


class RouteTargetInline(ModelByNameMixin, admin.TabularInline):
    model = RouteTarget
    extra = 1
    ordering = ("position",)


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ("name", "goal", "policy", "enabled")
    inlines = [RouteTargetInline]
