"""The management API's usage endpoints: totals and groups for a range (the dashboard's numbers),
and the request log, of the caller's organization only. Money: integer nano-USD fields (`*_nusd`)
and the same amounts as exact decimal USD strings (`*_usd`)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.views import OrganizationScoped
from routing.costs import usd_text

from . import metrics
from .forms import UsageQueryForm
from .selectors import PINNED, request_log, total_of, usage_groups, usage_totals

GROUP_BY = {
    "day": ("time", "day"),
    "hour": ("time", "hour"),
    "route": ("route", None),
    "model": ("model", None),
    "key": ("key", None),
    "provider": ("provider", None),
}
MONEY = ("upstream_cost_nusd", "charged_nusd", "avg_charged_nusd")

QUERY_PARAMS = [
    OpenApiParameter(
        "range", str, enum=["24h", "7d", "30d", "custom"], description="default 24h (to the current hour)"
    ),
    OpenApiParameter("start", str, description="custom range: first day, YYYY-MM-DD (UTC)"),
    OpenApiParameter("end", str, description="custom range: last day, inclusive"),
    OpenApiParameter("key", int, description="an API key id of the organization"),
    OpenApiParameter("route", str, description=f"a route, or {PINNED} for requests that named a model"),
    OpenApiParameter("model", str, description="the served model, provider/model"),
    OpenApiParameter("provider", str),
    OpenApiParameter(
        "status", str, enum=["ok", "client_error", "upstream_error", "client_disconnected", "stream_interrupted"]
    ),
]

_figures: dict[str, serializers.Field] = {
    **{
        f: serializers.IntegerField()
        for f in (
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "reasoning_tokens",
            "total_tokens",
            "errors",
            "fallbacks",
        )
    },
    **{f: serializers.IntegerField() for f in MONEY},
    **{f.replace("_nusd", "_usd"): serializers.CharField() for f in MONEY},
    "error_rate": serializers.FloatField(),
    "fallback_rate": serializers.FloatField(),
    **{
        f"{m}_{p}_ms": serializers.IntegerField(allow_null=True)
        for m in ("latency", "ttft")
        for p in ("p50", "p95", "p99")
    },
}
Figures = inline_serializer("UsageFigures", _figures)
UsageResponse = inline_serializer(
    "Usage",
    {
        "start": serializers.DateTimeField(),
        "end": serializers.DateTimeField(),
        "group_by": serializers.CharField(allow_null=True),
        "totals": Figures,
        "groups": inline_serializer(
            "UsageGroup", {"group": serializers.CharField(allow_null=True), **_figures}, many=True
        ),
    },
)
REQUEST_FIELDS: dict[str, serializers.Field] = {
    "request_id": serializers.CharField(),
    "created_at": serializers.DateTimeField(),
    "api_key_id": serializers.IntegerField(allow_null=True),
    "requested_model": serializers.CharField(),
    "route": serializers.CharField(),
    "served_model": serializers.CharField(),
    "provider": serializers.CharField(),
    "status": serializers.CharField(),
    "http_status": serializers.IntegerField(),
    "error_type": serializers.CharField(),
    "attempts": serializers.IntegerField(),
    "attempt_log": serializers.ListField(child=serializers.DictField()),
    "stream": serializers.BooleanField(),
    "prompt_tokens": serializers.IntegerField(),
    "completion_tokens": serializers.IntegerField(),
    "cached_tokens": serializers.IntegerField(),
    "cache_write_tokens": serializers.IntegerField(),
    "cache_write_1h_tokens": serializers.IntegerField(),
    "reasoning_tokens": serializers.IntegerField(),
    "upstream_cost_nusd": serializers.IntegerField(),
    "charged_nusd": serializers.IntegerField(),
    "latency_ms": serializers.IntegerField(),
    "ttft_ms": serializers.IntegerField(allow_null=True),
}
RequestsResponse = inline_serializer(
    "UsageRequests",
    {
        "data": inline_serializer(
            "UsageRequest", {**REQUEST_FIELDS, "charged_usd": serializers.CharField()}, many=True
        ),
        "next": serializers.CharField(allow_null=True),
    },
)


def _with_usd(figures: dict) -> dict:
    for f in MONEY:
        figures[f.replace("_nusd", "_usd")] = usd_text(figures[f])
    return figures


class _UsageQuery(OrganizationScoped):
    def query(self, request):
        org_id = self.membership.organization_id
        form = UsageQueryForm(request.query_params or {"range": "24h"}, organization_id=org_id)
        if not form.is_valid():
            raise ValidationError({k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})
        return org_id, form.time_range(), form.filters()


@extend_schema(tags=["usage"])
class UsageView(_UsageQuery, APIView):
    """Usage of the organization for a range: totals and, with group_by, one entry per day, hour,
    route, model, key or provider (the dashboard's numbers)."""

    @extend_schema(
        parameters=[*QUERY_PARAMS, OpenApiParameter("group_by", str, enum=list(GROUP_BY))], responses=UsageResponse
    )
    def get(self, request):
        org_id, rng, filters = self.query(request)
        group_by = request.query_params.get("group_by") or None
        if group_by is not None and group_by not in GROUP_BY:
            raise ValidationError({"group_by": [f"One of {', '.join(GROUP_BY)}."]})
        groups = []
        if not group_by:
            totals = _with_usd(usage_totals(org_id, rng, filters))
        else:
            dim, unit = GROUP_BY[group_by]
            found = usage_groups(org_id, rng, filters, (dim,), unit=unit)
            totals = _with_usd(total_of(found))
            for (value,), m in sorted(found.items(), key=lambda kv: (kv[0][0] is None, str(kv[0][0]))):
                if dim == "route" and value == "":
                    value = PINNED
                groups.append(
                    {
                        "group": value.isoformat() if hasattr(value, "isoformat") else value,
                        **_with_usd(metrics.summary(m)),
                    }
                )
        return Response({"start": rng.start, "end": rng.end, "group_by": group_by, "totals": totals, "groups": groups})


@extend_schema(tags=["usage"])
class UsageRequestsView(_UsageQuery, APIView):
    """The organization's requests, newest first; pass `next` back as `after` for the next page."""

    @extend_schema(
        parameters=[
            *QUERY_PARAMS,
            OpenApiParameter("after", str, description="the previous page's next"),
            OpenApiParameter("limit", int, description="1..200, default 50"),
        ],
        responses=RequestsResponse,
    )
    def get(self, request):
        org_id, rng, filters = self.query(request)
        try:
            limit = int(request.query_params.get("limit", 50))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 200:
            raise ValidationError({"limit": ["A whole number from 1 to 200."]})
        rows, next_cursor = request_log(org_id, rng, filters, cursor=request.query_params.get("after"), limit=limit)
        data = [{f: getattr(r, f) for f in REQUEST_FIELDS} | {"charged_usd": usd_text(r.charged_nusd)} for r in rows]
        return Response({"data": data, "next": next_cursor})
