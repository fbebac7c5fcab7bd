"""Percentiles, the checks (target, measured value, PASS/FAIL), and the printed and written report."""

import math
from dataclasses import asdict, dataclass


def percentile(values, p: float) -> float | None:
    """The p-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return None
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def percentile_diff_ms(a, b, p: float) -> float | None:
    """Percentile p of series a minus percentile p of series b (seconds), in ms."""
    pa, pb = percentile(a, p), percentile(b, p)
    return None if pa is None or pb is None else (pa - pb) * 1000


def error_note(replies) -> str:
    """How many replies failed, and a few of their errors ("" if none did)."""
    bad = [r for r in replies if not r.ok]
    if not bad:
        return ""
    samples = sorted({r.error for r in bad})[:3]
    return f"{len(bad)} of {len(replies)} failed: {'; '.join(samples)}"


def summary_ms(seconds) -> dict:
    """Count, mean and percentiles of a series of durations, in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "mean": round(sum(ms) / len(ms), 3),
        "min": round(min(ms), 3),
        "p50": round(percentile(ms, 50), 3),
        "p90": round(percentile(ms, 90), 3),
        "p99": round(percentile(ms, 99), 3),
        "max": round(max(ms), 3),
    }


def max_in_window(times, window: float) -> int:
    """The largest number of events whose times fall within any `window` seconds."""
    xs = sorted(times)
    best, j = 0, 0
    for i in range(len(xs)):
        while xs[i] - xs[j] > window:
            j += 1
        best = max(best, i - j + 1)
    return best


PASS, FAIL, INFO, NOT_MEASURED = "PASS", "FAIL", "info", "not measured"


@dataclass(slots=True)
class Check:
    id: str
    name: str
    target: str  # as shown, e.g. "<= 3 ms"
    measured: str  # as shown
    value: float | int | None  # the number compared (None when not measured)
    result: str  # PASS | FAIL | info | not measured
    required: bool
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def at_most(id, name, value, limit, unit, *, required=True, note="", digits=2) -> Check:
    if value is None:
        return Check(id, name, f"<= {limit} {unit}", "-", None, NOT_MEASURED if not required else FAIL, required, note)
    return Check(
        id,
        name,
        f"<= {limit} {unit}",
        f"{value:.{digits}f} {unit}",
        round(value, 4),
        PASS if value <= limit else FAIL,
        required,
        note,
    )


def at_least(id, name, value, limit, unit, *, required=True, note="", digits=0) -> Check:
    if value is None:
        return Check(id, name, f">= {limit} {unit}", "-", None, FAIL, required, note)
    return Check(
        id,
        name,
        f">= {limit} {unit}",
        f"{value:.{digits}f} {unit}",
        round(value, 4),
        PASS if value >= limit else FAIL,
        required,
        note,
    )


def not_measured(id, name, target, why) -> Check:
    """A check whose preconditions did not hold: shown with the reason, neither passed nor failed."""
    return Check(id, name, target, NOT_MEASURED, None, NOT_MEASURED, False, why)


def failed(checks) -> list[Check]:
    return [c for c in checks if c.required and c.result == FAIL]


def table(checks) -> str:
    rows = [("Check", "Target", "Measured", "Result")]
    for c in checks:
        result = c.result if c.required or c.result in (INFO, NOT_MEASURED) else f"{c.result} (not required)"
        rows.append((c.name, c.target, c.measured, result))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = [line]
    for i, r in enumerate(rows):
        out.append("| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)) + " |")
        if i == 0:
            out.append(line.replace("-", "="))
    out.append(line)
    return "\n".join(out)


def markdown(checks, conditions: str) -> str:
    """A table to paste into the README's performance section, with one line on how it was taken."""
    lines = [conditions, "", "| Measure | Target | Measured | Result |", "|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.name} | {c.target} | {c.measured} | {c.result} |")
    return "\n".join(lines) + "\n"
