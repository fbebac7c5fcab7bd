"""The provider health page in Django admin: every provider's and model's circuit breaker, and how
their recent upstream attempts went.

Two read-only sources:
- the breakers (routing/health.py). With REDIS_URL they live in Redis and the page sees what every
  gateway process sees. Without it (the embedded default) each gateway process keeps its own, and
  the page can show only the breakers of the process serving it: all of them under `make run`'s one
  process, none of another process's.
- the usage rows' attempt logs over the last RECENT minutes, recorded in either mode.
"""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics.models import UsageRecord

# The breakers' storage is health.py's; this module only reads it.
from .health import CLOSED, HALF_OPEN, OPEN, Counters, local_breakers, model_key, provider_key, shared_breakers
from .models import CatalogModel, Provider

RECENT = timedelta(minutes=15)


@dataclass(frozen=True)
class Breaker:
    """One breaker as the gateway sees it now. The window counts are the breaker's own: requests
    and failures since the window started (AIPOWER_BREAKER_WINDOW_SECONDS), zero once it has passed."""

    state: str = CLOSED
    open_until: float | None = None  # epoch seconds; in the past while half-open
    consecutive: int = 0  # failures in a row (back to 0 when the breaker opens)
    window_total: int = 0
    window_failures: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.window_failures / self.window_total if self.window_total else None


def _breaker(
    *,
    open_until: float | None,
    consecutive: int,
    window_start: float,
    window_total: int,
    window_failures: int,
    now: float,
) -> Breaker:
    if now - window_start > settings.AIPOWER_BREAKER_WINDOW_SECONDS:
        window_total = window_failures = 0  # the gateway starts a new window at its next write
    if open_until is None:
        state = CLOSED
    else:
        state = OPEN if open_until > now else HALF_OPEN
    return Breaker(
        state=state,
        open_until=open_until,
        consecutive=consecutive,
        window_total=window_total,
        window_failures=window_failures,
    )


def breakers_from_redis(redis_url: str, keys: list[str], *, now: float) -> dict[str, Breaker]:
    """The shared breakers (one round trip). Raises redis.RedisError when Redis cannot be read."""
    return _breakers(*shared_breakers(redis_url, keys), now=now)


def breakers_of_this_process(keys: list[str], *, now: float) -> dict[str, Breaker]:
    """The breakers kept by this process (no Redis): the gateway's own when it serves the page."""
    return _breakers(*local_breakers(keys), now=now)


def _breakers(open_until: dict[str, float], counters: dict[str, Counters], *, now: float) -> dict[str, Breaker]:
    return {
        key: _breaker(
            open_until=open_until.get(key),
            consecutive=c.consecutive,
            window_start=c.window_start,
            window_total=c.window_total,
            window_failures=c.window_failures,
            now=now,
        )
        for key, c in counters.items()
    }


@dataclass
class Attempts:
    """Upstream attempts over the recent period, from the usage rows' attempt logs."""

    ok: int = 0
    errors: int = 0
    skipped: int = 0  # candidates passed over because a breaker was open
    error_classes: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.ok + self.errors

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.total if self.total else None

    def add(self, status: str, error: str | None, n: int) -> None:
        if status == "ok":
            self.ok += n
        elif status == "skipped":
            self.skipped += n
        else:
            self.errors += n
            self.error_classes[error or "unknown"] += n

    def merge(self, other: "Attempts") -> None:
        self.ok += other.ok
        self.errors += other.errors
        self.skipped += other.skipped
        self.error_classes.update(other.error_classes)

    def top_errors(self, n: int = 3) -> str:
        return ", ".join(f"{label} ×{count}" for label, count in self.error_classes.most_common(n))


# One row per (model, provider, status, error) of every attempt logged since the given time.
_ATTEMPTS_SQL = {
    "postgresql": """
        SELECT a->>'model', a->>'provider', a->>'status', a->>'error', count(*)
        FROM {table} u CROSS JOIN LATERAL jsonb_array_elements(u.{log}) AS a
        WHERE u.{created} >= %s AND jsonb_typeof(u.{log}) = 'array'
        GROUP BY 1, 2, 3, 4""",
    "sqlite": """
        SELECT json_extract(a.value, '$.model'), json_extract(a.value, '$.provider'),
               json_extract(a.value, '$.status'), json_extract(a.value, '$.error'), count(*)
        FROM {table} u, json_each(u.{log}) AS a
        WHERE u.{created} >= %s AND json_type(u.{log}) = 'array'
        GROUP BY 1, 2, 3, 4""",
}


def recent_attempts(*, since: datetime) -> dict[str, tuple[str | None, Attempts]]:
    """model public id -> (provider slug as logged, or None for skipped candidates; attempts)."""
    meta = UsageRecord._meta
    q = connection.ops.quote_name
    sql = _ATTEMPTS_SQL[connection.vendor].format(  # concrete fields: their columns are set
        table=q(meta.db_table),
        log=q(cast(str, meta.get_field("attempt_log").column)),
        created=q(cast(str, meta.get_field("created_at").column)),
    )
    out: dict[str, tuple[str | None, Attempts]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(since)])
        for model, provider, status, error, n in cursor.fetchall():
            if not model:
                continue
            logged, attempts = out.setdefault(model, (None, Attempts()))
            attempts.add(status, error, n)
            if provider and not logged:
                out[model] = (provider, attempts)
    return out


def _clock(epoch: float) -> str:
    return timezone.localtime(datetime.fromtimestamp(epoch, tz=UTC)).strftime("%H:%M:%S")


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _state_text(b: Breaker, now: float) -> str:
    if b.state == OPEN:
        assert b.open_until is not None  # an open breaker has its reopening time
        return f"open until {_clock(b.open_until)} (in {b.open_until - now:.0f} s)"
    if b.state == HALF_OPEN:
        return "half-open (the next request probes it)"
    return "closed"


@dataclass
class Row:
    key: str  # the breaker's key: p:<slug> or m:<public id>
    label: str
    name: str
    enabled: bool
    breaker: Breaker
    recent: Attempts
    state_text: str

    @property
    def window_rate(self) -> str:
        return _percent(self.breaker.error_rate)

    @property
    def recent_rate(self) -> str:
        return _percent(self.recent.error_rate)


def health_overview(*, now: float | None = None) -> dict:
    """What the page shows: provider rows, model rows, and where the breakers were read."""
    now = time.time() if now is None else now
    providers = list(Provider.objects.order_by("slug"))
    models = list(CatalogModel.objects.select_related("provider").order_by("public_id"))
    keys = [provider_key(p.slug) for p in providers] + [model_key(m.public_id) for m in models]

    redis_error = ""
    if settings.REDIS_URL:
        import redis

        try:
            breakers = breakers_from_redis(settings.REDIS_URL, keys, now=now)
        except redis.RedisError as exc:
            breakers, redis_error = {}, f"{type(exc).__name__}: {exc}"
    else:
        breakers = breakers_of_this_process(keys, now=now)

    attempts = recent_attempts(since=timezone.now() - RECENT)
    model_provider = {m.public_id: m.provider.slug for m in models}
    per_provider: dict[str, Attempts] = {}
    for model, (logged, a) in attempts.items():
        slug = logged or model_provider.get(model) or model.partition("/")[0]
        per_provider.setdefault(slug, Attempts()).merge(a)

    def row(key, label, name, enabled, recent):
        b = breakers.get(key, Breaker())
        return Row(
            key=key,
            label=label,
            name=name,
            enabled=enabled,
            breaker=b,
            recent=recent or Attempts(),
            state_text=_state_text(b, now),
        )

    provider_rows = [row(provider_key(p.slug), p.slug, p.name, p.enabled, per_provider.get(p.slug)) for p in providers]
    model_rows = [
        row(
            model_key(m.public_id),
            m.public_id,
            m.display_name,
            m.enabled and m.provider.enabled,
            attempts.get(m.public_id, (None, None))[1],
        )
        for m in models
    ]
    return {
        "providers": provider_rows,
        "models": model_rows,
        "not_closed": [r for r in provider_rows + model_rows if r.breaker.state != CLOSED],
        "shared": bool(settings.REDIS_URL),
        "redis_error": redis_error,
        "now": now,
    }


def provider_health(request, model_admin):
    """The admin view (staff only, through admin_site.admin_view; and the provider view permission)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    overview = health_overview()
    s = settings
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Provider health",
        "subtitle": None,
        "recent_minutes": int(RECENT.total_seconds() // 60),
        "as_of": _clock(overview["now"]),
        "sections": [("Providers", "Provider", overview["providers"]), ("Models", "Model", overview["models"])],
        "rule": (
            f"A breaker opens after {s.AIPOWER_BREAKER_CONSECUTIVE_FAILURES} failures in a row, or when "
            f"{s.AIPOWER_BREAKER_FAILURE_RATIO:.0%} of at least {s.AIPOWER_BREAKER_MIN_REQUESTS} requests "
            f"in a {s.AIPOWER_BREAKER_WINDOW_SECONDS:g} s window fail, for "
            f"{s.AIPOWER_BREAKER_COOLDOWN_SECONDS:g} s (or the upstream's Retry-After)."
        ),
        **overview,
    }
    return TemplateResponse(request, "admin/provider_health.html", context)
