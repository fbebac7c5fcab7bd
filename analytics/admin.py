from django.contrib import admin

from .models import UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "organization",
        "requested_model",
        "served_model",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "charged_nusd",
        "latency_ms",
    )
    list_filter = ("status", "provider", "stream")
    search_fields = ("request_id", "requested_model", "served_model")
    date_hierarchy = "created_at"
