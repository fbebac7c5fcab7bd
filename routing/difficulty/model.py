"""The shipped difficulty estimator: loads model.json (built by scripts/train_router.py; no
network) and scores a request's messages in [0, 1], higher = a stronger model is more needed."""

import bisect
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .features import Unassessable, featurize, last_user_text, looks_like_code

ARTIFACT = Path(__file__).with_name("model.json")


@dataclass(frozen=True, slots=True)
class Assessment:
    difficulty: float | None  # None: nothing to assess (see note)
    code: bool = False
    note: str = ""  # why there is no difficulty


class Estimator:
    def __init__(self, artifact: dict):
        self.weights: dict[str, float] = artifact["weights"]
        self.quantiles: list[float] = artifact["quantiles"]

    def raw(self, sample: str, total_chars: int) -> float:
        w = self.weights
        return sum(w.get(k, 0.0) * v for k, v in featurize(sample, total_chars).items())

    def calibrate(self, raw: float) -> float:
        """The share of training prompts scored below `raw`, interpolated: [0, 1]."""
        q = self.quantiles
        i = bisect.bisect_right(q, raw)
        if i == 0:
            return 0.0
        if i >= len(q):
            return 1.0
        lo, hi = q[i - 1], q[i]
        frac = (raw - lo) / (hi - lo) if hi > lo else 0.0
        return min(1.0, max(0.0, (i - 1 + frac) / (len(q) - 1)))

    def difficulty_of_text(self, text: str) -> float:
        sample, total = last_user_text([{"role": "user", "content": text}])
        return self.calibrate(self.raw(sample, total))

    def assess(self, messages) -> Assessment:
        try:
            sample, total = last_user_text(messages)
        except Unassessable as exc:
            return Assessment(None, note=str(exc))
        raw = self.raw(sample, total)
        if math.isnan(raw):
            return Assessment(None, note="the prompt could not be scored")
        return Assessment(round(self.calibrate(raw), 3), code=looks_like_code(sample))


@lru_cache(maxsize=1)
def estimator() -> Estimator:
    return Estimator(json.loads(ARTIFACT.read_text(encoding="utf-8")))
