"""Odd but valid input never breaks the request path: every answer is OpenAI's error JSON (or a
completion), with a 4xx for what the caller can fix, and the usage row names the true cause."""

import json

import httpx
import pytest

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4", "google/gemini-2.5-flash", "deepseek/deepseek-chat"]
HELLO = [{"role": "user", "content": "hi"}]


def nested(depth: int):
    value = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


ODD = {
    "schema_is_a_list": {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": [1, 2]}}},
    "schema_is_a_string": {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": "s"}}},
    "schema_is_true": {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": True}}},
    "deep_extra_field": {"metadata_extra": nested(600)},
    "deep_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object", "properties": nested(400)}},
        }
    },
    "deep_tool_parameters": {"tools": [{"type": "function", "function": {"name": "f", "parameters": nested(400)}}]},
}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("case", sorted(ODD))
@pytest.mark.parametrize("stream", [False, True])
def test_it_answers_odd_input_in_openai_shape_and_records_its_cause(gateway, tenant, usage, model, case, stream):
    body = {"model": model, "messages": HELLO, "stream": stream, **ODD[case]}
    r = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=json.dumps(body),
        timeout=30,
        headers={"authorization": f"Bearer {tenant.key}", "content-type": "application/json"},
    )
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    if r.status_code == 400:
        assert r.headers["content-type"].startswith("application/json")
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"]
    rows = usage(r.headers["x-request-id"])
    assert len(rows) == 1
    row = rows[0]
    assert row.http_status == r.status_code and row.status != "client_disconnected"
    assert row.status == ("ok" if r.status_code == 200 else "client_error")
