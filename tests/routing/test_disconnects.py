"""A caller that goes away mid-stream still leaves exactly one usage row, for what it received."""

import time

import orjson

from tests.servers import stream_then_hang_up


def test_a_disconnect_mid_stream_keeps_its_usage_row(gateway, tenant, usage):
    body = orjson.dumps({"model": "auto", "stream": True, "messages": [{"role": "user", "content": "tell me"}]})
    request_id = stream_then_hang_up(gateway, tenant.key, body, {"x-sim-chunks": "40", "x-sim-stream-ms": "4000"})
    rows = usage(request_id, timeout=10)
    assert len(rows) == 1
    row = rows[0]
    assert row.status == "client_disconnected" and row.stream
    assert row.served_model == "deepseek/deepseek-chat"
    # Billed for what was delivered (counted by the gateway), far less than the 40-chunk answer.
    assert 0 < row.completion_tokens < 40
    time.sleep(0.3)
    assert len(usage(request_id)) == 1
