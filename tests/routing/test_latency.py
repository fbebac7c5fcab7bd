"""Measured time to first token without Redis (the embedded default): p50 over a process's own
recent samples, and a stale model probed now and then."""

import time

from routing import seed
from routing.latency import Latency

ROUTE = seed.snapshot().routes["auto-fast"]


async def test_it_keeps_the_p50_of_recent_samples_per_model(settings):
    settings.REDIS_URL = ""
    settings.AIPOWER_TTFT_SAMPLES, settings.AIPOWER_TTFT_MIN_SAMPLES = 5, 3
    lat = Latency()
    for seconds in (0.1, 0.3, 0.2):
        lat.record("qwen/qwen-turbo", seconds)
    lat.record("google/gemini-2.5-flash", 0.05)
    await lat.sync()
    stats = lat.stats_for(ROUTE)
    assert stats.ttft_p50_ms == {"qwen/qwen-turbo": 200.0}  # gemini has too few samples
    for seconds in (0.9, 0.9, 0.9, 0.9):
        lat.record("qwen/qwen-turbo", seconds)
    await lat.sync()
    assert lat.stats_for(ROUTE).ttft_p50_ms["qwen/qwen-turbo"] == 900.0  # the last 5 samples only
    assert lat.stats_for(seed.snapshot().routes["auto"]).ttft_p50_ms == {}


async def test_old_samples_leave_the_window(settings):
    settings.REDIS_URL = ""
    settings.AIPOWER_TTFT_WINDOW_SECONDS, settings.AIPOWER_TTFT_MIN_SAMPLES = 60, 1
    lat = Latency()
    lat.record("qwen/qwen-turbo", 0.1)
    lat.samples["qwen/qwen-turbo"][0] = (time.time() - 120, 100.0)
    await lat.sync()
    assert lat.p50 == {}


def test_a_model_not_measured_lately_is_probed_once_per_interval(settings):
    settings.AIPOWER_TTFT_PROBE_SECONDS = 10
    lat = Latency()
    assert lat.stats_for(ROUTE).explore is None  # nothing measured yet: nothing to probe
    now = time.time()
    lat.newest = {"qwen/qwen-turbo": now - 30, "google/gemini-2.5-flash": now}
    assert lat.stats_for(ROUTE).explore == "qwen/qwen-turbo"
    assert lat.stats_for(ROUTE).explore is None  # once per interval
