"""Router quality measures (as in RouteLLM's paper): performance gap recovered as the share of
prompts sent to the strong model grows, its average (APGR), and the strong share needed to
recover a given part of the gap."""

from itertools import pairwise


def pgr_curve(scores: list[float], weak: list[float], strong: list[float], points: int = 101) -> list[float]:
    """PGR at strong shares 0, 1/(points-1), ..., 1: the highest-scored prompts go to the strong
    model first (ties broken by input order)."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: -scores[i])
    base, top = sum(weak), sum(strong)
    gap = top - base
    # gain[k]: what sending the first k prompts of `order` to the strong model adds.
    gain = [0.0]
    for i in order:
        gain.append(gain[-1] + strong[i] - weak[i])
    curve = []
    for j in range(points):
        k = round(j * n / (points - 1))
        curve.append(gain[k] / gap if gap else 0.0)
    return curve


def apgr(scores, weak, strong, points: int = 101) -> float:
    """The average of the PGR curve (trapezoid rule over strong shares 0..1)."""
    c = pgr_curve(scores, weak, strong, points)
    return sum((a + b) / 2 for a, b in pairwise(c)) / (len(c) - 1)


def share_for_pgr(scores, weak, strong, target: float = 0.95, points: int = 1001) -> float:
    """The smallest strong-model share whose PGR reaches `target` (1.0 when none short of all)."""
    for j, v in enumerate(pgr_curve(scores, weak, strong, points)):
        if v >= target:
            return j / (points - 1)
    return 1.0


def share_for_quality(scores, weak, strong, target: float = 0.95, points: int = 1001) -> float:
    """The smallest strong-model share whose mean quality reaches `target` times the strong
    model's own (as a PGR: (target * strong - weak) / (strong - weak))."""
    base, top = sum(weak) / len(weak), sum(strong) / len(strong)
    if top == base:
        return 0.0
    return share_for_pgr(scores, weak, strong, (target * top - base) / (top - base), points)


def oracle_scores(weak, strong) -> list[float]:
    return [s - w for w, s in zip(weak, strong, strict=True)]
