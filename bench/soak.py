"""The memory soak: after everything else has warmed the gateway up, a closed loop at concurrency 16
(streaming and non-streaming requests alternating in each worker) for 3 minutes, with the gateway's
resident set (VmRSS) sampled once a second. Growth = median of the last window's samples minus
median of the first window's (20 s each): a median over a window is not moved by one sample taken
during a burst of allocation or just after a collection, and comparing the two ends of the run
asks whether memory keeps growing under steady load, not how high it peaked (VmHWM, reported
elsewhere)."""

import asyncio
import statistics
import time

from . import load
from .procfs import status_kib
from .report import FAIL, PASS, Check, error_note

CONCURRENCY = 16
MAX_GROWTH_MB = 5.0  # MB = 10^6 bytes
SAMPLE_EVERY_S = 1.0


async def soak_phase(s, pid: int, plain_ep, stream_ep, warmup_s: float, seconds: float, window_s: float) -> dict:
    """Warm-up at the soak's concurrency, then `seconds` of load with VmRSS sampled every
    SAMPLE_EVERY_S; returns the phase record (samples included, as [seconds since start, KiB])."""
    warmup: list = []
    await _load(s, plain_ep, stream_ep, warmup_s, warmup)
    replies: list = []
    samples: list[tuple[float, int]] = []
    start = time.perf_counter()

    async def sample() -> None:
        while True:
            kib = status_kib(pid, "VmRSS")
            if kib is not None:
                samples.append((round(time.perf_counter() - start, 2), kib))
            await asyncio.sleep(SAMPLE_EVERY_S)

    sampler = asyncio.get_running_loop().create_task(sample())
    try:
        await _load(s, plain_ep, stream_ep, seconds, replies)
    finally:
        sampler.cancel()
    elapsed = time.perf_counter() - start
    samples.append((round(elapsed, 2), status_kib(pid, "VmRSS") or samples[-1][1]))
    first = [kib for t, kib in samples if t < window_s]
    last = [kib for t, kib in samples if t >= elapsed - window_s]
    start_kib = statistics.median(first) if first else None
    end_kib = statistics.median(last) if last else None
    return {
        "concurrency": CONCURRENCY,
        "warmup_s": warmup_s,
        "seconds": round(elapsed, 1),
        "window_s": window_s,
        "sample_every_s": SAMPLE_EVERY_S,
        "requests": len(replies),
        "warmup_requests": len(warmup),
        "errors": len([r for r in replies if not r.ok]),
        "error_note": error_note(replies),
        "start_rss_kib": start_kib,
        "end_rss_kib": end_kib,
        "growth_kib": None if start_kib is None or end_kib is None else end_kib - start_kib,
        "max_rss_kib": max((kib for _, kib in samples), default=None),
        "slope_kib_per_min": _slope(samples),
        "samples": samples,
    }


async def _load(s, plain_ep, stream_ep, seconds: float, replies: list) -> None:
    """CONCURRENCY workers, each alternating a non-streaming and a streaming request, sending the
    next as soon as the last has ended, for `seconds`; every reply goes to `replies`."""
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        while time.perf_counter() < deadline:
            i += 1
            r = await (load.stream(s, stream_ep) if i % 2 else load.request(s, plain_ep))
            replies.append(r)

    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))


def _slope(samples) -> float | None:
    """Least-squares slope of RSS over time, KiB per minute (for the record; the check uses the
    windows' medians)."""
    if len(samples) < 3:
        return None
    ts = [t for t, _ in samples]
    ks = [k for _, k in samples]
    mt, mk = statistics.fmean(ts), statistics.fmean(ks)
    var = sum((t - mt) ** 2 for t in ts)
    if not var:
        return None
    return round(60 * sum((t - mt) * (k - mk) for t, k in samples) / var, 1)


def check(phase: dict, quick: bool) -> Check:
    minutes = phase["seconds"] / 60
    length = f"{phase['seconds']:.0f} s (quick; the full bench soaks 3 minutes)" if quick else f"{minutes:.0f}-minute"
    name = f"Gateway memory growth over a {length} soak (c={CONCURRENCY}, after warm-up)"
    target = f"< {MAX_GROWTH_MB:g} MB"
    growth = phase["growth_kib"]
    if growth is None:
        return Check("soak_growth", name, target, "-", None, FAIL, True, "no VmRSS samples of the gateway")
    mb = growth * 1024 / 1e6
    start, end = phase["start_rss_kib"] / 1024, phase["end_rss_kib"] / 1024
    note = (
        f"median VmRSS of the first {phase['window_s']:g} s {start:.1f} MiB, of the last {phase['window_s']:g} s "
        f"{end:.1f} MiB; {len(phase['samples'])} samples, peak {phase['max_rss_kib'] / 1024:.1f} MiB, "
        f"trend {phase['slope_kib_per_min']} KiB/min; {phase['requests']} requests"
    )
    ok = mb < MAX_GROWTH_MB and not phase["errors"]
    if phase["errors"]:
        note += f"; {phase['error_note']}"
    return Check(
        "soak_growth",
        name,
        target,
        f"{mb:+.2f} MB ({start:.1f} -> {end:.1f} MiB)",
        round(mb, 3),
        PASS if ok else FAIL,
        True,
        note,
    )
