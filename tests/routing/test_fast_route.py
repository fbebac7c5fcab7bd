"""auto-fast follows the time to first token the gateways measure, shared through Redis: when
one provider slows down (the simulator holds its answers back) traffic moves away from it within
a minute, on a gateway that never saw it slow too, and comes back once it recovers."""

import time

import openai

FAST_ENV = {
    "AIPOWER_TTFT_WINDOW_SECONDS": 60,
    "AIPOWER_TTFT_SAMPLES": 5,
    "AIPOWER_TTFT_MIN_SAMPLES": 2,
    "AIPOWER_TTFT_SYNC_SECONDS": 0.2,
    "AIPOWER_TTFT_PROBE_SECONDS": 1,
    "AIPOWER_TTFT_UNMEASURED_MS": 300,
}
HELLO = [{"role": "user", "content": "hi"}]


def ask(gw, key):
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30) as c:
        raw = c.chat.completions.with_raw_response.create(model="auto-fast", messages=HELLO)
        return raw.parse().model, raw.headers["x-aipower-route-reason"]


def until(gw, key, predicate, seconds=60.0):
    """Asks until predicate(model, reason) holds; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        model, reason = ask(gw, key)
        if predicate(model, reason):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds}s; last: {model} ({reason})")


def test_auto_fast_moves_away_from_a_slow_provider_and_back_across_gateways(own_gateways, tenant, sim):
    a = own_gateways(**FAST_ENV)
    b = own_gateways(**FAST_ENV)
    for _ in range(3):
        assert ask(a, tenant.key)[0] == "qwen/qwen-turbo"

    sim.fault("qwen", "slow-first-byte:800")
    took = until(a, tenant.key, lambda m, r: m != "qwen/qwen-turbo")
    assert took < 60

    # The other gateway served none of this, and reads the same measurements.
    time.sleep(0.5)
    answers = [ask(b, tenant.key) for _ in range(4)]
    chosen = [(m, r) for m, r in answers if not r.startswith("probing")]
    assert chosen and all(m == "google/gemini-2.5-flash" for m, _ in chosen), answers
    assert any(r.startswith("lowest time to first token: google/gemini-2.5-flash") for _, r in chosen)

    sim.clear()
    took = until(b, tenant.key, lambda m, r: m == "qwen/qwen-turbo" and not r.startswith("probing"))
    assert took < 60
    model, reason = ask(a, tenant.key)
    assert model == "qwen/qwen-turbo" or reason.startswith("probing"), (model, reason)
