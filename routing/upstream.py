"""Where upstream calls go: one pooled HTTP client per process, provider credentials from the
environment, and the provider simulator standing in for every provider when no keys are set."""

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from . import pool
from .adapters.base import Target
from .catalog import ModelInfo, Snapshot

# The provider simulator's per-request controls (simulator/__init__.py lists them). A caller's
# headers reach an upstream only here, and only these, and only when the simulator serves.
SIM_HEADER_PREFIX = "x-sim-"

# One pool of upstream connections per process (routing/pool.py).
get_client = pool.get_client
close_clients = pool.close


def _any_provider_key_set(credential_envs) -> bool:
    return any(os.environ.get(name) for name in credential_envs)


_sim_decision: dict[int, bool] = {}


def simulating(snapshot: Snapshot) -> bool:
    mode = settings.AIPOWER_SIMULATE_PROVIDERS
    if mode != "auto":
        return mode == "1"
    key = id(snapshot)
    decided = _sim_decision.get(key)
    if decided is None:
        _sim_decision.clear()
        decided = _sim_decision[key] = not _any_provider_key_set(
            {m.provider.credential_env for m in snapshot.models.values()}
        )
    return decided


def simulated_providers_banner() -> str:
    """The notice shown on every page (and at start-up) while the simulator serves providers."""
    mode = settings.AIPOWER_SIMULATE_PROVIDERS
    if mode == "0":
        return ""
    if mode == "auto":
        from .models import Provider

        if _any_provider_key_set(Provider.objects.values_list("credential_env", flat=True)):
            return ""
    return (
        f"No provider keys are set: every provider is served by the local provider simulator at "
        f"{settings.AIPOWER_SIMULATOR_URL}. Answers are simulated."
    )


def simulator_controls(headers: Mapping[str, str]) -> dict[str, str]:
    """The simulator's controls among a request's headers (x-sim-*), with lower-case names."""
    return {k.lower(): v for k, v in headers.items() if k[:6].lower() == SIM_HEADER_PREFIX}


def target_for(model: ModelInfo, snapshot: Snapshot, request_headers: Mapping[str, str], *, stream: bool) -> Target:
    """Where and how to call `model` for a request with `request_headers` (the caller's own): a
    simulated provider is sent the simulator's controls among them; a real one, none of them."""
    p = model.provider
    s = settings
    first_byte = p.first_byte_timeout_s or s.AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT
    idle = p.idle_timeout_s or s.AIPOWER_UPSTREAM_IDLE_TIMEOUT
    timeouts: dict[str, Any] = {
        "connect_timeout": p.connect_timeout_s or s.AIPOWER_UPSTREAM_CONNECT_TIMEOUT,
        # httpx's read timeout bounds every wait for bytes, the first ones included; the gateway
        # itself holds a stream to its first-token and idle limits (routing/gateway.py).
        "read_timeout": max(first_byte, idle) if stream else first_byte,
        "first_byte_timeout": first_byte,
        "idle_timeout": idle,
        "total_timeout": p.total_timeout_s or s.AIPOWER_UPSTREAM_TOTAL_TIMEOUT,
    }
    if simulating(snapshot):
        base = f"{s.AIPOWER_SIMULATOR_URL.rstrip('/')}/p/{p.slug}{urlsplit(p.base_url).path.rstrip('/')}"
        return Target(
            model=model,
            base_url=base,
            api_key="simulated",
            extra_headers=simulator_controls(request_headers),
            **timeouts,
        )
    return Target(model=model, base_url=p.base_url, api_key=os.environ.get(p.credential_env), **timeouts)
