"""The shipped difficulty estimator: loads model.json (built by scripts/train_router.py; no
network) and scores a request's messages in [0, 1], higher = a stronger model is more needed."""

import bisect
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .features import Unassessable, analyse, last_user_text

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
        return self._score(*analyse(sample, total_chars)[:2])

    def _score(self, keys, dense) -> float:
        """The same sum as over featurize()'s dict, without building it."""
        w = self.weights
        scale = 1.0 / math.sqrt(max(len(keys) + len(dense), 1))
        sparse = sum(w[k] for k in keys if k in w)
        return sparse * scale + sum(w.get(k, 0.0) * v for k, v in dense.items())

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
        keys, dense, code = analyse(sample, total)
        raw = self._score(keys, dense)
        if math.isnan(raw):
            return Assessment(None, note="the prompt could not be scored")
        return Assessment(round(self.calibrate(raw), 3), code=code)


@lru_cache(maxsize=1)
def estimator() -> Estimator:
    return Estimator(json.loads(ARTIFACT.read_text(encoding="utf-8")))
