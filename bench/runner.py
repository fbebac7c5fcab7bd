"""The benchmark run: start the stack, warm up, measure each phase against the direct-to-simulator
baseline, print the table, write the results, stop everything."""

import argparse
import asyncio
import gc
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import orjson

from . import dialects, failover, load, router, soak
from .procfs import CpuWindow, loadavg, status_kib
from .report import (
    INFO,
    NOT_MEASURED,
    Check,
    at_least,
    at_most,
    error_note,
    failed,
    markdown,
    max_in_window,
    percentile_diff_ms,
    summary_ms,
    table,
)
from .stack import ROOT, Stack, StackError

DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"
MODEL = "deepseek/deepseek-chat"  # pinned model for the latency, throughput and streaming phases
UPSTREAM = ("deepseek", "deepseek-chat")  # its provider slug and upstream model id
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "In one sentence, why do sailors watch the barometer?"},
]
STREAM_CHUNKS, STREAM_MS, BURST_WINDOW_S, BURST_MAX = 50, 1000, 0.050, 5

# Targets: the request path's, with authentication, limits, routing, holds, group-committed
# settlement and usage recording all on.
ADDED_P50_MS, ADDED_P99_MS = 1.5, 5.0  # added latency at c=1
ADDED_TTFT_P50_MS = 1.5
MIN_RPS, CONCURRENCY = 300, 32
MIN_LITELLM_RATIO = 12  # throughput at c=32 on one core, over the LiteLLM proxy's
MAX_CPU_MS_PER_REQUEST = 1.0  # the gateway's CPU time per request in the c=32 run
SPREAD_RANGE_S = (0.9, 1.2)
# Failover and skipped-candidate targets: bench/failover.py; the memory soak's: bench/soak.py.


@dataclass(frozen=True)
class Plan:
    warmup: int  # non-streaming warm-up requests, each to the gateway and direct
    latency_pairs: int
    direct_seconds: float
    throughput_seconds: float
    ttft_pairs: int
    stream_warmup: int
    pacing_runs: int
    failover_pairs: int
    failover_warmup: int
    skip_pairs: int  # requests each with the list deepseek, qwen (deepseek's breaker open) and qwen alone
    skip_warmup: int
    dialect_requests: int = 1000  # each to chat completions, /v1/messages and /v1/responses
    dialect_warmup: int = 50
    soak_warmup_s: float = 20  # at the soak's concurrency, before its samples count
    soak_seconds: float = 180
    soak_window_s: float = 20  # growth = median VmRSS of the last window minus that of the first


FULL = Plan(
    warmup=300,
    latency_pairs=2000,
    direct_seconds=3,
    throughput_seconds=10,
    ttft_pairs=1000,
    stream_warmup=100,
    pacing_runs=3,
    failover_pairs=200,
    failover_warmup=10,
    skip_pairs=1500,
    skip_warmup=50,
)
QUICK = Plan(
    warmup=50,
    latency_pairs=300,
    direct_seconds=1.5,
    throughput_seconds=3,
    ttft_pairs=200,
    stream_warmup=20,
    pacing_runs=1,
    failover_pairs=40,
    failover_warmup=5,
    skip_pairs=200,
    skip_warmup=10,
    dialect_requests=200,
    dialect_warmup=10,
    soak_warmup_s=3,
    soak_seconds=20,
    soak_window_s=5,
)


def say(*parts) -> None:
    print(*parts, flush=True)


def _body(model: str, stream: bool = False, models: list | None = None) -> bytes:
    body = {"model": model, "messages": MESSAGES, "max_tokens": 64}
    if stream:
        body["stream"] = True
    if models is not None:
        body["models"] = models  # the caller's own candidate list after `model`
    return orjson.dumps(body)


def _errors(replies) -> list:
    return [r for r in replies if not r.ok]


class Run:
    def __init__(self, stack: Stack, plan: Plan, profile_to: Path | None, quick: bool = False):
        self.stack = stack
        self.plan = plan
        self.quick = quick
        self.profile_to = profile_to
        self.gateway_requests = 0  # chat-completion requests sent to the gateway (usage rows expected)
        self.phases: dict = {}
        self.memory: dict = {}
        self.profile: dict | None = None

    def endpoints(self):
        st = self.stack
        gw_headers = {"Authorization": f"Bearer {st.api_key}", "Content-Type": "application/json"}
        direct_headers = {"Authorization": "Bearer simulated", "Content-Type": "application/json"}
        gw_url = st.gateway_url + "/v1/chat/completions"
        direct_url = f"{st.sim_url}/p/{UPSTREAM[0]}/v1/chat/completions"
        E = load.Endpoint
        return {
            "gateway": E("gateway", gw_url, _body(MODEL), gw_headers),
            "direct": E("direct", direct_url, _body(UPSTREAM[1]), direct_headers),
            "gateway_stream": E("gateway_stream", gw_url, _body(MODEL, True), gw_headers),
            "direct_stream": E("direct_stream", direct_url, _body(UPSTREAM[1], True), direct_headers),
            "gateway_paced": E(
                "gateway_paced",
                gw_url,
                _body(MODEL, True),
                {
                    **gw_headers,
                    "x-sim-chunks": str(STREAM_CHUNKS),
                    "x-sim-stream-ms": str(STREAM_MS),
                    "x-sim-output-tokens": "200",
                },
            ),
            "direct_paced": E(
                "direct_paced",
                direct_url,
                _body(UPSTREAM[1], True),
                {
                    **direct_headers,
                    "x-sim-chunks": str(STREAM_CHUNKS),
                    "x-sim-stream-ms": str(STREAM_MS),
                    "x-sim-output-tokens": "200",
                },
            ),
            "route_normal": E("route_normal", gw_url, _body(failover.ROUTE), gw_headers),
            "route_failover": E(
                "route_failover", gw_url, _body(failover.ROUTE), {**gw_headers, "x-sim-fault": failover.FAULT}
            ),
            "skip_list": E("skip_list", gw_url, _body(failover.SKIP_LIST[0], models=failover.SKIP_LIST[1]), gw_headers),
            "skip_baseline": E(
                "skip_baseline",
                gw_url,
                _body(failover.SKIP_BASELINE[0], models=failover.SKIP_BASELINE[1]),
                gw_headers,
            ),
        }

    def cpu_window(self) -> CpuWindow:
        return CpuWindow(
            {
                "gateway": self.stack.pid("gateway"),
                "simulator": self.stack.pid("simulator"),
                "load_generator": os.getpid(),
            }
        ).start()

    async def measure(self) -> None:
        p, ep = self.plan, self.endpoints()
        gc.collect()
        gc.freeze()  # no collector pauses in the load generator from what setup allocated
        async with load.session() as s:
            # 0. Does the gateway answer at all (and with the model asked for)?
            first = await load.request(s, ep["gateway"], keep_headers=True)
            self.gateway_requests += 1
            if not first.ok:
                raise StackError(f"the gateway's first chat completion failed: {first.error}")

            say(
                f"  warm-up: {p.warmup} non-streaming requests each to the gateway and the simulator, "
                f"{p.stream_warmup} streaming"
            )
            await load.interleaved(s, ep["gateway"], ep["direct"], p.warmup)
            await load.interleaved(s, ep["gateway_stream"], ep["direct_stream"], p.stream_warmup, load.stream)
            self.gateway_requests += p.warmup + p.stream_warmup

            # 1. Added latency at concurrency 1.
            say(f"  latency: {p.latency_pairs} requests each, concurrency 1, alternating gateway/direct")
            cpu = self.cpu_window()
            gw, direct = await load.interleaved(s, ep["gateway"], ep["direct"], p.latency_pairs)
            self.gateway_requests += p.latency_pairs
            self.phases["latency"] = {
                "requests_each": p.latency_pairs,
                "concurrency": 1,
                "model": MODEL,
                "gateway_ms": summary_ms([r.seconds for r in gw if r.ok]),
                "direct_ms": summary_ms([r.seconds for r in direct if r.ok]),
                "gateway_errors": len(_errors(gw)),
                "direct_errors": len(_errors(direct)),
                "error_note": error_note(gw + direct),
                "cpu": cpu.stop(),
            }
            self._latency = ([r.seconds for r in gw if r.ok], [r.seconds for r in direct if r.ok])

            # 2. Throughput at concurrency 32: the simulator alone first (the ceiling of core 1), then
            # the gateway.
            say(
                f"  throughput: concurrency {CONCURRENCY}, direct {p.direct_seconds:g} s, "
                f"gateway {p.throughput_seconds:g} s"
            )
            warm = await load.closed_loop(s, ep["gateway"], CONCURRENCY, 1.0)  # opens the 32 connections
            self.gateway_requests += warm.ok + warm.errors
            await load.closed_loop(s, ep["direct"], CONCURRENCY, 0.5)
            cpu = self.cpu_window()
            d = await load.closed_loop(s, ep["direct"], CONCURRENCY, p.direct_seconds)
            direct_cpu = cpu.stop()
            sampler = None
            if self.profile_to is not None:
                from .profile import Sampler

                sampler = Sampler(
                    self.stack.pid("gateway"), self.stack.load_core, self.profile_to, p.throughput_seconds
                )
                sampler.start()
                await asyncio.sleep(0.5)
            cpu = self.cpu_window()
            g = await load.closed_loop(s, ep["gateway"], CONCURRENCY, p.throughput_seconds)
            gateway_cpu = cpu.stop()
            if sampler is not None:
                await asyncio.to_thread(sampler.stop)
            self.memory["after_throughput_vmhwm_kib"] = status_kib(self.stack.pid("gateway"), "VmHWM")
            self.memory["after_throughput_vmrss_kib"] = status_kib(self.stack.pid("gateway"), "VmRSS")
            self.gateway_requests += g.ok + g.errors
            gw_cpu_s = gateway_cpu["processes"].get("gateway", {}).get("cpu_s")
            self.phases["throughput"] = {
                "concurrency": CONCURRENCY,
                "model": MODEL,
                "gateway": {
                    "seconds": round(g.seconds, 3),
                    "ok": g.ok,
                    "errors": g.errors,
                    "rps": round(g.rps, 1),
                    "latency_ms": summary_ms(g.latencies),
                    "error_samples": g.error_samples,
                    "cpu": gateway_cpu,
                    "gateway_cpu_ms_per_request": round(1000 * gw_cpu_s / max(g.ok + g.errors, 1), 3)
                    if gw_cpu_s is not None
                    else None,
                },
                "direct": {
                    "seconds": round(d.seconds, 3),
                    "ok": d.ok,
                    "errors": d.errors,
                    "rps": round(d.rps, 1),
                    "latency_ms": summary_ms(d.latencies),
                    "cpu": direct_cpu,
                },
                "profiled": self.profile_to is not None,
            }
            self._throughput = g

            # 3. Streaming: time to first token, then a paced stream.
            say(
                f"  streaming: {p.ttft_pairs} streams each, concurrency 1, alternating; then "
                f"{p.pacing_runs} paced stream(s) of {STREAM_CHUNKS} chunks over {STREAM_MS} ms"
            )
            cpu = self.cpu_window()
            gs, ds = await load.interleaved(s, ep["gateway_stream"], ep["direct_stream"], p.ttft_pairs, load.stream)
            self.gateway_requests += p.ttft_pairs
            self.phases["ttft"] = {
                "streams_each": p.ttft_pairs,
                "model": MODEL,
                "gateway_ms": summary_ms([r.ttft for r in gs if r.ok]),
                "direct_ms": summary_ms([r.ttft for r in ds if r.ok]),
                "gateway_total_ms": summary_ms([r.total for r in gs if r.ok]),
                "direct_total_ms": summary_ms([r.total for r in ds if r.ok]),
                "gateway_errors": len(_errors(gs)),
                "direct_errors": len(_errors(ds)),
                "error_note": error_note(gs + ds),
                "cpu": cpu.stop(),
            }
            self._ttft = ([r.ttft for r in gs if r.ok], [r.ttft for r in ds if r.ok])

            paced = []
            for _ in range(p.pacing_runs):
                paced.append(await load.stream(s, ep["gateway_paced"]))
            self.gateway_requests += p.pacing_runs
            direct_paced = await load.stream(s, ep["direct_paced"])
            self.phases["pacing"] = {
                "headers": {"x-sim-chunks": STREAM_CHUNKS, "x-sim-stream-ms": STREAM_MS},
                "gateway_runs": [_pacing(r) for r in paced],
                "direct_run": _pacing(direct_paced),
            }

            # 4. Failover: route `auto` with deepseek answering 503 at once vs the same route served
            # by deepseek on the first attempt (bench/failover.py).
            n, f = p.failover_pairs, failover
            say(
                f"  failover: {n} requests to route '{f.ROUTE}' with x-sim-fault: {f.FAULT}, "
                f"each after {f.EVERY - 1} without (at most one per {f.GAP_S * 1000:.0f} ms)"
            )
            self.phases["failover"], self._failover = await f.failover_phase(
                s, ep["route_normal"], ep["route_failover"], n, p.failover_warmup
            )
            self.gateway_requests += (p.failover_warmup + n) * f.EVERY

            # 5. Skipped candidate: deepseek's provider breaker open; the list deepseek, qwen (qwen
            # serves attempt 1) vs the list qwen alone.
            say(
                f"  skipped candidate: breaker {f.SKIP_KEY} opened in Redis; {p.skip_pairs} requests each with "
                f"{f.describe(f.SKIP_LIST)} and {f.describe(f.SKIP_BASELINE)}, concurrency 1, alternating"
            )
            self.phases["skip"], self._skip = await f.skip_phase(
                s,
                self.stack.redis_url,
                self.stack.sim_url,
                ep["skip_list"],
                ep["skip_baseline"],
                p.skip_pairs,
                p.skip_warmup,
            )
            self.gateway_requests += 2 * (p.skip_warmup + p.skip_pairs)

            # 6. The other dialects (bench/dialects.py): translation onto the chat path.
            say(
                f"  dialects: {p.dialect_requests} requests each to chat completions, /v1/messages and "
                f"/v1/responses, concurrency 1, interleaved"
            )
            eps = dialects.endpoints(self.stack.gateway_url, self.stack.api_key, MODEL, MESSAGES)
            self.phases["dialects"], self._dialects = await dialects.dialect_phase(
                s, ep["gateway"], eps, p.dialect_requests, p.dialect_warmup
            )
            self.phases["dialects"]["translation_cpu_us"] = dialects.translation_cpu_us(eps, MODEL)
            self.gateway_requests += 3 * (p.dialect_warmup + p.dialect_requests)

            # 7. The memory soak (bench/soak.py): the gateway's VmRSS over minutes of steady load.
            say(
                f"  memory soak: concurrency {soak.CONCURRENCY}, streaming and non-streaming alternating, "
                f"{p.soak_warmup_s:g} s warm-up then {p.soak_seconds:g} s with VmRSS sampled every "
                f"{soak.SAMPLE_EVERY_S:g} s"
            )
            self.phases["soak"] = await soak.soak_phase(
                s,
                self.stack.pid("gateway"),
                ep["gateway"],
                ep["gateway_stream"],
                p.soak_warmup_s,
                p.soak_seconds,
                p.soak_window_s,
            )
            self.gateway_requests += self.phases["soak"]["warmup_requests"] + self.phases["soak"]["requests"]

        self.memory["end_vmhwm_kib"] = status_kib(self.stack.pid("gateway"), "VmHWM")
        self.memory["end_vmrss_kib"] = status_kib(self.stack.pid("gateway"), "VmRSS")
        self.memory["simulator_vmhwm_kib"] = status_kib(self.stack.pid("simulator"), "VmHWM")

    async def measure_litellm(self, url: str) -> None:
        """The LiteLLM proxy on the gateway's CPU, against the same simulator (bench/litellm.py)."""
        from . import litellm

        st, p = self.stack, self.plan
        headers = {"Authorization": "Bearer sk-bench-litellm", "Content-Type": "application/json"}
        ep = load.Endpoint("litellm", url, _body(litellm.MODEL_NAME), headers)
        direct = self.endpoints()["direct"]
        async with load.session() as s:
            await load.interleaved(s, ep, direct, max(p.warmup // 3, 20))
            n = max(p.latency_pairs // 4, 100)
            lt, dt = await load.interleaved(s, ep, direct, n)
            await load.closed_loop(s, ep, CONCURRENCY, 1.0)
            cpu = self.cpu_window_of({"litellm": st.pid("litellm")})
            g = await load.closed_loop(s, ep, CONCURRENCY, p.throughput_seconds)
            used = cpu.stop()
        self.phases["litellm"] = {
            "latency": {
                "requests_each": n,
                "litellm_ms": summary_ms([r.seconds for r in lt if r.ok]),
                "direct_ms": summary_ms([r.seconds for r in dt if r.ok]),
                "errors": len(_errors(lt)),
            },
            "throughput": {
                "concurrency": CONCURRENCY,
                "rps": round(g.rps, 1),
                "ok": g.ok,
                "errors": g.errors,
                "cpu": used,
            },
        }
        self._litellm = ([r.seconds for r in lt if r.ok], [r.seconds for r in dt if r.ok])

    def cpu_window_of(self, pids: dict) -> CpuWindow:
        return CpuWindow({**pids, "load_generator": os.getpid()}).start()

    def checks(self) -> list[Check]:
        out = []
        lat = self.phases["latency"]
        gw, direct = self._latency
        errs = lat["gateway_errors"] + lat["direct_errors"]
        note = f"gateway p50 {lat['gateway_ms'].get('p50')} ms vs direct {lat['direct_ms'].get('p50')} ms"
        out.append(
            at_most(
                "added_p50",
                "Added latency p50 (c=1, non-streaming)",
                percentile_diff_ms(gw, direct, 50) if not errs else None,
                ADDED_P50_MS,
                "ms",
                note=note if not errs else lat["error_note"],
            )
        )
        note = f"gateway p99 {lat['gateway_ms'].get('p99')} ms vs direct {lat['direct_ms'].get('p99')} ms"
        out.append(
            at_most(
                "added_p99",
                "Added latency p99 (c=1, non-streaming)",
                percentile_diff_ms(gw, direct, 99) if not errs else None,
                ADDED_P99_MS,
                "ms",
                note=note if not errs else lat["error_note"],
            )
        )

        tp = self.phases["throughput"]["gateway"]
        c = at_least(
            "throughput",
            f"Throughput, 1 gateway core, c={CONCURRENCY}, non-streaming",
            tp["rps"],
            MIN_RPS,
            "req/s",
            note=f"{tp['ok']} ok in {tp['seconds']} s; direct {self.phases['throughput']['direct']['rps']} req/s",
        )
        out.append(c)
        cpu_ms = tp.get("gateway_cpu_ms_per_request")
        busy = tp["cpu"]["core_busy_pct"].get(f"cpu{self.stack.gateway_core}")
        mine = tp["cpu"]["processes"].get("gateway", {}).get("cpu_pct")
        c = at_most(
            "gateway_cpu_per_request",
            f"Gateway CPU time per request (c={CONCURRENCY} run)",
            cpu_ms,
            MAX_CPU_MS_PER_REQUEST,
            "ms",
            note=f"~{1000 / cpu_ms:.0f} req/s per core; " if cpu_ms else "",
        )
        c.note += (
            f"the gateway had {mine}% of CPU {self.stack.gateway_core}, which was {busy}% busy "
            f"(the rest: other processes on the machine)"
        )
        out.append(c)
        out.append(
            Check(
                "throughput_errors",
                "Errors during the throughput run",
                "0",
                str(tp["errors"]),
                tp["errors"],
                "PASS" if tp["errors"] == 0 else "FAIL",
                True,
                "; ".join(tp["error_samples"]),
            )
        )

        t = self.phases["ttft"]
        errs = t["gateway_errors"] + t["direct_errors"]
        gt, dt = self._ttft
        out.append(
            at_most(
                "added_ttft_p50",
                "Added time to first token p50 (streaming, c=1)",
                percentile_diff_ms(gt, dt, 50) if not errs else None,
                ADDED_TTFT_P50_MS,
                "ms",
                note=f"gateway p50 {t['gateway_ms'].get('p50')} ms vs direct {t['direct_ms'].get('p50')} ms"
                if not errs
                else t["error_note"],
            )
        )

        runs = self.phases["pacing"]["gateway_runs"]
        worst = _worst_pacing(runs)
        ok = all(_pacing_ok(r) for r in runs)
        measured = (
            f"{worst['chunks']} chunks over {worst['spread_s']:.3f} s, max {worst['max_in_50ms']}/50 ms"
            if worst["chunks"]
            else worst.get("error") or "no chunks"
        )
        out.append(
            Check(
                "stream_pacing",
                f"1 s stream of {STREAM_CHUNKS} chunks arrives paced",
                f"{STREAM_CHUNKS} chunks, {SPREAD_RANGE_S[0]}-{SPREAD_RANGE_S[1]} s, <= {BURST_MAX}/50 ms",
                measured,
                worst["spread_s"],
                "PASS" if ok else "FAIL",
                True,
                f"{len(runs)} run(s); worst shown",
            )
        )

        hwm = self.memory.get("end_vmhwm_kib")
        out.append(
            Check(
                "peak_rss",
                "Gateway peak resident memory (VmHWM)",
                "report",
                f"{hwm / 1024:.1f} MiB" if hwm else "-",
                hwm,
                INFO,
                False,
                f"after the c={CONCURRENCY} run: {(self.memory.get('after_throughput_vmhwm_kib') or 0) / 1024:.1f} MiB",
            )
        )

        out.append(router.check(self.phases["router"]))
        out.append(failover.failover_check(self.phases["failover"], self._failover))
        out.append(failover.skip_check(self.phases["skip"], self._skip))
        out.extend(dialects.checks(self.phases["dialects"], self._dialects))
        out.append(soak.check(self.phases["soak"], self.quick))

        rows = self.phases.get("usage_rows")
        if rows is not None:
            written, expected = rows["written"], rows["expected"]
            out.append(
                Check(
                    "usage_rows",
                    "Usage rows written (recording on)",
                    f"= {expected}",
                    "-" if written is None else str(written),
                    written,
                    "PASS" if written == expected else "FAIL",
                    False,
                    "one per request sent to the gateway (chat completions, messages, responses)",
                )
            )
        lite = self.phases.get("litellm")
        name = f"Throughput vs the LiteLLM proxy, 1 core, c={CONCURRENCY}"
        if lite and "throughput" in lite and lite["throughput"]["rps"]:
            ratio = self.phases["throughput"]["gateway"]["rps"] / lite["throughput"]["rps"]
            out.append(
                at_least(
                    "litellm_ratio",
                    name,
                    ratio,
                    MIN_LITELLM_RATIO,
                    "x",
                    digits=1,
                    note=f"LiteLLM {lite['throughput']['rps']} req/s",
                )
            )
            added = percentile_diff_ms(self._litellm[0], self._litellm[1], 50)
            out.append(
                Check(
                    "litellm_added_p50",
                    "LiteLLM proxy added latency p50 (c=1)",
                    "report",
                    "-" if added is None else f"{added:.2f} ms",
                    added,
                    INFO,
                    False,
                )
            )
        else:
            from .report import not_measured

            out.append(
                not_measured(
                    "litellm_ratio",
                    name,
                    f">= {MIN_LITELLM_RATIO} x",
                    (lite or {}).get("error", "not run (--no-litellm)"),
                )
            )
        return out


def _pacing(r: load.StreamReply) -> dict:
    if not r.ok and not r.arrivals:
        return {"chunks": 0, "spread_s": 0.0, "max_in_50ms": 0, "error": r.error}
    a = r.arrivals
    gaps = [b - x for x, b in pairwise(a)]
    return {
        "chunks": len(a),
        "ttft_ms": round(a[0] * 1000, 2),
        "spread_s": round(a[-1] - a[0], 4),
        "max_in_50ms": max_in_window(a, BURST_WINDOW_S),
        "max_gap_ms": round(max(gaps) * 1000, 2) if gaps else 0,
        "min_gap_ms": round(min(gaps) * 1000, 2) if gaps else 0,
        "done": r.done,
        "error": r.error,
    }


def _pacing_ok(p: dict) -> bool:
    return (
        p["chunks"] == STREAM_CHUNKS
        and SPREAD_RANGE_S[0] <= p["spread_s"] <= SPREAD_RANGE_S[1]
        and p["max_in_50ms"] <= BURST_MAX
        and not p.get("error")
    )


def _worst_pacing(runs: list) -> dict:
    bad = [r for r in runs if not _pacing_ok(r)]
    if bad:
        return bad[0]
    return max(runs, key=lambda r: (r["max_in_50ms"], abs(r["spread_s"] - STREAM_MS / 1000)))


def _conditions(plan: Plan, stack: Stack, run: Run, quick: bool) -> str:
    lat = run.phases["latency"]["cpu"]
    noise = (
        f" During the c=1 run CPU {stack.gateway_core} was "
        f"{lat['core_busy_pct'].get(f'cpu{stack.gateway_core}')}% busy, the gateway taking "
        f"{lat['processes'].get('gateway', {}).get('cpu_pct')} points of it; other work on the "
        f"machine (load average {run.phases['host']['loadavg_start'][0]} at start) adds to the numbers."
    )
    return (
        f"Measured by `make bench{' BENCH_ARGS=--quick' if quick else ''}` on a {os.cpu_count()}-CPU machine: "
        "the gateway is one process started as in production (`python -m aipower.serve`: uvicorn, uvloop, "
        "httptools with the API's head-size limit and connection cap, the API's own ASGI layer with Django's "
        "ORM, PostgreSQL + Redis, usage recording and credit reservations on) pinned "
        f"to CPU {stack.gateway_core}; the aiohttp load generator, the provider simulator, PostgreSQL and "
        f'Redis share CPU {stack.load_core}. "Added" = gateway minus direct-to-simulator, same run, same '
        f"request, percentile by percentile; {plan.latency_pairs} requests per series after "
        f"{plan.warmup} warm-up requests each. Failover cost = route `{failover.ROUTE}` with its first "
        f"candidate answering 503 at once minus the same route served at once; skipped candidate cost = "
        f"candidates {failover.FIRST}, {failover.SECOND} (the body's `model` and `models`) with "
        f"{failover.FIRST}'s circuit breaker open ({failover.SECOND} serves, {failover.FIRST} not called) "
        f"minus {failover.SECOND} alone, same router path ({plan.skip_pairs} requests each). Memory growth = "
        f"median VmRSS of the soak's last {plan.soak_window_s:g} s minus that of its first "
        f"{plan.soak_window_s:g} s ({plan.soak_seconds:g} s at c={soak.CONCURRENCY} after "
        f"{plan.soak_warmup_s:g} s of warm-up, after all the other phases)." + noise
    )


def _how(plan: Plan, stack: Stack, run: Run) -> list[str]:
    lat, f = run.phases["latency"]["cpu"], failover
    tp = run.phases["throughput"]["gateway"]
    return [
        f"CPU pinning: gateway (one python -m aipower.serve process) on CPU {stack.gateway_core} "
        f"[{' '.join(stack.commands['gateway'])}]; load generator (this process, sched_setaffinity), "
        f"simulator, PostgreSQL and Redis on CPU {stack.load_core}.",
        "Stack: fresh database aipower_bench (migrated, catalog loaded, key issued), Redis cache, "
        "AIPOWER_SIMULATE_PROVIDERS=1, LOG_LEVEL=ERROR, DEBUG=0, usage rows recorded.",
        f"Warm-up: {plan.warmup} non-streaming + {plan.stream_warmup} streaming requests each to gateway and "
        f"simulator; {plan.failover_warmup} failover cycles; 1 s at c={CONCURRENCY} before the throughput run.",
        f"Latency: {plan.latency_pairs} non-streaming requests per series, concurrency 1, gateway and direct "
        f"alternating (order swapped every pair), model {MODEL} (direct: upstream id {UPSTREAM[1]}), timed from "
        f"send to the end of the body. Added = percentile of gateway series minus the same percentile of direct.",
        f"Throughput: closed loop, {CONCURRENCY} workers, {plan.throughput_seconds:g} s; gateway CPU "
        f"{tp['cpu']['processes'].get('gateway', {}).get('cpu_pct')}% of one core, "
        f"{tp['gateway_cpu_ms_per_request']} ms CPU per request.",
        f"TTFT: {plan.ttft_pairs} streams per series, alternating; time from send to the first SSE event "
        f"with non-empty delta.content. Pacing: x-sim-chunks {STREAM_CHUNKS}, x-sim-stream-ms {STREAM_MS}, "
        f"{plan.pacing_runs} run(s); burst = most content events inside any {int(BURST_WINDOW_S * 1000)} ms "
        f"(evenly paced: 3).",
        f"Failover: route {f.ROUTE}; {plan.failover_pairs} requests with x-sim-fault: {f.FAULT} "
        f"(attempt 1 gets 503 at once, attempt 2 is served by {f.SECOND}), each after {f.EVERY - 1} without "
        f"(served by {f.FIRST} on attempt 1), at most one per {f.GAP_S * 1000:.0f} ms so that the circuit "
        f"breaker and the retry budget stay out of it; cost = p50(failover) - p50(normal).",
        f"Skipped candidate: ZADD {f.OPEN_SET} <now+{f.SKIP_OPEN_S}> {f.SKIP_KEY} in the run's Redis, "
        f"{f.PICKUP_S:g} s for the gateway to read it, then {plan.skip_pairs} requests each (after "
        f"{plan.skip_warmup}) with {f.describe(f.SKIP_LIST)} ({f.FIRST} skipped, {f.SECOND} serves attempt 1) "
        f"and with {f.describe(f.SKIP_BASELINE)} (the same path through the router, without the skipped "
        f"candidate), c=1, alternating; {f.FIRST} must receive no request (simulator's /_sim/stats); "
        f"cost = p50(with) - p50(without); the breaker is closed again afterwards.",
        f"Memory soak: after all the phases above, {plan.soak_warmup_s:g} s at c={soak.CONCURRENCY} (warm-up), "
        f"then {plan.soak_seconds:g} s at c={soak.CONCURRENCY}, each worker alternating a non-streaming and a "
        f"streaming request; the gateway's VmRSS sampled every {soak.SAMPLE_EVERY_S:g} s; growth = median of "
        f"the samples in the last {plan.soak_window_s:g} s minus median of those in the first "
        f"{plan.soak_window_s:g} s (a median per window: one sample during a burst of allocation or right "
        f"after a collection does not move it).",
        f"Noise: CPU {stack.gateway_core} was {lat['core_busy_pct'].get(f'cpu{stack.gateway_core}')}% busy during "
        f"the c=1 latency run, of which the gateway used {lat['processes'].get('gateway', {}).get('cpu_pct')}%; "
        f"load average at start {run.phases['host']['loadavg_start']}. Other work on the machine (e.g. "
        f"concurrent test runs) adds to these numbers.",
    ]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests and shorter runs (a smoke run)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"the JSON results (default {DEFAULT_OUT.relative_to(ROOT)}); a .md is written beside it",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the gateway with py-spy during the throughput run and print its hotspots "
        "(needs py-spy in the venv; the numbers of such a run are taken with the profiler on)",
    )
    parser.add_argument(
        "--no-litellm",
        action="store_true",
        help="skip the LiteLLM proxy run (otherwise installed into its own venv on first use)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        say(f"bench: needs two CPUs (one for the gateway, one for the load); this process may use {cpus}")
        return 2
    gateway_core, load_core = cpus[0], cpus[1]
    # The load generator, and everything started from here but the gateway, run on the other CPU.
    os.sched_setaffinity(0, {load_core})

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack(gateway_core, load_core, log=say)
    profile_to = (stack.log_dir / "profile-throughput.txt") if args.profile else None
    run = Run(stack, plan, profile_to, args.quick)
    started = datetime.now(UTC)
    run.phases["host"] = {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
    }
    t0 = time.perf_counter()
    say("bench: the router's CPU per request, in this process (bench/router.py)")
    run.phases["router"] = router.measure(*((300, 50) if args.quick else (2000, 200)))
    try:
        say(f"bench: starting PostgreSQL and Redis (scripts/services.sh, private to this run) on CPU {load_core}")
        stack.start_services()
        say("bench: fresh database aipower_bench: migrate, load_catalog, issue_key")
        stack.start_simulator()  # the gateway's environment names the simulator's URL
        stack.prepare_database()
        say(f"bench: simulator on CPU {load_core} at {stack.sim_url}; gateway on CPU {gateway_core}")
        stack.start_gateway()
        say(
            f"bench: gateway at {stack.gateway_url} (pid {stack.pid('gateway')}); measuring"
            f"{' (quick)' if args.quick else ''}"
        )
        runner = asyncio.Runner(loop_factory=_loop_factory())
        try:
            runner.run(run.measure())
        finally:
            runner.close()
        # Stop the gateway (lifespan shutdown writes the queued usage rows), then count them.
        stack.stop_process("gateway")
        run.phases["usage_rows"] = {"written": stack.usage_rows(), "expected": run.gateway_requests}
        if not args.no_litellm:
            from . import litellm

            try:
                url = litellm.start(stack, UPSTREAM[0], UPSTREAM[1], say)
                say(f"bench: LiteLLM proxy on CPU {gateway_core} at {url}; measuring")
                runner = asyncio.Runner(loop_factory=_loop_factory())
                try:
                    runner.run(run.measure_litellm(url))
                finally:
                    runner.close()
                stack.stop_process("litellm")
            except StackError as exc:
                say(f"bench: LiteLLM proxy not measured: {exc}")
                run.phases["litellm"] = {"error": str(exc)[:500]}
    except KeyboardInterrupt:
        say("\nbench: interrupted; stopping everything it started")
        return 130
    except StackError as exc:
        say(f"bench: {exc}")
        return 2
    finally:
        stack.stop()
        run.phases["host"]["loadavg_end"] = loadavg()

    checks = run.checks()
    conditions = _conditions(plan, stack, run, args.quick)
    how = _how(plan, stack, run)
    md = markdown(checks, conditions)
    bad = failed(checks)
    results = {
        "schema": 1,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - t0, 1),
        "quick": args.quick,
        "passed": not bad,
        "checks": [c.as_dict() for c in checks],
        "how": how,
        "setup": {
            "gateway_cpu": gateway_core,
            "load_cpu": load_core,
            "commands": stack.commands,
            "plan": plan.__dict__,
            "model": MODEL,
            "failover_route": failover.ROUTE,
            "skip": {
                "breaker": failover.SKIP_KEY,
                "with": failover.describe(failover.SKIP_LIST),
                "without": failover.describe(failover.SKIP_BASELINE),
            },
        },
        "phases": run.phases,
        "memory_kib": run.memory,
    }

    say("")
    say(table(checks))
    for c in checks:
        if c.note:
            say(f"  {c.name}: {c.note}")
    say("")
    say("How the numbers were taken:")
    for line in how:
        say(f"  - {line}")
    if profile_to is not None and profile_to.exists():
        from .profile import hotspots

        hot = hotspots(profile_to)
        results["profile"] = hot
        say("")
        say(
            f"Gateway profile during the throughput run (py-spy, {hot['samples']} busy samples; "
            f"raw stacks in {profile_to.relative_to(ROOT)}):"
        )
        for title, key, k in (
            ("by thread", "threads", 5),
            ("by component (where the CPU was)", "components", 15),
            ("top functions (own time)", "self", 15),
            ("the gateway's functions (inclusive time)", "project_inclusive", 25),
        ):
            say(f"  {title}:")
            for frame, share in hot[key][:k]:
                say(f"    {share:5.1f}%  {frame}")

    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    _write(out, orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    _write(out.with_suffix(".md"), md.encode())
    say("")
    say(f"Markdown for the README's performance section (also in {_rel(out.with_suffix('.md'))}):")
    say("")
    say(md)
    say(f"Results: {_rel(out)}")
    unmeasured = [c.name for c in checks if c.result == NOT_MEASURED]
    if unmeasured:
        say(f"bench: NOT MEASURED (see the notes above): {', '.join(unmeasured)}")
    if bad:
        say(f"bench: FAILED: {', '.join(c.name for c in bad)}")
        return 1
    say("bench: all required checks passed")
    return 0


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def _loop_factory():
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


if __name__ == "__main__":
    sys.exit(main())
