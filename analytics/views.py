"""The analytics dashboard, the request log, a request's detail and CSV exports: for every member
of an organization (viewers included), always of the member's current organization only."""

import csv
import time

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import ApiKey
from accounts.scoping import organization_scope
from accounts.tenancy import member_required
from routing.catalog import load_snapshot as _load_snapshot
from routing.costs import usd_text

from .forms import UsageQueryForm
from .models import UsageRecord
from .selectors import (
    PINNED,
    UsageReader,
    fold,
    markup_bp_of,
    request_log,
    request_of,
    savings_rows,
    series,
    table_rows,
    total_of,
    usage_table,
)

_catalog: list = []  # [snapshot]: the pages only need names and prices, re-read every half minute


def load_snapshot():
    if not _catalog or time.monotonic() - _catalog[0].loaded_at > CATALOG_SECONDS:
        _catalog[:] = [_load_snapshot()]
    return _catalog[0]


CATALOG_SECONDS = 30
TABLES = {"route": "Route", "model": "Model", "key": "API key", "provider": "Provider"}
LOG_PAGE = 50


def _query(request):
    """(form, range, filters) of the URL's query; (form, None, None) when it is not valid."""
    form = UsageQueryForm(request.GET or None, organization_id=request.membership.organization_id)
    if not request.GET:
        form = UsageQueryForm({"range": "24h"}, organization_id=request.membership.organization_id)
    if not form.is_valid():
        return form, None, None
    return form, form.time_range(), form.filters()


def _key_names(org_id: int) -> dict:
    return {k.pk: f"{k.name} ({k.prefix}…)" for k in ApiKey.objects.filter(organization_id=org_id)}


def _options(org_id: int, snapshot) -> dict:
    return {
        "keys": sorted(_key_names(org_id).items(), key=lambda kv: kv[1].lower()),
        "routes": [*sorted(snapshot.routes), PINNED],
        "models": sorted(snapshot.models),
        "providers": sorted({m.provider.slug for m in snapshot.models.values()}),
    }


def default_baseline(snapshot):
    """The premium choice: auto-best's first model (else the dearest model in the catalog)."""
    route = snapshot.routes.get("auto-best")
    if route is not None and route.targets:
        return route.targets[0]
    return max(
        snapshot.models.values(),
        key=lambda m: m.input_price_usd_micro_per_mtok + m.output_price_usd_micro_per_mtok,
        default=None,
    )


def _label(group, by: str, keys: dict) -> str:
    if by == "key":
        return keys.get(group, "(deleted key)" if group else "(no key)")
    if by == "route":
        return group or PINNED
    return group or "(none)"


@member_required
def dashboard(request):
    org_id = request.membership.organization_id
    snapshot = load_snapshot()
    form, rng, filters = _query(request)
    premium = default_baseline(snapshot)
    context = {
        "form": form,
        "options": _options(org_id, snapshot),
        "default_baseline_name": premium.public_id if premium else "",
    }
    if rng is None:
        return render(request, "analytics/dashboard.html", context, status=400)
    stack = "model" if request.GET.get("stack") == "model" else "route"
    baseline_id = request.GET.get("baseline") or ""
    baseline = snapshot.models.get(baseline_id) if baseline_id else default_baseline(snapshot)
    if baseline is None and baseline_id:
        form.add_error(None, f"No model named {baseline_id!r} in the catalog to compare with.")
        return render(request, "analytics/dashboard.html", context, status=400)
    keys = _key_names(org_id)
    # Two queries: by time and route (or model), and by route, model and key; the rest folds.
    reader = UsageReader(org_id, rng, filters)
    by_time_stack = reader.groups(("time", stack))
    by_rmk = reader.groups(("route", "model", "key"))
    groups = {
        "time": fold(by_time_stack, (0,)),
        "route": fold(by_rmk, (0,)),
        "model": fold(by_rmk, (1,)),
        "key": fold(by_rmk, (2,)),
    }
    tables = {}
    for by in ("route", "model", "key"):
        rows = table_rows(groups[by])
        for r in rows:
            r["label"] = _label(r["group"], by, keys)
            r["filter_value"] = r["group"] if by != "route" else (r["group"] or PINNED)
        tables[by] = rows
    log, next_cursor = request_log(org_id, rng, filters, limit=20)
    params = form.query_params()
    context.update(
        rng=rng,
        params=params,
        query=urlencode(params),
        stack=stack,
        totals=total_of(groups["time"]),
        chart=series(rng, groups["time"], by_time_stack),
        baseline=baseline,
        tables_list=[
            ("route", "route", tables["route"]),
            ("model", "model", tables["model"]),
            ("API key", "key", tables["key"]),
        ],
        savings=savings_rows(groups["route"], baseline, markup_bp=markup_bp_of(org_id)) if baseline else [],
        log=log,
        more_log=next_cursor is not None,
        key_names=keys,
    )
    return render(request, "analytics/dashboard.html", context)


@member_required
def requests_page(request):
    org_id = request.membership.organization_id
    form, rng, filters = _query(request)
    context = {"form": form, "options": _options(org_id, load_snapshot())}
    if rng is None:
        return render(request, "analytics/requests.html", context, status=400)
    rows, next_cursor = request_log(org_id, rng, filters, cursor=request.GET.get("after"), limit=LOG_PAGE)
    params = form.query_params()
    context.update(
        rows=rows,
        key_names=_key_names(org_id),
        params=params,
        query=urlencode(params),
        next_url=(
            reverse("analytics:requests") + "?" + urlencode({**params, "after": next_cursor}) if next_cursor else None
        ),
    )
    return render(request, "analytics/requests.html", context)


# The routing policy's account of a choice, when the usage row carries it (fields added to the row
# by the routing work; whichever of these names exist are shown, older rows simply have none).
ROUTING_FIELDS = (
    ("Reason", ("routing_reason", "reason")),
    ("Difficulty", ("routing_difficulty", "difficulty")),
    ("Tier", ("routing_tier", "tier")),
)


def routing_facts(row) -> list[tuple[str, object]]:
    facts = []
    for label, names in ROUTING_FIELDS:
        value = next((getattr(row, n) for n in names if getattr(row, n, None) not in (None, "")), None)
        if value is not None:
            facts.append((label, value))
    return facts


@member_required
def request_detail(request, request_id: str):
    row = request_of(request.membership.organization_id, request_id)
    if row is None:
        raise Http404("No such request in this organization.")
    keys = _key_names(row.organization_id)
    return render(
        request,
        "analytics/request_detail.html",
        {
            "row": row,
            "key_name": keys.get(row.api_key_id, "(no key)"),
            "prices": [
                ("Input", row.input_price_usd_micro_per_mtok),
                ("Output", row.output_price_usd_micro_per_mtok),
                ("Cached input", row.cached_input_price_usd_micro_per_mtok),
                ("Cache write", row.cache_write_price_usd_micro_per_mtok),
                ("1-hour cache write", row.cache_write_1h_price_usd_micro_per_mtok),
            ],
            "routing": routing_facts(row),
        },
    )


# --- CSV --------------------------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


def _take(rows, n: int, org_id: int) -> list:
    # The response streams after the view has returned, outside the page's tenant scope: each
    # chunk is read inside the organization's own.
    out = []
    with organization_scope(org_id):
        for row in rows:
            out.append(row)
            if len(out) >= n:
                break
    return out


async def _csv_chunks(rows, org_id: int):
    """The rows as CSV text, read in chunks on Django's database thread: the ASGI server streams
    them without buffering the whole export."""
    from asgiref.sync import sync_to_async

    writer = csv.writer(_Echo())
    take = sync_to_async(_take, thread_sensitive=True)
    while chunk := await take(rows, 2000, org_id):
        yield "".join(writer.writerow(r) for r in chunk)


TABLE_COLUMNS = [
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "errors",
    "fallbacks",
    "latency_p50_ms",
    "latency_p95_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
]
LOG_COLUMNS = [
    "created_at",
    "request_id",
    "api_key",
    "requested_model",
    "route",
    "served_model",
    "provider",
    "status",
    "http_status",
    "error_type",
    "attempts",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "upstream_cost_usd",
    "charged_usd",
    "latency_ms",
    "ttft_ms",
]


def table_csv_rows(org_id: int, rng, filters, by: str):
    keys = _key_names(org_id)
    yield [TABLES[by].lower(), *TABLE_COLUMNS, "upstream_cost_usd", "charged_usd", "avg_charged_usd", "error_rate"]
    for r in usage_table(org_id, rng, filters, by):
        yield [
            _label(r["group"], by, keys),
            *[("" if r[c] is None else r[c]) for c in TABLE_COLUMNS],
            usd_text(r["upstream_cost_nusd"]),
            usd_text(r["charged_nusd"]),
            usd_text(r["avg_charged_nusd"]),
            f"{r['error_rate']:.4f}",
        ]


def log_csv_rows(org_id: int, rng, filters):
    keys = _key_names(org_id)
    yield LOG_COLUMNS
    qs = UsageRecord.objects.filter(
        filters.q(), organization_id=org_id, created_at__gte=rng.start, created_at__lt=rng.end
    ).order_by("-created_at", "-pk")
    for r in qs.iterator(chunk_size=2000):
        yield [
            r.created_at.isoformat(),
            r.request_id,
            keys.get(r.api_key_id, ""),
            r.requested_model,
            r.route,
            r.served_model,
            r.provider,
            r.status,
            r.http_status,
            r.error_type,
            r.attempts,
            int(r.stream),
            r.prompt_tokens,
            r.completion_tokens,
            r.cached_tokens,
            r.cache_write_tokens,
            r.cache_write_1h_tokens,
            r.reasoning_tokens,
            usd_text(r.upstream_cost_nusd),
            usd_text(r.charged_nusd),
            r.latency_ms,
            "" if r.ttft_ms is None else r.ttft_ms,
        ]


@member_required
def export_csv(request):
    org_id = request.membership.organization_id
    form, rng, filters = _query(request)
    what = request.GET.get("table", "requests")
    if rng is None or (what not in TABLES and what != "requests"):
        errors = (
            "; ".join(e for errs in form.errors.values() for e in errs)
            if rng is None
            else f"Unknown table {what!r}: one of {', '.join([*TABLES, 'requests'])}."
        )
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    rows = log_csv_rows(org_id, rng, filters) if what == "requests" else table_csv_rows(org_id, rng, filters, what)
    name = f"aipower-{what}-{rng.start:%Y%m%d%H}-{rng.end:%Y%m%d%H}.csv"
    return StreamingHttpResponse(
        _csv_chunks(rows, org_id),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
