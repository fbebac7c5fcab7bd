"""The two failover phases (issue 4): what a failed attempt costs, and what a candidate skipped for
an open circuit breaker costs.

- Failover: route `auto` with deepseek answering 503 at once (qwen serves attempt 2) vs the same
  route served by deepseek on attempt 1.
- Skipped candidate: deepseek's provider breaker opened in the run's Redis; the candidate list
  deepseek, qwen (the body's `model` and `models`: the gateway passes deepseek over without calling
  it, qwen serves attempt 1) vs the list qwen alone (`model` qwen, `models` [qwen]), with the
  simulator's request counts showing that deepseek was not called. Both sides take the same path
  through the router (a pinned model and the caller's list, no route policy, no fallback chains),
  so the difference is the skipped candidate and nothing else.

Each returns its phase record (for the JSON) and the raw series (for the check); a check whose
preconditions did not hold (served by another provider, the skipped one called) is "not measured",
with the reason, rather than passed.
"""

import asyncio
import time
from functools import partial

import aiohttp

from . import load
from .report import Check, at_most, error_note, not_measured, percentile_diff_ms, summary_ms

ROUTE = "auto"  # deepseek/deepseek-chat -> qwen/qwen-plus -> openai/gpt-4o-mini
FIRST, SECOND, SECOND_MODEL = "deepseek", "qwen", "qwen/qwen-plus"  # its first two candidates
FIRST_MODEL = "deepseek/deepseek-chat"
# The skipped-candidate check's two candidate lists, as (model, models) of the request body: only
# the first candidate, whose breaker is open, differs.
SKIP_LIST = (FIRST_MODEL, [SECOND_MODEL])
SKIP_BASELINE = (SECOND_MODEL, [SECOND_MODEL])
FAULT = f"{FIRST}=status:503"
ADDED_P50_MS = 3.0
# Below the circuit breaker's and the retry budget's thresholds (AIPOWER_BREAKER_*: 5 failures
# between the 0.25 s success syncs, or half of 20+ requests in 30 s; AIPOWER_RETRY_BUDGET: 20%).
EVERY, GAP_S = 10, 0.1

# The breaker state as routing/health.py keeps it: a zset, member = breaker key ("p:<provider slug>"
# or "m:<model public id>"), score = open until (epoch seconds). Every gateway process re-reads it
# every AIPOWER_BREAKER_SYNC_SECONDS (0.25 s) once it has served a request.
OPEN_SET = "aip:cb:open"
SKIP_KEY = "p:" + FIRST  # the first candidate's provider breaker is opened
SKIP_OPEN_S = 3600
PICKUP_S = 0.6  # more than two sync periods
SKIP_ADDED_P50_MS = 0.3

_with_headers = partial(load.request, keep_headers=True)


def served(replies) -> dict:
    """How many replies were served by how many attempts and which provider (the gateway's headers)."""
    out = {}
    for r in replies:
        if not r.ok:
            key = r.error or "error"
        else:
            h = {k.lower(): v for k, v in (r.headers or {}).items()}
            n = h.get("x-aipower-attempts", "?")
            key = f"{n} attempt{'' if n == '1' else 's'}, {h.get('x-aipower-provider', '?')}"
        out[key] = out.get(key, 0) + 1
    return out


def _seconds(replies) -> list:
    return [r.seconds for r in replies if r.ok]


# --- failover: a failed attempt ------------------------------------------------------------------


async def _failover_series(s, normal_ep, failover_ep, n: int) -> tuple[list, list]:
    """n failover requests, each after EVERY - 1 normal ones, at least GAP_S apart."""
    normal, fo = [], []
    loop = asyncio.get_running_loop()
    for _ in range(n):
        t = loop.time()
        for _ in range(EVERY - 1):
            normal.append(await _with_headers(s, normal_ep))
        fo.append(await _with_headers(s, failover_ep))
        rest = GAP_S - (loop.time() - t)
        if rest > 0:
            await asyncio.sleep(rest)
    return normal, fo


async def failover_phase(s, normal_ep, failover_ep, n: int, warmup: int) -> tuple[dict, tuple]:
    """The failing requests are spread out (one in EVERY, at most one per GAP_S) so that neither the
    circuit breaker nor the retry budget steps in: what is measured is the cost of one failed attempt."""
    await _failover_series(s, normal_ep, failover_ep, warmup)
    normal, fo = await _failover_series(s, normal_ep, failover_ep, n)
    phase = {
        "route": ROUTE,
        "fault": FAULT,
        "failover_requests": n,
        "normal_requests": len(normal),
        "one_failover_in": EVERY,
        "min_gap_between_failovers_s": GAP_S,
        "normal_ms": summary_ms(_seconds(normal)),
        "failover_ms": summary_ms(_seconds(fo)),
        "normal_served": served(normal),
        "failover_served": served(fo),
        "error_note": error_note(normal + fo),
    }
    return phase, (normal, fo)


def failover_check(phase: dict, series: tuple) -> Check:
    normal, fo = series
    name = "Failover cost p50 (503 at once, 2nd candidate serves)"
    served_ok = phase["failover_served"].get(f"2 attempts, {SECOND}", 0)
    normal_ok = phase["normal_served"].get(f"1 attempt, {FIRST}", 0)
    if len(normal) == 0 or normal_ok < len(normal) or served_ok < len(fo):
        why = f"failover requests served as {phase['failover_served']}, normal ones as {phase['normal_served']}" + (
            f"; {phase['error_note']}" if phase["error_note"] else ""
        )
        return not_measured("failover_added_p50", name, f"<= {ADDED_P50_MS} ms", why)
    return at_most(
        "failover_added_p50",
        name,
        percentile_diff_ms(_seconds(fo), _seconds(normal), 50),
        ADDED_P50_MS,
        "ms",
        note=f"failover p50 {phase['failover_ms'].get('p50')} ms vs normal {phase['normal_ms'].get('p50')} ms",
    )


# --- a candidate skipped for an open breaker ------------------------------------------------------


async def _requests_to(s, sim_url: str, provider: str) -> int | None:
    """Requests the simulator has received for `provider` so far (None if it would not say)."""
    try:
        async with s.get(sim_url + "/_sim/stats") as r:
            if r.status != 200:
                return None
            stats = await r.json()
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None
    return int((stats.get("providers") or {}).get(provider, 0))


def describe(model_and_list: tuple) -> str:
    model, models = model_and_list
    return f"model {model}, models [{', '.join(models)}]"


async def skip_phase(s, redis_url: str, sim_url: str, list_ep, baseline_ep, n: int, warmup: int) -> tuple[dict, tuple]:
    """Opens FIRST's provider breaker in the run's Redis, waits for the gateway to read it, then
    times the list SKIP_LIST (FIRST passed over, SECOND serves attempt 1) against SKIP_BASELINE
    (SECOND alone), alternating at concurrency 1; the breaker is closed again afterwards, whatever
    happens."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    phase = {
        "candidates": describe(SKIP_LIST),
        "baseline": describe(SKIP_BASELINE),
        "breaker": SKIP_KEY,
        "open_set": OPEN_SET,
        "pickup_wait_s": PICKUP_S,
        "requests_each": n,
        "warmup_each": warmup,
        "error": "",
    }
    listed, baseline, before, after = [], [], None, None
    r = aioredis.from_url(redis_url)
    try:
        await r.zadd(OPEN_SET, {SKIP_KEY: time.time() + SKIP_OPEN_S})
        await asyncio.sleep(PICKUP_S)
        before = await _requests_to(s, sim_url, FIRST)
        await load.interleaved(s, list_ep, baseline_ep, warmup, _with_headers)
        listed, baseline = await load.interleaved(s, list_ep, baseline_ep, n, _with_headers)
        after = await _requests_to(s, sim_url, FIRST)
    except RedisError as exc:
        phase["error"] = f"Redis: {type(exc).__name__}: {exc}"
    finally:
        try:
            await r.zrem(OPEN_SET, SKIP_KEY)
        except RedisError as exc:
            phase["error"] += f"; closing the breaker failed: {exc}"
        await r.aclose()
    await asyncio.sleep(PICKUP_S)  # the gateway sees the breaker closed before anything else runs
    phase.update(
        {
            "listed_ms": summary_ms(_seconds(listed)),
            "baseline_ms": summary_ms(_seconds(baseline)),
            "listed_served": served(listed),
            "baseline_served": served(baseline),
            "error_note": error_note(listed + baseline),
            # Requests the skipped provider received from the first warm-up request to the last one timed.
            "skipped_provider_requests": None if before is None or after is None else after - before,
        }
    )
    return phase, (listed, baseline)


def skip_check(phase: dict, series: tuple) -> Check:
    listed, baseline = series
    name = f"Skipped candidate cost p50 ({FIRST}'s breaker open)"
    want = f"1 attempt, {SECOND}"
    why = [phase["error"]] if phase["error"] else []
    if not listed or phase["listed_served"].get(want, 0) < len(listed):
        why.append(f"{describe(SKIP_LIST)} served as {phase['listed_served']}")
    if not baseline or phase["baseline_served"].get(want, 0) < len(baseline):
        why.append(f"{describe(SKIP_BASELINE)} served as {phase['baseline_served']}")
    calls = phase["skipped_provider_requests"]
    if calls is None:
        why.append("the simulator's request counts (/_sim/stats) were not available")
    elif calls:
        why.append(f"{FIRST} was called {calls} times with its breaker open")
    if why:
        if phase["error_note"]:
            why.append(phase["error_note"])
        return not_measured("skip_added_p50", name, f"<= {SKIP_ADDED_P50_MS} ms", "; ".join(why))
    return at_most(
        "skip_added_p50",
        name,
        percentile_diff_ms(_seconds(listed), _seconds(baseline), 50),
        SKIP_ADDED_P50_MS,
        "ms",
        note=f"{FIRST}, {SECOND} p50 {phase['listed_ms'].get('p50')} ms vs {SECOND} alone "
        f"{phase['baseline_ms'].get('p50')} ms; {FIRST} received 0 requests",
    )
