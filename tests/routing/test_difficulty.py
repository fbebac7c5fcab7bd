"""The difficulty estimator of route `auto`: the shipped artifact is what the training script
builds, it loads without any network, and what it reads of a prompt is bounded."""

import importlib.util
import json
from pathlib import Path

import pytest

from routing.difficulty import metrics
from routing.difficulty.features import HEAD_CHARS, TAIL_CHARS, last_user_text
from routing.difficulty.model import ARTIFACT, estimator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "router"


def _script():
    spec = importlib.util.spec_from_file_location("train_router", ROOT / "scripts" / "train_router.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (DATA / "routellm" / "data.jsonl").exists(), reason="the routellm data is not here")
def test_the_training_script_rebuilds_the_shipped_artifact_byte_for_byte():
    train = _script()
    artifact, train_rows, held_out = train.build(DATA)
    assert train.dump(artifact) == ARTIFACT.read_text(encoding="utf-8")
    assert artifact["train_rows"] == len(train_rows) and not {r["id"] for r in train_rows} & {r["id"] for r in held_out}
    assert 0.15 < len(held_out) / (len(train_rows) + len(held_out)) < 0.25
    assert ARTIFACT.stat().st_size < 3_000_000


def test_the_artifact_says_where_it_comes_from():
    est = estimator()
    assert len(est.quantiles) == 101 and est.quantiles == sorted(est.quantiles)
    provenance = (ARTIFACT.parent / "PROVENANCE.md").read_text()
    assert "Apache-2.0" in provenance and "0b64fdafe049e596a3f5657c219329f24af24198" in provenance
    assert "**APGR**" in (ARTIFACT.parent / "VALIDATION.md").read_text()


def test_it_reads_a_bounded_sample_of_any_prompt():
    for size in (10, 10_000, 4_000_000):
        sample, total = last_user_text([{"role": "user", "content": "x" * size}])
        assert total == size and len(sample) <= HEAD_CHARS + TAIL_CHARS + 1
    parts = [
        {"type": "text", "text": "a" * 5_000},
        {"type": "image_url", "image_url": {"url": "https://x/y"}},
        {"type": "text", "text": "b" * 5_000},
    ]
    sample, total = last_user_text([{"role": "user", "content": parts}])
    assert total == 10_000 and sample.startswith("a") and sample.endswith("b")


def test_harder_looking_prompts_score_higher_than_greetings():
    est = estimator()
    hi = est.assess([{"role": "user", "content": "hi"}]).difficulty
    proof = est.assess(
        [
            {
                "role": "user",
                "content": "Prove that the square root of 2 is irrational, then show "
                "that there are infinitely many primes of the form 4k+3.",
            }
        ]
    )
    assert 0.0 <= hi < proof.difficulty <= 1.0


def test_the_metrics_rank_an_oracle_above_random():
    weak, strong = [0, 0, 1, 0, 1, 0], [1, 1, 1, 0, 1, 1]
    oracle = metrics.oracle_scores(weak, strong)
    assert metrics.apgr(oracle, weak, strong) > 0.5 > metrics.apgr([-g for g in oracle], weak, strong)
    assert metrics.share_for_pgr(oracle, weak, strong, 0.95) <= 0.5
    assert metrics.pgr_curve(oracle, weak, strong, 3)[-1] == 1.0


def test_the_readme_and_validation_md_show_the_results_file():
    train = _script()
    results = json.loads((ARTIFACT.parent / "validation.json").read_text())
    assert train.readme_table(results) in (ROOT / "README.md").read_text()
    assert train.validation_table(results) in (ARTIFACT.parent / "VALIDATION.md").read_text()
    # Both alpaca_eval judges are reported, each row named by its judge.
    assert {train.ALPACA_V2, train.ALPACA_V1} <= {r["set"] for r in results}


def _alpaca_row(i, labels, v1):
    return {
        "id": f"alpaca_eval/{i}",
        "prompt": f"prompt {i}",
        "labels": labels,
        "extra_labels": {"alpaca_eval_gpt4": v1},
    }


def test_alpaca_eval_is_validated_under_both_judges_without_prompts_missing_a_label(tmp_path):
    train = _script()
    weak, strong = train.ALPACA_WEAK, train.ALPACA_STRONG
    rows = [
        _alpaca_row(0, {weak: 0.1, strong: 0.5}, {weak: 0.0, strong: 1.0}),
        _alpaca_row(1, {weak: 0.3, strong: 0.5}, {weak: 1.0}),  # no AlpacaEval 1.0 label for the strong model
        _alpaca_row(2, {weak: 0.2, strong: 0.5}, {weak: 0.5, strong: 1.0, "other-model": 0.0}),
    ]
    (tmp_path / "alpaca_eval").mkdir()
    (tmp_path / "alpaca_eval" / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    held_out = [{"prompt": "q", "source": "routellm_gsm8k", "weak": 0.0, "strong": 1.0}]

    sets = train.validation_sets(held_out, tmp_path)

    assert list(sets) == ["routellm held-out (all)", "routellm held-out (gsm8k)", train.ALPACA_V2, train.ALPACA_V1]
    assert sets[train.ALPACA_V2] == (["prompt 0", "prompt 1", "prompt 2"], [0.1, 0.3, 0.2], [0.5, 0.5, 0.5])
    assert sets[train.ALPACA_V1] == (["prompt 0", "prompt 2"], [0.0, 0.5], [1.0, 1.0])
