"""Price versions and price syncs. Prices are integer micro-USD per one million tokens.

The price fields on CatalogModel are the price in force; every change to them is also a
PriceVersion (its history). A version may take effect later: until then it waits, and the
catalog snapshot of every gateway process switches to it at its effective time.
"""

from django.db import models

from .catalog import PRICE_FIELDS, prices_of

__all__ = ["PRICE_FIELDS", "PriceChange", "PriceSyncRun", "PriceVersion"]


class PriceVersion(models.Model):
    class Source(models.TextChoices):
        ADMIN = "admin", "edited in admin"
        SYNC = "sync", "price sync"
        SEED = "seed", "seed catalog"

    model = models.ForeignKey("routing.CatalogModel", on_delete=models.CASCADE, related_name="price_versions")
    effective_at = models.DateTimeField(db_index=True, help_text="from this moment on, requests are billed at it")
    input_price_usd_micro_per_mtok = models.PositiveBigIntegerField()
    cached_input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    cache_write_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    cache_write_1h_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    output_price_usd_micro_per_mtok = models.PositiveBigIntegerField()
    long_prompt_threshold_tokens = models.PositiveIntegerField(null=True, blank=True)  # tokens; None: no tier
    long_input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    long_cached_input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    long_cache_write_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    long_output_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    created_by = models.CharField(max_length=200, blank=True, help_text="who: a user, or the sync's source")
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Copied to the model's price fields (it is, or was, in force). False: scheduled, not yet in force.
    applied = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["model", "-effective_at", "-id"]
        indexes = [models.Index(fields=["model", "effective_at"], name="price_version_model_time")]

    def __str__(self):
        return f"{self.model_id} @ {self.effective_at:%Y-%m-%d %H:%M}"

    def prices(self) -> dict:
        return prices_of(self)


class PriceSyncRun(models.Model):
    """One run of a price sync against one source: what it found, changed, held, and why it failed."""

    format = models.CharField(max_length=20)
    url = models.CharField(max_length=500)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    trigger = models.CharField(max_length=40, blank=True, help_text="schedule, command, ...")
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="why the run changed nothing (fetch or payload failure)")
    entries = models.PositiveIntegerField(default=0, help_text="entries the source listed")
    applied = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    proposed = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list, blank=True, help_text="one line per model")

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "price sync run"

    def __str__(self):
        return f"{self.format} sync {self.started_at:%Y-%m-%d %H:%M}"


class PriceChange(models.Model):
    """A change a sync applied, held for an operator, or a new model it proposes."""

    class Kind(models.TextChoices):
        UPDATE = "update", "update of a catalog model"
        NEW_MODEL = "new_model", "new model proposed"

    class Status(models.TextChoices):
        APPLIED = "applied", "applied by the sync"
        HELD = "held", "held for review"
        APPROVED = "approved", "approved by an operator"
        REJECTED = "rejected", "rejected by an operator"
        SUPERSEDED = "superseded", "superseded by a later sync"
        PROPOSED = "proposed", "proposed (new model)"

    run = models.ForeignKey(PriceSyncRun, on_delete=models.CASCADE, related_name="changes")
    model = models.ForeignKey(
        "routing.CatalogModel", null=True, blank=True, on_delete=models.CASCADE, related_name="price_changes"
    )
    provider = models.ForeignKey("routing.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.UPDATE)
    status = models.CharField(max_length=12, choices=Status.choices, db_index=True)
    source_id = models.CharField(max_length=200, help_text="the entry's id in the source")
    fields = models.JSONField(default=dict, help_text="{field: [old, new]}; prices in micro-USD per 1M tokens")
    reason = models.CharField(max_length=500, blank=True)
    decided_by = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "price change"

    def __str__(self):
        return f"{self.get_kind_display()}: {self.model or self.source_id} ({self.status})"
