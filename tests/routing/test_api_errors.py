"""Bad input gets OpenAI's error shape and the right status, and reaches no upstream."""

import socket

import httpx
import pytest

GOOD = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def post(gateway, tenant):
    def send(
        body: bytes | dict, *, key: str | None = tenant.key, headers=None, method="POST", path="/v1/chat/completions"
    ):
        h = {"content-type": "application/json", **(headers or {})}
        if key is not None:
            h["authorization"] = f"Bearer {key}"
        kwargs = {"json": body} if isinstance(body, dict) else {"content": body}
        return httpx.request(method, gateway.url + path, headers=h, timeout=10, **kwargs)

    return send


@pytest.fixture
def upstream_calls(simulator):
    def count() -> int:
        stats = httpx.get(simulator.url + "/_sim/stats").json()
        return stats["total"]

    return count


def assert_openai_error(resp, status, code=None, param=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code
    if param is not None:
        assert err["param"] == param
    return err


@pytest.mark.parametrize(
    "body, status, code, param",
    [
        (b"{not json", 400, "invalid_json", None),
        (b"\xff\xfe{}", 400, "invalid_encoding", None),
        (b"", 400, "invalid_json", None),
        (b"[1, 2]", 400, "invalid_json", None),
        ({"model": "auto"}, 400, "missing_required_parameter", "messages"),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "missing_required_parameter", "model"),
        ({"model": 5, "messages": [{"role": "user", "content": "hi"}]}, 400, "invalid_type", "model"),
        ({"model": "auto", "messages": "hi"}, 400, "invalid_type", "messages"),
        ({"model": "auto", "messages": []}, 400, "invalid_type", "messages"),
        (
            {"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]},
            400,
            "invalid_value",
            "messages[0].role",
        ),
        ({**GOOD, "temperature": "hot"}, 400, "invalid_type", "temperature"),
        ({**GOOD, "temperature": 3}, 400, "invalid_type", "temperature"),
        ({**GOOD, "max_tokens": 0}, 400, "invalid_type", "max_tokens"),
        ({**GOOD, "max_tokens": 1.5}, 400, "invalid_type", "max_tokens"),
        ({**GOOD, "stream": "yes"}, 400, "invalid_type", "stream"),
        ({**GOOD, "tools": {"a": 1}}, 400, "invalid_type", "tools"),
        ({**GOOD, "model": "nobody/nothing"}, 404, "model_not_found", "model"),
    ],
)
def test_bad_input_is_refused_before_any_upstream_call(post, upstream_calls, usage, body, status, code, param):
    before = upstream_calls()
    resp = post(body)
    assert_openai_error(resp, status, code, param)
    assert upstream_calls() == before
    rows = usage(resp.headers["x-request-id"])
    assert [(r.status, r.charged_nusd, r.attempts) for r in rows] == [("client_error", 0, 0)]


def test_a_missing_key_is_401(post):
    assert_openai_error(post(GOOD, key=None), 401, "missing_api_key")


def test_an_invalid_key_is_401(post):
    assert_openai_error(post(GOOD, key="sk-aip-not-a-real-key"), 401, "invalid_api_key")
    assert_openai_error(post(GOOD, key="sk-something-else"), 401, "invalid_api_key")


def test_a_revoked_key_is_401(post, tenant, live_db):
    from accounts.keys import apikey_revoke
    from accounts.models import ApiKey

    with live_db.unblock():
        apikey_revoke(key=ApiKey.objects.get(pk=tenant.key_id))
    import time

    deadline = time.monotonic() + 5
    while post(GOOD).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still worked after 5 s"
        time.sleep(0.2)


def test_the_wrong_method_is_405(post):
    resp = post(b"", method="GET")
    assert_openai_error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"] == "POST"
    assert_openai_error(post(b"", method="POST", path="/v1/models"), 405, "method_not_allowed")


def test_an_oversized_body_is_refused_before_it_is_sent(gateway, tenant):
    # Declare a body far over the limit and send none of it: the answer must come anyway.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + tenant.key.encode() + b"\r\ncontent-length: 999999999\r\n\r\n"
        )
        answer = b""
        while b'"code"' not in answer:  # the head and the body may come in separate reads
            piece = s.recv(65536)
            if not piece:
                break
            answer += piece
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413")
    assert '"code":"request_too_large"' in answer


def test_an_oversized_chunked_body_is_cut_off(post):
    def chunks():
        for _ in range(12):
            yield b"x" * (1024 * 1024)

    resp = post(chunks())
    assert_openai_error(resp, 413, "request_too_large")
