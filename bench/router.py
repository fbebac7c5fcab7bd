"""The router's CPU cost per request: `python -m bench.router [--quick]` (also part of `make bench`).

What the gateway does to choose for one request, beyond parsing it: `smart.policy_inputs` (live
stats, the quality trade-off) and `policy.plan` (the route's policy over its pool, for `auto` the
difficulty estimate of the prompt, the fallback chains), on the seed catalog, in this process.
Measured per call with the thread's CPU clock, for prompts of about 1k, 10k and 100k tokens; the
estimator reads at most a fixed sample of the prompt, so the cost must not grow with its size.
"""

import argparse
import os
import sys
import time

SIZES = (1_000, 10_000, 100_000)  # prompt tokens (about 4 characters each)
ROUTES = ("auto", "auto-cheap", "auto-fast")
TARGET_MS = 0.3  # median, route auto, every size
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "a",
    "careful",
    "engineer",
    "reviews",
    "the",
    "pull",
    "request",
    "and",
    "asks",
    "why",
    "the",
    "cache",
    "misses",
    "on",
    "every",
    "second",
    "call",
]


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipower.settings")
    import django

    django.setup()


def prompt_of(tokens: int) -> str:
    words, chars, i = [], 0, 0
    while chars < tokens * 4:
        w = WORDS[i % len(WORDS)]
        words.append(w)
        chars += len(w) + 1
        i += 1
    return " ".join(words)


def measure(iterations: int = 2000, warmup: int = 200) -> dict:
    _setup()
    from routing import policy, seed, smart
    from routing.difficulty.model import estimator
    from routing.request import validate

    estimator()  # loaded once per process, at the first auto request
    snapshot = seed.snapshot()
    headers: dict = {}
    results = {}
    for route in ROUTES:
        for tokens in SIZES:
            body = {
                "model": route,
                "messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": prompt_of(tokens)},
                ],
            }
            features = validate(body)
            samples = []
            for i in range(warmup + iterations):
                t0 = time.thread_time_ns()
                p = policy.plan(
                    route, features, snapshot, extra_models=None, **smart.policy_inputs(headers, None, snapshot, body)
                )
                t1 = time.thread_time_ns()
                if i >= warmup:
                    samples.append((t1 - t0) / 1e6)
            samples.sort()
            results[f"{route}@{tokens}"] = {
                "route": route,
                "prompt_tokens": tokens,
                "estimated_tokens": features.prompt_tokens,
                "first": p.candidates[0].public_id,
                "reason": p.reason,
                "n": len(samples),
                "median_ms": round(samples[len(samples) // 2], 4),
                "p90_ms": round(samples[int(len(samples) * 0.9)], 4),
                "p99_ms": round(samples[int(len(samples) * 0.99)], 4),
            }
    return results


def verdict(results: dict) -> tuple[bool, float, str]:
    """(passed, worst median of route auto, note)."""
    auto = [r for r in results.values() if r["route"] == "auto"]
    worst = max(r["median_ms"] for r in auto)
    growth = auto[-1]["median_ms"] / auto[0]["median_ms"] if auto[0]["median_ms"] else 0.0
    note = ", ".join(f"{r['prompt_tokens'] // 1000}k: {r['median_ms'] * 1000:.0f} us" for r in auto)
    return worst <= TARGET_MS, worst, f"{note} (100k/1k = {growth:.2f}x)"


def check(results: dict):
    """The benchmark's check (bench/runner.py)."""
    from .report import at_most

    ok, worst, note = verdict(results)
    return at_most(
        "router_cpu_p50",
        "Router CPU per request, route auto, median (1k/10k/100k-token prompts)",
        worst,
        TARGET_MS,
        "ms",
        note=note,
        digits=3,
    )


def table(results: dict) -> str:
    lines = ["| Route | Prompt | Median | p90 | p99 | First choice |", "|---|---|---|---|---|---|"]
    for r in results.values():
        lines.append(
            f"| {r['route']} | {r['prompt_tokens'] // 1000}k tokens | {r['median_ms'] * 1000:.0f} us | "
            f"{r['p90_ms'] * 1000:.0f} us | {r['p99_ms'] * 1000:.0f} us | {r['first']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.router", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 calls per case instead of 2000")
    args = ap.parse_args(argv)
    results = measure(300 if args.quick else 2000, 50 if args.quick else 200)
    print(table(results))
    ok, worst, note = verdict(results)
    print(
        f"router CPU per request, route auto, median: worst {worst * 1000:.0f} us "
        f"(target <= {TARGET_MS * 1000:.0f} us) -- {'PASS' if ok else 'FAIL'}; {note}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
