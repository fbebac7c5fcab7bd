"""/try: the free trial for anonymous visitors. The page posts to /try/chat (CSRF-protected); the
call runs through the gateway's own request path with the site's trial key, which never leaves the
server, and the answer streams back as server-sent events: text deltas, then the model that ran,
tokens, cost and latency. Limits: trial_limits.py."""

import hashlib
import hmac
import secrets
import time

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponseNotAllowed, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from accounts.scoping import scopes_disabled
from billing.pricing import cost_of, format_usd
from routing import gateway
from routing.api_types import ApiRequest, ApiResponse
from routing.catalog import get_snapshot, load_snapshot

from . import trial_limits

COOKIE = "aip_trial"
SALT = "aipower.trial"
ORG_NAME = "AIPower free trial"
# The house organization's slug. Customers' slugs come from slugify(), which strips a leading
# underscore, so no customer organization can hold this one, whatever it is named.
ORG_SLUG = "_aipower-free-trial"
MAX_PROMPT_CHARS = 2000
HOUSE_MIN_NUSD = 5 * 10**9  # the trial organization is topped up below $5 ...
HOUSE_TOP_UP_NUSD = 20 * 10**9  # ... by $20 of house credit


def _trial_raw_key() -> str:
    """The trial key, derived from SECRET_KEY: every web process knows it, nothing stores it."""
    from accounts import keys

    n = int.from_bytes(hmac.new(settings.SECRET_KEY.encode(), b"aipower free trial key", hashlib.sha256).digest())
    body = []
    for _ in range(keys._BODY_LEN):
        n, r = divmod(n, 62)
        body.append(keys._ALPHABET[r])
    text = "".join(body)
    return keys.KEY_PREFIX + text + keys._checksum(text)


_ensured = {"until": 0.0, "org": None}


@scopes_disabled()  # the house organization's own key and credit, kept by the site itself
def ensure_trial_key() -> tuple[str, int]:
    """The trial key and its organization, created on first use; the organization's house credit
    is topped up when low (checked at most once a minute per process)."""
    from accounts.keys import DISPLAY_PREFIX_LEN, hash_key
    from accounts.models import ApiKey, Organization
    from billing.models import CreditAccount, LedgerEntry
    from billing.services import ledger_post

    raw = _trial_raw_key()
    if _ensured["until"] > time.monotonic():
        return raw, _ensured["org"]
    # Several processes may get here at once on a fresh site: both lookups are get_or_create on a
    # unique column, so the loser of a race reads the winner's row instead of failing.
    key = ApiKey.objects.filter(secret_hash=hash_key(raw)).select_related("organization").first()
    if key is not None:
        org = key.organization
    else:
        org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": ORG_NAME})
        ApiKey.objects.get_or_create(
            secret_hash=hash_key(raw),
            defaults={"organization": org, "name": "Free trial on the public site", "prefix": raw[:DISPLAY_PREFIX_LEN]},
        )
    # A top-up is numbered by the grants counted before the balance is read: processes that find
    # the balance low at the same moment post the same grant, which the ledger takes once (one
    # that counts after another's grant committed reads the topped-up balance too).
    grants = LedgerEntry.objects.filter(organization=org, kind=LedgerEntry.Kind.GRANT).count()
    balance = CreditAccount.objects.filter(organization=org).values_list("balance_nusd", flat=True).first() or 0
    if balance < HOUSE_MIN_NUSD:
        ledger_post(
            organization_id=org.pk,
            kind=LedgerEntry.Kind.GRANT,
            amount_nusd=HOUSE_TOP_UP_NUSD,
            note="House credit for the public free trial",
            grant_key=f"free-trial:{org.pk}:{grants + 1}",
        )
    _ensured.update(until=time.monotonic() + 60, org=org.pk)
    return raw, org.pk


def _browser_id(request) -> tuple[str, bool]:
    """This browser's trial id from its signed cookie, or a new one (True: set the cookie)."""
    value = request.get_signed_cookie(COOKIE, default=None, salt=SALT)
    if value:
        return value, False
    return secrets.token_urlsafe(16), True


def _set_cookie(response, browser_id: str) -> None:
    response.set_signed_cookie(
        COOKIE,
        browser_id,
        salt=SALT,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def _routes(snapshot) -> list:
    return [r for r in snapshot.routes.values() if r.targets]


@ensure_csrf_cookie
def try_page(request):
    snap = load_snapshot()
    browser_id, new = _browser_id(request)
    response = render(request, "website/try.html", _context(request, snap, browser_id))
    if new:
        _set_cookie(response, browser_id)
    return response


def _context(request, snap, browser_id: str, **extra) -> dict:
    from asgiref.sync import async_to_sync

    used = extra.pop("used", None)
    if used is None:
        used = async_to_sync(trial_limits.used)(browser_id)
    return {
        "routes": _routes(snap),
        "calls": settings.AIPOWER_TRIAL_CALLS,
        "left": max(0, settings.AIPOWER_TRIAL_CALLS - used),
        "max_tokens": settings.AIPOWER_TRIAL_MAX_TOKENS,
        "max_prompt": MAX_PROMPT_CHARS,
        "selected": extra.pop("route", "auto"),
        **extra,
    }


def _refusal(message: str, status: int, code: str):
    return JsonResponse(
        {
            "error": {
                "message": message,
                "type": "trial_limit" if status == 429 else "invalid_request_error",
                "param": None,
                "code": code,
            }
        },
        status=status,
    )


def _client_ip(request) -> str:
    """The visitor's address as the sign-in limits see it: behind TRUSTED_PROXY_COUNT proxies, from
    X-Forwarded-For (otherwise every visitor would share the proxy's two calls)."""
    from allauth.account.adapter import get_adapter

    try:
        return get_adapter(request).get_client_ip(request)
    except Exception:  # no usable address: all such visitors share one count
        return "unknown"


def _sse(event: dict) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


async def _relay(resp, started: float, snapshot, markup_bp: int, admitted: trial_limits.Admitted):
    """The gateway's stream as the page's events: {"type": "delta"}, then "done" or "error"."""
    model = None
    usage = None
    ttft = None
    text_seen = False
    try:
        async for frame in resp.chunks:
            if not frame.startswith(b"data: "):
                continue
            data = frame[6:].strip()
            if data == b"[DONE]":
                break
            chunk = orjson.loads(data)
            if "error" in chunk:
                if not text_seen:
                    await trial_limits.refund(admitted)
                yield _sse({"type": "error", "message": chunk["error"].get("message", "The upstream failed.")})
                return
            model = chunk.get("model") or model
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    if ttft is None:
                        ttft = time.perf_counter()
                    text_seen = True
                    yield _sse({"type": "delta", "text": text})
    finally:
        await resp.chunks.aclose()
    yield _sse(_summary(model, usage, started, ttft, snapshot, markup_bp))


def _summary(model_id, usage, started, ttft, snapshot, markup_bp) -> dict:
    m = snapshot.models.get(model_id) if model_id else None
    usage = usage or {}
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0) or 0
    cost = 0
    if m is not None:
        cost = cost_of(
            prompt_tokens=prompt,
            cached_tokens=cached,
            completion_tokens=completion,
            input_price_usd_micro_per_mtok=m.input_price_usd_micro_per_mtok,
            output_price_usd_micro_per_mtok=m.output_price_usd_micro_per_mtok,
            cached_input_price_usd_micro_per_mtok=m.cached_input_price_usd_micro_per_mtok,
            markup_bp=markup_bp,
        ).charged_nusd
    return {
        "type": "done",
        "model": model_id,
        "model_name": m.display_name if m else model_id,
        "provider": m.provider.name if m else "",
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost": format_usd(cost),
        "cost_nusd": cost,
        "latency_ms": int((time.perf_counter() - started) * 1000),
        "ttft_ms": None if ttft is None else int((ttft - started) * 1000),
    }


async def try_chat(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    snapshot = await get_snapshot()
    route = request.POST.get("route", "")
    prompt = request.POST.get("prompt", "").strip()
    wants_stream = "text/event-stream" in request.headers.get("accept", "")
    routes = {r.name for r in _routes(snapshot)}
    problem = None
    if route not in routes:
        problem = "Pick one of the routing modes."
    elif not prompt:
        problem = "Type a prompt first."
    elif len(prompt) > MAX_PROMPT_CHARS:
        problem = f"Keep the prompt under {MAX_PROMPT_CHARS} characters for the free trial."
    browser_id, new = _browser_id(request)
    if problem:
        return await _answer(
            request,
            wants_stream,
            browser_id,
            new,
            snapshot,
            route,
            prompt,
            error=problem,
            status=400,
            code="invalid_value",
        )
    ip = _client_ip(request)
    admitted = await trial_limits.admit(browser_id, ip)
    if isinstance(admitted, str):
        return await _answer(
            request,
            wants_stream,
            browser_id,
            new,
            snapshot,
            route,
            prompt,
            error=admitted,
            status=429,
            code="trial_limit_reached",
            signup=True,
        )
    raw, org_id = await sync_to_async(ensure_trial_key, thread_sensitive=False)()
    from billing.reservations import markup_bp_for

    markup_bp = await markup_bp_for(org_id)
    body = {
        "model": route,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": settings.AIPOWER_TRIAL_MAX_TOKENS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    resp = await gateway.chat_completions(
        ApiRequest(
            "POST",
            "/v1/chat/completions",
            {"authorization": f"Bearer {raw}", "content-type": "application/json", **_sim_headers(request)},
            orjson.dumps(body),
        )
    )
    if isinstance(resp, ApiResponse):
        await trial_limits.refund(admitted)
        message = orjson.loads(resp.body).get("error", {}).get("message", "The call failed.")
        return await _answer(
            request,
            wants_stream,
            browser_id,
            new,
            snapshot,
            route,
            prompt,
            error=f"That call failed and was not counted: {message}",
            status=502,
            code="upstream_unavailable",
        )
    events = _relay(resp, started, snapshot, markup_bp, admitted)
    if wants_stream:
        out = StreamingHttpResponse(events, content_type="text/event-stream")
        out["Cache-Control"] = "no-cache"
        out["X-Accel-Buffering"] = "no"
        if new:
            _set_cookie(out, browser_id)
        return out
    # Without JavaScript: the whole answer, on the page.
    text, summary, error = [], None, None
    async for frame in events:
        event = orjson.loads(frame[6:])
        if event["type"] == "delta":
            text.append(event["text"])
        elif event["type"] == "done":
            summary = event
        else:
            error = event["message"]
    return await _answer(
        request,
        False,
        browser_id,
        new,
        snapshot,
        route,
        prompt,
        answer="".join(text),
        summary=summary,
        error=error,
        status=200 if error is None else 502,
        code=None,
    )


def _sim_headers(request) -> dict:
    """The provider simulator's controls (x-sim-*); the gateway uses them only while it serves."""
    from routing.upstream import simulator_controls

    return simulator_controls(request.headers)


async def _answer(
    request,
    wants_stream,
    browser_id,
    new,
    snapshot,
    route,
    prompt,
    *,
    error=None,
    status=200,
    code=None,
    signup=False,
    answer=None,
    summary=None,
):
    if wants_stream:
        response = _refusal(error, status, code)
    else:
        used = await trial_limits.used(browser_id)
        context = _context(
            request,
            snapshot,
            browser_id,
            used=used,
            route=route,
            prompt=prompt,
            error=error,
            signup=signup,
            answer=answer,
            summary=summary,
        )
        # Rendering reads the database (the signed-in user, the header's banner): in a thread.
        response = await sync_to_async(render)(request, "website/try.html", context, status=status)
    if new:
        _set_cookie(response, browser_id)
    return response
