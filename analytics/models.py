from django.db import models

from accounts.scoping import OrganizationScopedManager


class UsageRecord(models.Model):
    """One row per gateway request, however it ended. Money in integer nano-USD (1e-9 USD)."""

    class Status(models.TextChoices):
        OK = "ok"
        CLIENT_ERROR = "client_error"
        UPSTREAM_ERROR = "upstream_error"
        CLIENT_DISCONNECTED = "client_disconnected"
        STREAM_INTERRUPTED = "stream_interrupted"
        GATEWAY_ERROR = "gateway_error"  # a failure of the gateway itself (a bug, its database away)

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("accounts.ApiKey", null=True, on_delete=models.SET_NULL, related_name="+")
    request_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(db_index=True)
    requested_model = models.CharField(max_length=160)
    route = models.CharField(max_length=40, blank=True)
    served_model = models.CharField(max_length=160, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    attempt_log = models.JSONField(default=list, blank=True)
    stream = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)  # every write, the 1-hour ones included
    cache_write_1h_tokens = models.PositiveIntegerField(default=0)  # of those, written for one hour
    reasoning_tokens = models.PositiveIntegerField(default=0)
    # True when the upstream reported no usage and the gateway counted the tokens itself.
    usage_estimated = models.BooleanField(default=False)
    upstream_cost_nusd = models.BigIntegerField(default=0)
    charged_nusd = models.BigIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True)
    status = models.CharField(max_length=24, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField(default=200)
    error_type = models.CharField(max_length=60, blank=True)
    # The price this request was billed at (micro-USD per 1M tokens), so later edits change nothing.
    input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True)
    output_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True)
    cached_input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True)
    cache_write_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True)
    cache_write_1h_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True)
    markup_bp = models.PositiveIntegerField(default=0, help_text="basis points")
    # Why the route chose what it did (the x-aipower-route-reason header), and for `auto` the
    # prompt's estimated difficulty (0-1) and the tier it picked.
    route_difficulty = models.FloatField(null=True, blank=True)
    route_tier = models.CharField(max_length=10, blank=True)
    route_reason = models.CharField(max_length=200, blank=True)

    # Tenant-owned: queried inside an organization's scope only (accounts.scoping). The gateway's
    # recorder only inserts (bulk_create), which needs no scope; rollups and retention, which read
    # every organization's rows, run with scopes_disabled().
    objects: models.Manager["UsageRecord"] = OrganizationScopedManager()

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self):
        return f"{self.request_id} {self.status} (org {self.organization_id})"


# Fixed histogram buckets, upper bounds in milliseconds (the last bucket takes everything above).
# Counts per bucket add up across hours, keys and models, so any grouping still gives percentiles.
LATENCY_BOUNDS_MS = (
    25,
    50,
    100,
    150,
    200,
    300,
    400,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    4000,
    6000,
    8000,
    12000,
    20000,
    40000,
    90000,
)
N_BUCKETS = len(LATENCY_BOUNDS_MS) + 1
LAT_FIELDS = tuple(f"lat_{i}" for i in range(N_BUCKETS))
TTFT_FIELDS = tuple(f"ttft_{i}" for i in range(N_BUCKETS))


class UsageRollup(models.Model):
    """Usage of one hour (period "h") or one UTC day ("d") for one organization x API key x route x
    served model x provider x status. Derived data: hours add up usage rows as they are counted
    (each once), days are rebuilt from hours at will. Money in nano-USD."""

    class Period(models.TextChoices):
        HOUR = "h"
        DAY = "d"

    period = models.CharField(max_length=1, choices=Period.choices)
    bucket_start = models.DateTimeField()
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    # A plain id, not a foreign key: rollups outlive the rows they came from.
    api_key_id = models.BigIntegerField(null=True)
    route = models.CharField(max_length=40, blank=True)
    served_model = models.CharField(max_length=160, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=24)
    requests = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    # Of those, written for one hour (rolled up from 2026-12-03 on; 0 in older rollups).
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    upstream_cost_nusd = models.BigIntegerField(default=0)
    charged_nusd = models.BigIntegerField(default=0)
    fallbacks = models.BigIntegerField(default=0, help_text="requests that took more than one attempt")
    latency_sum_ms = models.BigIntegerField(default=0)
    ttft_count = models.BigIntegerField(default=0, help_text="requests with a first token")
    # {error class: count}, e.g. {"upstream_unavailable": 3, "timeout": 1}
    errors = models.JSONField(default=dict, blank=True)
    for _f in LAT_FIELDS + TTFT_FIELDS:
        locals()[_f] = models.BigIntegerField(default=0)
    del _f

    objects: models.Manager["UsageRollup"] = OrganizationScopedManager()

    class Meta:
        indexes = [models.Index(fields=["organization", "period", "bucket_start"])]

    def __str__(self):
        return f"{self.period} {self.bucket_start:%Y-%m-%d %H:00} org {self.organization_id} {self.route or '-'}"


class RollupState(models.Model):
    """One row: how far the rollups have got. The hourly rollups count exactly the usage rows with
    an id up to `last_usage_id` and a time before `rolled_through` (analytics/rollups.py); every
    usage row with an id up to `last_usage_id` is committed, none is still being written."""

    rolled_through = models.DateTimeField(null=True)
    last_usage_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"rolled through {self.rolled_through}, usage rows up to id {self.last_usage_id}"
