"""The difficulty estimator of route `auto`: the shipped artifact is what the training script
builds, it loads without any network, and what it reads of a prompt is bounded."""

import importlib.util
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
