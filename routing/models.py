from django.db import models

from accounts.scoping import OrganizationScopedManager


class WireFormat(models.TextChoices):
    OPENAI = "openai", "OpenAI chat completions"
    ANTHROPIC = "anthropic", "Anthropic Messages"
    GEMINI = "gemini", "Google Gemini"


class Provider(models.Model):
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    wire_format = models.CharField(max_length=20, choices=WireFormat.choices, default=WireFormat.OPENAI)
    base_url = models.URLField(help_text="The vendor's API base, e.g. https://api.deepseek.com/v1")
    credential_env = models.CharField(
        max_length=80,
        help_text="Name of the environment variable that holds this provider's API key. "
        "The key itself is never stored in the database.",
    )
    enabled = models.BooleanField(default=True)
    # Timeouts in seconds; empty means the gateway-wide default (AIPOWER_UPSTREAM_*_TIMEOUT).
    connect_timeout_s = models.FloatField(null=True, blank=True, help_text="seconds to connect")
    first_byte_timeout_s = models.FloatField(
        null=True, blank=True, help_text="seconds until the answer starts (streams: until the first token)"
    )
    idle_timeout_s = models.FloatField(null=True, blank=True, help_text="longest pause between stream chunks, seconds")
    total_timeout_s = models.FloatField(null=True, blank=True, help_text="seconds for a whole attempt")
    # Vendor differences as data (see routing/adapters/openai_compat.py for the keys understood).
    quirks = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return self.name


class CatalogModel(models.Model):
    """One upstream model. Prices are integer micro-USD per one million tokens."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    upstream_id = models.CharField(max_length=120, help_text="The id the vendor's API expects.")
    public_id = models.CharField(max_length=160, unique=True, help_text="provider/model, as callers name it")
    display_name = models.CharField(max_length=120)
    input_price_usd_micro_per_mtok = models.PositiveBigIntegerField()
    output_price_usd_micro_per_mtok = models.PositiveBigIntegerField()
    cached_input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(null=True, blank=True)
    cache_write_price_usd_micro_per_mtok = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="input tokens written to the vendor's prompt cache; empty: the input price"
    )
    cache_write_1h_price_usd_micro_per_mtok = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="input tokens written to the prompt cache for one hour (Anthropic's ttl 1h); empty: the model "
        "is sent 1-hour cache marks as 5-minute ones",
    )
    # A long-prompt tier (billing/pricing.py): a request whose prompt has more tokens than the
    # threshold is billed, output included, at the long prices; an empty long price is the normal one.
    long_prompt_threshold_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="tokens; a request with a longer prompt (cached and cache-written tokens included) is billed "
        "entirely at the long-prompt prices below; empty: the same prices at any length",
    )
    long_input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="above the threshold; empty: the input price"
    )
    long_cached_input_price_usd_micro_per_mtok = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="above the threshold; empty: the cached-input price"
    )
    long_cache_write_price_usd_micro_per_mtok = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="above the threshold; empty: the cache-write price"
    )
    long_output_price_usd_micro_per_mtok = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="above the threshold; empty: the output price"
    )
    price_source = models.CharField(max_length=300, blank=True, help_text="Where the list price was read.")
    context_window = models.PositiveIntegerField(help_text="tokens")
    max_output_tokens = models.PositiveIntegerField(help_text="tokens")
    supports_streaming = models.BooleanField(default=True)
    supports_tools = models.BooleanField(default=True)
    supports_vision = models.BooleanField(default=False)
    supports_pdf_input = models.BooleanField(
        default=False, help_text="takes PDF documents (file content parts) in its chat API"
    )
    supports_audio_input = models.BooleanField(
        default=False, help_text="takes audio (input_audio content parts) in its chat API"
    )
    supports_json_mode = models.BooleanField(default=True)
    quirks = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # Quality ranks for auto-best / auto-code (0-100, higher is better; empty: unranked), with
    # where each was read, as for prices.
    quality_overall = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0-100, higher is better")
    quality_coding = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0-100, higher is better")
    quality_source = models.CharField(max_length=300, blank=True, help_text="Where the quality ranks were read.")
    typical_output_tokens = models.PositiveIntegerField(
        default=500, help_text="tokens; the expected answer length when a request sets no max_tokens (auto-cheap)"
    )
    # Price sync (routing/pricesync): where each public price list names this model, and a pin.
    price_pinned = models.BooleanField(default=False, help_text="A price sync never changes this model.")
    litellm_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="Key in LiteLLM's price map; empty: the upstream id, when the entry's provider is this model's.",
    )
    openrouter_id = models.CharField(
        max_length=200, blank=True, help_text="id in OpenRouter's model list; empty: <provider>/<upstream id>."
    )
    # Embedding models serve /v1/embeddings only (context_window: tokens per input).
    kind = models.CharField(max_length=20, choices=[("chat", "chat"), ("embedding", "embedding")], default="chat")
    dimensions = models.PositiveIntegerField(null=True, blank=True, help_text="embeddings: output dimension")
    max_batch_inputs = models.PositiveIntegerField(
        null=True, blank=True, help_text="embeddings: inputs per request at most"
    )

    class Meta:
        verbose_name = "model"
        constraints = [models.UniqueConstraint(fields=["provider", "upstream_id"], name="one_upstream_id_per_provider")]

    def __str__(self):
        return self.public_id


class Route(models.Model):
    """A virtual model (auto, auto-cheap, ...): a pool of targets and a policy that orders the
    pool for each request (routing/policy.py)."""

    class Policy(models.TextChoices):
        ORDERED = "ordered", "As listed"
        CHEAPEST = "cheapest", "Cheapest for the request's estimated tokens"
        FASTEST = "fastest", "Lowest measured time to first token"
        FREE = "free", "Zero or near-zero price"
        BEST = "best", "Highest overall quality rank"
        CODE = "code", "Highest coding quality rank"
        TIERED = "tiered", "Prompt-aware: a tier by estimated difficulty"

    name = models.SlugField(max_length=40, unique=True)
    goal = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    policy = models.CharField(max_length=20, choices=Policy.choices, default=Policy.ORDERED)
    premium_threshold = models.FloatField(
        default=0.5,
        help_text="tiered: a difficulty (0-1) at or above this goes to the premium tier "
        "(or the code tier for code), at the default quality trade-off of 0.5",
    )
    default_quality = models.FloatField(
        default=0.5,
        help_text="tiered: the quality trade-off (0 cheapest - 1 best) when neither the key nor the request sets one",
    )
    price_cap_usd_micro_per_mtok = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="free: the most a capable model may cost, input + output per 1M tokens"
    )

    def __str__(self):
        return self.name


class RouteTarget(models.Model):
    class Tier(models.TextChoices):
        ANY = "", "-"
        ECONOMY = "economy", "Economy"
        PREMIUM = "premium", "Premium"
        CODE = "code", "Code"

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="targets")
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    tier = models.CharField(
        max_length=10,
        choices=Tier.choices,
        blank=True,
        default="",
        help_text="tiered routes: the tier this target belongs to",
    )

    class Meta:
        ordering = ["route", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["route", "model"], name="one_target_per_model")]

    def __str__(self):
        return f"{self.route.name} #{self.position}: {self.model.display_name}"


class FallbackTarget(models.Model):
    """One step of a provider family's fallback chain: when a model of `provider` fails, try
    `model` (in `position` order). A route's own targets are tried first."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="fallbacks")
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["provider", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="one_fallback_per_model")]

    def __str__(self):
        return f"{self.provider.slug} #{self.position}: {self.model.display_name}"


class StoredResponse(models.Model):
    """A /v1/responses answer kept (store=true) for GET, DELETE and previous_response_id: the
    answer as returned, and the whole conversation up to it in chat-completions messages. Always
    read through its organization; gone after AIPOWER_RESPONSES_TTL_SECONDS."""

    response_id = models.CharField(max_length=64, unique=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    api_key_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    response = models.JSONField()  # the Response object
    messages = models.JSONField()  # the conversation, this answer included (chat-completions messages)

    objects: models.Manager["StoredResponse"] = OrganizationScopedManager()

    def __str__(self):
        return self.response_id


from .price_models import PriceChange, PriceSyncRun, PriceVersion  # noqa: E402,F401  (registered with the app)
