"""A caller that goes away mid-stream still leaves exactly one usage row, for what it received."""

import socket
import time

import orjson


def test_a_disconnect_mid_stream_keeps_its_usage_row(gateway, tenant, usage):
    body = orjson.dumps({"model": "auto", "stream": True, "messages": [{"role": "user", "content": "tell me"}]})
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               b"authorization: Bearer " + tenant.key.encode() + b"\r\n"
               b"x-sim-chunks: 40\r\nx-sim-stream-ms: 4000\r\n"
               b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(request)
        received = b""
        while received.count(b'"content"') < 4:  # a few content chunks, then hang up
            piece = s.recv(65536)
            assert piece, received.decode(errors="replace")
            received += piece
    head = received.split(b"\r\n\r\n", 1)[0].decode()
    request_id = next(line.split(": ", 1)[1] for line in head.split("\r\n")
                      if line.lower().startswith("x-request-id"))
    rows = usage(request_id, timeout=10)
    assert len(rows) == 1
    row = rows[0]
    assert row.status == "client_disconnected" and row.stream
    assert row.served_model == "deepseek/deepseek-chat"
    # Billed for what was delivered (counted by the gateway), far less than the 40-chunk answer.
    assert 0 < row.completion_tokens < 40
    time.sleep(0.3)
    assert len(usage(request_id)) == 1
