"""`manage.py score_prompts`: JSON lines in, one JSON line out per prompt, scored by the same code
as the live gateway (its /v1/route/explain agrees), 300 prompts in a few seconds."""

import json
import os
import subprocess
import sys
import time

import httpx

from tests.servers import ROOT

KINDS = [
    "hi",
    "What is the capital of France?",
    "Write a limerick about a cat.",
    "Prove that the square root of 2 is irrational and generalise the argument to any prime.",
    "写一个关于秋天的短故事",
    "Explique la photosynthèse en détail.",
    "```python\ndef add(a, b):\n    return a - b\n```\nWhy does this return the wrong sum? Fix the bug.",
]


def prompts(n=300):
    rows = []
    for i in range(n):
        text = KINDS[i % len(KINDS)] + (f" (variant {i})" if i % 3 else "")
        rows.append({"id": f"p{i}", "messages": [{"role": "user", "content": text}]})
    rows[5]["messages"] = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]}
    ]
    rows[6]["messages"] = [{"role": "user", "content": "lorem ipsum " * 50_000}]
    return rows


def score(database_url, rows, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "aipower.settings"}
    data = "".join(json.dumps(r) + "\n" for r in rows)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "score_prompts", *args],
        cwd=ROOT,
        env=env,
        input=data,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


def test_it_scores_300_prompts_in_a_few_seconds(test_database_url):
    rows = prompts()
    done, took = score(test_database_url, rows, "--route", "auto")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["id"] for o in out] == [r["id"] for r in rows]
    assert took < 10, took  # including the interpreter's and Django's start-up
    for o in out:
        assert set(o) == {"id", "model", "difficulty", "tier", "reason"}
    assessed = [o for o in out if o["difficulty"] is not None]
    assert len(assessed) == 299 and all(0.0 <= o["difficulty"] <= 1.0 for o in assessed)
    tiers = {o["tier"] for o in assessed}
    assert "economy" in tiers and tiers & {"premium", "code"}, tiers
    assert out[5]["difficulty"] is None and out[5]["reason"].endswith("route default")
    assert "larger context window" in out[6]["reason"]


def test_it_agrees_with_the_gateways_explain(test_database_url, gateway, tenant):
    rows = prompts(len(KINDS))
    done, _ = score(test_database_url, rows, "--route", "auto", "--quality", "0.7")
    out = [json.loads(line) for line in done.stdout.splitlines()]
    for row, scored in zip(rows, out, strict=True):
        live = httpx.post(
            gateway.url + "/v1/route/explain",
            json={"model": "auto", "messages": row["messages"]},
            headers={"authorization": f"Bearer {tenant.key}", "x-aipower-quality": "0.7"},
        ).json()
        assert (scored["model"], scored["difficulty"], scored["tier"], scored["reason"]) == (
            live["model"],
            live["difficulty"],
            live["tier"],
            live["reason"],
        )


def test_bad_lines_get_an_error_and_the_rest_are_scored(test_database_url):
    env_rows = [{"id": "ok", "messages": [{"role": "user", "content": "hi"}]}, {"id": "bad", "messages": []}]
    done, _ = score(test_database_url, env_rows, "--route", "auto-cheap")
    assert done.returncode == 1
    ok, bad = [json.loads(line) for line in done.stdout.splitlines()]
    assert ok["model"] == "qwen/qwen-turbo" and ok["difficulty"] is None
    assert bad["id"] == "bad" and "messages" in bad["error"]
    unknown, _ = score(test_database_url, env_rows[:1], "--route", "auto-nothing")
    assert unknown.returncode != 0 and "No route or model named" in unknown.stderr
