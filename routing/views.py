from django.http import HttpResponse
from django.shortcuts import render

from . import gateway
from .errors import GatewayError


def _method_not_allowed(request, allowed: str) -> HttpResponse:
    err = GatewayError(405, f"Method {request.method} is not allowed on {request.path}; use {allowed}.",
                       "invalid_request_error", code="method_not_allowed")
    resp = gateway.error_response(err)
    resp["allow"] = allowed
    return resp


async def chat_completions(request):
    if request.method != "POST":
        return _method_not_allowed(request, "POST")
    return await gateway.chat_completions(request)


async def list_models(request):
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    return await gateway.list_models(request)


def home(request):
    from .models import Route

    routes = Route.objects.filter(enabled=True).prefetch_related("targets__model").order_by("id")
    return render(request, "home.html", {"routes": routes})
