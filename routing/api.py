"""The catalog's public part of the management API: a model's price history."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import CatalogModel
from .selectors import price_history


class PricePointSerializer(serializers.Serializer):
    effective_at = serializers.DateTimeField(allow_null=True, help_text="null: before prices were versioned")
    input_price_usd_micro_per_mtok = serializers.IntegerField(help_text="micro-USD per 1M input tokens")
    cached_input_price_usd_micro_per_mtok = serializers.IntegerField(
        allow_null=True, help_text="micro-USD per 1M cached input tokens; null: the input price"
    )
    cache_write_price_usd_micro_per_mtok = serializers.IntegerField(
        allow_null=True, help_text="micro-USD per 1M input tokens written to the cache; null: the input price"
    )
    cache_write_1h_price_usd_micro_per_mtok = serializers.IntegerField(
        allow_null=True,
        help_text="micro-USD per 1M input tokens written to the cache for one hour; null: no 1-hour caching "
        "(1-hour cache marks are sent as 5-minute ones)",
    )
    output_price_usd_micro_per_mtok = serializers.IntegerField(help_text="micro-USD per 1M output tokens")
    long_prompt_threshold_tokens = serializers.IntegerField(
        allow_null=True,
        help_text="tokens: a request whose prompt has more is billed entirely at the long_* prices; null: no "
        "long-prompt prices",
    )
    long_input_price_usd_micro_per_mtok = serializers.IntegerField(
        allow_null=True, help_text="above the threshold; null: the input price"
    )
    long_cached_input_price_usd_micro_per_mtok = serializers.IntegerField(
        allow_null=True, help_text="above the threshold; null: the cached-input price"
    )
    long_cache_write_price_usd_micro_per_mtok = serializers.IntegerField(
        allow_null=True, help_text="above the threshold; null: the cache-write price"
    )
    long_output_price_usd_micro_per_mtok = serializers.IntegerField(
        allow_null=True, help_text="above the threshold; null: the output price"
    )
    # A field named like Field.source, which the stubs type as an attribute; DRF takes it as a field.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="admin, sync, seed, or catalog (a price with no version yet)"
    )
    state = serializers.CharField(help_text="scheduled, in force or past")


class PriceHistorySerializer(serializers.Serializer):
    model = serializers.CharField()
    prices = PricePointSerializer(many=True)


class ModelPriceHistory(APIView):
    """A catalog model's prices over time, newest first (scheduled changes included). Public."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["catalog"], responses=PriceHistorySerializer)
    def get(self, request, provider: str, model: str):
        m = get_object_or_404(CatalogModel, public_id=f"{provider}/{model}", enabled=True, provider__enabled=True)
        return Response(PriceHistorySerializer({"model": m.public_id, "prices": price_history(m)}).data)
