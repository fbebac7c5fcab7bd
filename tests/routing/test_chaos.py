"""About a minute of concurrent traffic while providers go down and come back.

Every request must end in a complete, correct answer or a clean error; no stream repeats or
loses content; every request has exactly one usage row and at most one charge; the breakers open
and close.
"""

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

DURATION_S = 60
WORKERS = 12
PROVIDERS = ("deepseek", "qwen", "openai")
FAULTS = ("status:503", "drop", "hang", "error-event:0", "drop-mid-stream:2", "status:529")
MESSAGES = [{"role": "user", "content": "Tell me something about resilience."}]


def run_one(gw_url, key, stream, outcomes):
    body = {"model": "auto", "messages": MESSAGES, "stream": stream}
    headers = {"authorization": f"Bearer {key}", "x-sim-chunks": "8"}
    try:
        with httpx.stream("POST", gw_url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as resp:
            rid = resp.headers.get("x-request-id")
            if resp.status_code != 200:
                err = json.loads(resp.read())["error"]
                assert set(err) == {"message", "type", "param", "code"}
                outcomes.append(("error", rid, resp.status_code, None, None))
                return
            if not stream:
                data = json.loads(resp.read())
                outcomes.append(("ok", rid, data["model"], data["choices"][0]["message"]["content"], None))
                return
            text, model, done, failed = "", None, False, False
            for line in resp.iter_lines():
                if not line.startswith("data: "):
                    continue
                payload = line[6:]
                assert not done, "data after [DONE]"
                if payload == "[DONE]":
                    done = True
                    continue
                chunk = json.loads(payload)
                if "error" in chunk:
                    failed = True
                    continue
                assert not failed, "data after an error event"
                model = model or chunk["model"]
                assert chunk["model"] == model, "a stream switched models"
                text += "".join(c["delta"].get("content") or "" for c in chunk["choices"])
            assert done != failed, "a stream must end with exactly one of [DONE] or an error event"
            outcomes.append(("ok" if done else "cut", rid, model, text, None))
    except AssertionError as exc:
        outcomes.append(("broken", None, None, None, str(exc)))


@pytest.mark.chaos
def test_chaos(own_gateways, tenant, sim, usage, live_db):
    env = {
        "AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT": 1,
        "AIPOWER_BREAKER_CONSECUTIVE_FAILURES": 4,
        "AIPOWER_BREAKER_COOLDOWN_SECONDS": 2,
        "AIPOWER_BREAKER_SYNC_SECONDS": 0.1,
    }
    gw = own_gateways(**env)
    gw2 = own_gateways(**env)  # two processes sharing breakers through Redis
    redis_url = gw.env["REDIS_URL"]

    # The simulator answers deterministically: what each model says to these messages.
    expected = {}
    for model in (
        "deepseek/deepseek-chat",
        "qwen/qwen-plus",
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4",
        "google/gemini-2.5-flash",
        "openai/gpt-5.4",
        "google/gemini-2.5-pro",
    ):  # route auto's pool
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": model, "messages": MESSAGES},
            headers={"authorization": f"Bearer {tenant.key}", "x-sim-chunks": "8"},
            timeout=10,
        )
        expected[model] = r.json()["choices"][0]["message"]["content"]

    stop = threading.Event()
    seen_open, seen_closed_after_open = set(), set()

    def chaos_monkey():
        rng = random.Random(7)
        r = redis.Redis.from_url(redis_url) if redis_url else None
        while not stop.is_set():
            sim.clear()
            for provider in rng.sample(PROVIDERS, rng.randint(0, 2)):
                sim.fault(provider, rng.choice(FAULTS))
            for _ in range(6):
                if r is not None:
                    now = time.time()
                    open_now = {
                        k.decode() for k, until in r.zrange("aip:cb:open", 0, -1, withscores=True) if until > now
                    }
                    seen_closed_after_open.update(seen_open - open_now)
                    seen_open.update(open_now)
                if stop.wait(0.5):
                    break
        sim.clear()

    outcomes = []
    monkey = threading.Thread(target=chaos_monkey)
    monkey.start()
    deadline = time.monotonic() + DURATION_S

    def worker(i):
        n = 0
        while time.monotonic() < deadline:
            run_one((gw, gw2)[n % 2].url, tenant.key, stream=(i + n) % 2 == 0, outcomes=outcomes)
            n += 1

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))
    stop.set()
    monkey.join()

    broken = [o for o in outcomes if o[0] == "broken"]
    assert not broken, broken[:5]
    ok = [o for o in outcomes if o[0] == "ok"]
    cut = [o for o in outcomes if o[0] == "cut"]
    errors = [o for o in outcomes if o[0] == "error"]
    assert len(ok) > 100 and len(outcomes) == len(ok) + len(cut) + len(errors)
    for _, rid, model, text, _ in ok:
        assert text == expected[model], f"{rid}: {model} answered {text!r}"
    for _, rid, model, text, _ in cut:
        assert expected[model].startswith(text), f"{rid}: a cut stream is not a prefix of the answer"

    from analytics.models import UsageRecord

    ids = [o[1] for o in outcomes]
    time.sleep(0.5)
    with live_db.unblock():
        rows = list(UsageRecord.objects.filter(request_id__in=ids).values_list("request_id", "status", "charged_nusd"))
    by_id = {}
    for rid, status, charged in rows:
        by_id.setdefault(rid, []).append((status, charged))
    assert all(len(by_id.get(rid, [])) == 1 for rid in ids), "every request has exactly one usage row"
    assert all(by_id[rid][0][1] == 0 for rid in (o[1] for o in errors)), "errors are not charged"
    assert all(by_id[rid][0][1] > 0 for rid in (o[1] for o in ok)), "answers are charged once"
    if redis_url:
        assert seen_open, "no breaker opened"
        assert seen_closed_after_open, "no breaker closed again"
