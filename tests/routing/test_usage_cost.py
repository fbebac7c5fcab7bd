"""Every completion reports what it cost the caller: `usage.cost` (USD, a JSON number written from
the integer nano-USD charge, never through a float) and `x-aipower-cost-usd`, and in a stream the
final usage chunk carries it; both equal the usage row's charge."""

import json
import re

import httpx
import orjson

from routing.costs import usd_text, with_cost


def test_it_renders_nano_usd_exactly():
    assert usd_text(0) == "0"
    assert usd_text(1) == "0.000000001"
    assert usd_text(1_234_567) == "0.001234567"
    assert usd_text(2 * 10**9) == "2"
    assert usd_text(12_345_678_901_234_567) == "12345678.901234567"
    assert usd_text(-150_000_000) == "-0.15"
    # 0.1 + 0.2 style values survive: the bytes are the digits, not a float's repr.
    assert orjson.dumps(with_cost({}, 300_000_001)) == b'{"cost":0.300000001}'
    assert with_cost({"a": 1}, None) == {"a": 1}


def test_a_completion_reports_its_cost_in_the_body_and_a_header(gateway, tenant, usage):
    resp = httpx.post(
        gateway.url + "/v1/chat/completions",
        timeout=30,
        headers={"authorization": f"Bearer {tenant.key}", "x-sim-cached-tokens": "7"},
        json={"model": "auto", "messages": [{"role": "user", "content": "What does it cost?"}]},
    )
    assert resp.status_code == 200
    [row] = usage(resp.headers["x-request-id"])
    assert row.charged_nusd > 0
    expected = usd_text(row.charged_nusd)
    assert resp.headers["x-aipower-cost-usd"] == expected
    # The digits in the body are exactly the charge (read as text, not parsed into a float).
    assert re.search(rb'"cost":(-?[0-9.]+)', resp.content).group(1).decode() == expected
    assert resp.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 7


def test_a_stream_reports_its_cost_in_the_final_usage_chunk(gateway, tenant, client, usage):
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        timeout=30,
        headers={"authorization": f"Bearer {tenant.key}"},
        json={
            "model": "auto-cheap",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Count to five."}],
        },
    ) as resp:
        events = [line for line in resp.iter_lines() if line.startswith("data: ")]
        request_id = resp.headers["x-request-id"]
    assert events[-1] == "data: [DONE]"
    final = events[-2]
    assert json.loads(final[6:])["choices"] == []
    [row] = usage(request_id)
    assert row.charged_nusd > 0
    assert re.search(r'"cost":(-?[0-9.]+)', final).group(1) == usd_text(row.charged_nusd)

    # The official SDK reads it as an extra field of usage.
    stream = client.chat.completions.create(
        model="auto-cheap",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Count to five."}],
    )
    last = list(stream)[-1]
    assert last.usage.model_extra["cost"] > 0
