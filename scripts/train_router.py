"""Trains the difficulty estimator of route `auto` and writes routing/difficulty/model.json.

    python scripts/train_router.py [--data ../shared/data/router] [--out PATH] [--limit N] [--validate]

Trained on routellm/data.jsonl only (Apache-2.0; see routing/difficulty/PROVENANCE.md). The
target: the strong model (gpt-4-1106-preview) did better than the weak one (Mixtral-8x7B) on the
prompt. Logistic regression on the lexical features of routing/difficulty/features.py, by plain
stochastic gradient descent in a fixed order: the same data gives the same file, byte for byte.
One prompt in five (by a hash of its id) is held out for validation.

--validate also scores the held-out routellm prompts and alpaca_eval (validation only: its licence
forbids training a shipped model on it) and writes routing/difficulty/VALIDATION.md.
"""

import argparse
import json
import math
import random
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing.difficulty import metrics  # noqa: E402
from routing.difficulty.features import featurize, last_user_text  # noqa: E402

STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
EPOCHS = 8
RATE = 0.2
L2 = 1e-5
MIN_COUNT = 6
QUANTILES = 100


def held_out(row_id: str) -> bool:
    return zlib.crc32(row_id.encode()) % 5 == 0


def load_routellm(path: Path, limit: int | None = None):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            s, w = float(r["labels"][STRONG]), float(r["labels"][WEAK])
            if r["meta"].get("label_type") == "gpt4_single_score_1_10":
                s, w = s / 10.0, w / 10.0
            rows.append({"id": r["id"], "source": r["source"], "prompt": r["prompt"], "strong": s, "weak": w})
    rows.sort(key=lambda r: r["id"])
    if limit:
        rows = [r for r in rows if zlib.crc32(r["id"].encode()) % max(1, len(rows) // limit) == 0][:limit]
    return rows


def features_of(prompt: str) -> dict[str, float]:
    sample, total = last_user_text([{"role": "user", "content": prompt}])
    return featurize(sample, total)


def train(rows) -> dict:
    feats = [features_of(r["prompt"]) for r in rows]
    counts: dict[str, int] = {}
    for f in feats:
        for k in f:
            counts[k] = counts.get(k, 0) + 1
    vocab = {k for k, c in counts.items() if c >= MIN_COUNT or ":" not in k}
    feats = [{k: v for k, v in f.items() if k in vocab} for f in feats]
    labels = [1.0 if r["strong"] > r["weak"] else 0.0 for r in rows]
    pos = sum(labels)
    # Balanced: each class weighs as much in total.
    weight = {1.0: len(labels) / (2 * pos), 0.0: len(labels) / (2 * (len(labels) - pos))}
    w: dict[str, float] = {}
    order = list(range(len(rows)))
    rng = random.Random(0)
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        rate = RATE / (1 + epoch)
        for i in order:
            f, y = feats[i], labels[i]
            z = sum(w.get(k, 0.0) * v for k, v in f.items())
            p = 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))
            g = (p - y) * weight[y]
            for k, v in f.items():
                old = w.get(k, 0.0)
                w[k] = old - rate * (g * v + L2 * old)
    weights = {k: round(v, 5) for k, v in sorted(w.items()) if abs(v) >= 5e-4}
    raw = sorted(_raw(weights, f) for f in feats)
    quantiles = [round(raw[min(len(raw) - 1, (len(raw) - 1) * q // QUANTILES)], 5) for q in range(QUANTILES + 1)]
    return {"weights": weights, "quantiles": quantiles}


def _raw(weights, f) -> float:
    return sum(weights.get(k, 0.0) * v for k, v in f.items())


def build(data_dir: Path, limit: int | None = None) -> tuple[dict, list, list]:
    rows = load_routellm(data_dir / "routellm" / "data.jsonl", limit)
    train_rows = [r for r in rows if not held_out(r["id"])]
    test_rows = [r for r in rows if held_out(r["id"])]
    model = train(train_rows)
    artifact = {
        "format": "aipower-difficulty/1",
        "description": "Logistic regression on lexical features (routing/difficulty/features.py): "
        "P(the strong model does better than the weak one on this prompt), "
        "calibrated to [0, 1] by its quantiles over the training prompts.",
        "trained_on": "routellm/data.jsonl (lm-sys/RouteLLM @ 0b64fdafe049e596a3f5657c219329f24af24198, "
        "Apache-2.0), held-out one in five by crc32(id) % 5 == 0",
        "train_rows": len(train_rows),
        "hyperparameters": {"epochs": EPOCHS, "rate": RATE, "l2": L2, "min_count": MIN_COUNT, "seed": 0},
        **model,
    }
    return artifact, train_rows, test_rows


def dump(artifact: dict) -> str:
    return json.dumps(artifact, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def _report(name, scores, weak, strong) -> dict:
    return {
        "set": name,
        "n": len(scores),
        "weak_mean": sum(weak) / len(weak),
        "strong_mean": sum(strong) / len(strong),
        "apgr": metrics.apgr(scores, weak, strong),
        "oracle_apgr": metrics.apgr(metrics.oracle_scores(weak, strong), weak, strong),
        "share95": metrics.share_for_pgr(scores, weak, strong, 0.95),
        "oracle_share95": metrics.share_for_pgr(metrics.oracle_scores(weak, strong), weak, strong, 0.95),
        "quality95": metrics.share_for_quality(scores, weak, strong, 0.95),
        "random_quality95": max(0.0, (0.95 * sum(strong) - sum(weak)) / (sum(strong) - sum(weak))),
        "oracle_quality95": metrics.share_for_quality(metrics.oracle_scores(weak, strong), weak, strong, 0.95),
    }


def validate(artifact: dict, test_rows, data_dir: Path) -> list[dict]:
    from routing.difficulty.model import Estimator

    est = Estimator(artifact)
    out = []
    sets = {"routellm held-out (all)": test_rows}
    for src in ("routellm_mmlu", "routellm_gsm8k", "routellm_mt_bench"):
        part = [r for r in test_rows if r["source"] == src]
        if part:
            sets[f"routellm held-out ({src.split('_', 1)[1]})"] = part
    for name, rows in sets.items():
        scores = [est.difficulty_of_text(r["prompt"]) for r in rows]
        out.append(_report(name, scores, [r["weak"] for r in rows], [r["strong"] for r in rows]))
    alpaca = []
    with open(data_dir / "alpaca_eval" / "data.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            alpaca.append(
                (r["prompt"], float(r["labels"]["gpt-3.5-turbo-1106"]), float(r["labels"]["gpt4_1106_preview"]))
            )
    scores = [est.difficulty_of_text(p) for p, _, _ in alpaca]
    out.append(
        _report(
            "alpaca_eval (weak gpt-3.5-turbo-1106, strong gpt4_1106_preview)",
            scores,
            [w for _, w, _ in alpaca],
            [s for _, _, s in alpaca],
        )
    )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "router")
    ap.add_argument("--out", type=Path, default=ROOT / "routing" / "difficulty" / "model.json")
    ap.add_argument("--limit", type=int, default=None, help="train on about this many prompts (a quick check)")
    ap.add_argument("--validate", action="store_true")
    args = ap.parse_args(argv)
    artifact, _, test_rows = build(args.data, args.limit)
    args.out.write_text(dump(artifact), encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(artifact['weights'])} weights)")
    if args.validate:
        results = validate(artifact, test_rows, args.data)
        for r in results:
            print(json.dumps(r))
        (ROOT / "routing" / "difficulty" / "validation.json").write_text(json.dumps(results, indent=1) + "\n")
        table = validation_table(results)
        print(table)
        path = ROOT / "routing" / "difficulty" / "VALIDATION.md"
        text = path.read_text(encoding="utf-8")
        start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
        path.write_text(text[:start] + TABLE_START + "\n" + table + TABLE_END + text[end:], encoding="utf-8")
    return 0


TABLE_START = "<!-- results: written by scripts/train_router.py --validate -->"
TABLE_END = "<!-- end of results -->"


def validation_table(results) -> str:
    lines = [
        "| Set | Prompts | Weak / strong mean | APGR router | random | oracle | "
        "Strong share at 95% of the strong model's quality: router | random | oracle | "
        "Strong share for 95% PGR: router | random | oracle |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['set']} | {r['n']} | {r['weak_mean']:.3f} / {r['strong_mean']:.3f} | "
            f"**{r['apgr']:.3f}** | 0.500 | {r['oracle_apgr']:.3f} | **{r['quality95']:.1%}** | "
            f"{r['random_quality95']:.1%} | {r['oracle_quality95']:.1%} | **{r['share95']:.1%}** | 95.0% | "
            f"{r['oracle_share95']:.1%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
