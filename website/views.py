"""The public site: the product page, pricing with its calculator, one page per model, the docs
and the OpenAPI document. Server-rendered from the catalog in the database."""

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import calculator, openapi, selectors


def _base_url(request) -> str:
    return request.build_absolute_uri("/v1").rstrip("/")


@require_GET
def home(request):
    snap = selectors.snapshot()
    cards = selectors.route_cards(snap)
    code = next((c for c in cards if c.name == "auto-code"), None)
    return render(
        request,
        "website/home.html",
        {
            "cards": cards,
            "code_card": code,
            "table": selectors.example_cost_table(snap),
            "chains": selectors.fallback_chains(snap),
            "model_count": len(snap.models),
            "provider_count": len({m.provider.slug for m in snap.models.values()}),
            "route_count": len(snap.routes),
            "markup": selectors.markup_percent(),
            "base_url": _base_url(request),
        },
    )


def _calculation(request, snap):
    routes = list(snap.routes)
    if "requests" in request.GET:
        form = calculator.CalculatorForm(request.GET, routes=routes)
    else:
        form = calculator.CalculatorForm(calculator.initial(routes), routes=routes)
    result = None
    if form.is_valid():
        result = calculator.estimate(
            snap,
            requests=form.cleaned_data["requests"],
            input_tokens=form.cleaned_data["input_tokens"],
            output_tokens=form.cleaned_data["output_tokens"],
            mix=form.mix(),
        )
    return form, result


@require_GET
def pricing(request):
    snap = selectors.snapshot()
    form, result = _calculation(request, snap)
    return render(
        request,
        "website/pricing.html",
        {
            "rows": selectors.model_rows(snap),
            "markup": selectors.markup_percent(),
            "form": form,
            "result": result,
            "cards": selectors.route_cards(snap),
        },
    )


@require_GET
def pricing_estimate(request):
    """The calculator's results alone, for the pricing page's script."""
    snap = selectors.snapshot()
    form, result = _calculation(request, snap)
    return render(request, "website/_estimate.html", {"form": form, "result": result})


def price_history_of(public_id: str) -> list:
    from routing.models import CatalogModel
    from routing.selectors import price_history

    model = CatalogModel.objects.filter(public_id=public_id).first()
    return price_history(model) if model is not None else []


@require_GET
def model_detail(request, provider: str, model: str):
    snap = selectors.snapshot()
    m = snap.models.get(f"{provider}/{model}")
    if m is None:
        raise Http404("No such model")
    chain = [f for f in snap.fallbacks.get(m.provider.slug, ()) if f.public_id != m.public_id]
    return render(
        request,
        "website/model.html",
        {
            "row": selectors.model_row(m, selectors.markup_bp()),
            "routes": selectors.routes_using(snap, m),
            "chain": chain,
            "markup": selectors.markup_percent(),
            "base_url": _base_url(request),
            "history": price_history_of(m.public_id),
        },
    )


@require_GET
def docs(request):
    snap = selectors.snapshot()
    return render(
        request,
        "website/docs.html",
        {
            "base_url": _base_url(request),
            "cards": selectors.route_cards(snap),
            "headers": openapi.RESPONSE_HEADERS,
            "request_headers": openapi.REQUEST_HEADERS,
            "parameters": openapi.PARAMETERS,
            "errors": openapi.ERRORS,
            "markup": selectors.markup_percent(),
            "limits": openapi.limits(),
            "max_attempts": settings.AIPOWER_MAX_ATTEMPTS,
            "cache_mark_readers": selectors.cache_mark_readers(snap),
        },
    )


@require_GET
def openapi_document(request):
    snap = selectors.snapshot()
    return JsonResponse(openapi.document(_base_url(request), snap), json_dumps_params={"indent": 2})
