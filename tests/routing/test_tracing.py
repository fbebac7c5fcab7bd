"""Traces over OTLP/HTTP: a real gateway process exports to a receiver in this test, which decodes
what arrives with OpenTelemetry's own protobuf types (opentelemetry-proto).

Route `auto` is deepseek/deepseek-chat → qwen/qwen-plus → …: a fault aimed at deepseek makes the
first attempt fail and the second serve.
"""

import gzip
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.conftest import NO_BREAKERS
from tests.servers import ROOT

HELLO = [{"role": "user", "content": "Say something long enough to stream."}]


def attributes(kvs) -> dict:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in kvs}


class Receiver:
    """An OTLP/HTTP trace receiver: POST /v1/traces with an ExportTraceServiceRequest."""

    def __init__(self):
        self.spans: list[tuple[dict, Span]] = []  # (resource attributes, span)
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.add(ExportTraceServiceRequest.FromString(body))
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.requests += 1
            for rs in request.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    self.spans += [(resource, span) for span in ss.spans]

    def trace_of(self, request_id: str, *, children: int, timeout: float = 10.0):
        """(resource, the request's span, its child spans by start time), once all have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = list(self.spans)
            found = [(r, s) for r, s in spans if attributes(s.attributes).get("aipower.request_id") == request_id]
            if found:
                resource, root = found[0]
                kids = [s for _, s in spans if s.parent_span_id == root.span_id and s.trace_id == root.trace_id]
                if len(kids) >= children or time.monotonic() > deadline:
                    assert len(found) == 1, found
                    return resource, root, sorted(kids, key=lambda s: s.start_time_unix_nano)
            assert time.monotonic() < deadline, f"no span of {request_id} arrived ({len(spans)} spans)"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def traced(own_gateways, receiver):
    return own_gateways(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY=50, **NO_BREAKERS)


def nusd(usd: str) -> int:
    return int(Decimal(usd) * 10**9)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_failover_is_one_request_span_with_an_attempt_span_each(traced, receiver, tenant, stream):
    with openai.OpenAI(base_url=traced.url + "/v1", api_key=tenant.key, max_retries=0) as client:
        kwargs = {"model": "auto", "messages": HELLO, "extra_headers": {"x-sim-fault": "deepseek=status:503"}}
        if stream:
            kwargs["stream_options"] = {"include_usage": True}
            with client.chat.completions.with_streaming_response.create(stream=True, **kwargs) as raw:
                chunks, headers = list(raw.parse()), raw.headers
            usage = chunks[-1].usage
            cost = nusd(usage.model_extra["cost"])
        else:
            raw = client.chat.completions.with_raw_response.create(**kwargs)
            usage, headers = raw.parse().usage, raw.headers
            cost = nusd(headers["x-aipower-cost-usd"])
    assert headers["x-aipower-attempts"] == "2" and headers["x-aipower-provider"] == "qwen"
    rid = headers["x-request-id"]

    resource, root, (failed, served) = receiver.trace_of(rid, children=2)
    assert resource["service.name"] == "aipower"
    assert root.kind == Span.SPAN_KIND_SERVER and root.name == "chat auto"
    assert root.status.code != Status.STATUS_CODE_ERROR
    attrs = attributes(root.attributes)
    assert attrs["http.request.method"] == "POST" and attrs["url.path"] == "/v1/chat/completions"
    assert attrs["http.response.status_code"] == 200
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "auto" and attrs["aipower.route"] == "auto"
    assert attrs["gen_ai.response.model"] == "qwen/qwen-plus" and attrs["gen_ai.provider.name"] == "qwen"
    assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_tokens > 0
    assert attrs["gen_ai.usage.output_tokens"] == usage.completion_tokens > 0
    assert attrs["aipower.attempts"] == 2 and attrs["aipower.status"] == "ok"
    assert attrs["aipower.fallback"] is True and attrs["aipower.fallback_from"] == "deepseek/deepseek-chat"
    assert attrs["aipower.cost_nusd"] == cost > 0
    assert attrs["aipower.route.tier"] == "economy"
    assert "error.type" not in attrs

    for span in (failed, served):
        assert span.kind == Span.SPAN_KIND_CLIENT
        assert root.start_time_unix_nano <= span.start_time_unix_nano < span.end_time_unix_nano
        assert span.end_time_unix_nano <= root.end_time_unix_nano
    assert failed.end_time_unix_nano <= served.start_time_unix_nano

    first = attributes(failed.attributes)
    assert failed.name == "chat deepseek-chat" and failed.status.code == Status.STATUS_CODE_ERROR
    assert first["gen_ai.provider.name"] == "deepseek" and first["gen_ai.request.model"] == "deepseek-chat"
    assert first["error.type"] == "status:503" and first["http.response.status_code"] == 503
    assert first["aipower.attempt"] == 1 and "gen_ai.usage.input_tokens" not in first

    second = attributes(served.attributes)
    assert served.name == "chat qwen-plus" and served.status.code != Status.STATUS_CODE_ERROR
    assert second["gen_ai.operation.name"] == "chat" and second["gen_ai.provider.name"] == "qwen"
    assert second["gen_ai.request.model"] == second["gen_ai.response.model"] == "qwen-plus"
    assert second["aipower.model"] == "qwen/qwen-plus" and second["aipower.attempt"] == 2
    assert second["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert second["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert second["http.response.status_code"] == 200 and "error.type" not in second


def test_the_callers_traceparent_is_the_request_spans_parent(traced, receiver, tenant):
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = httpx.post(
        traced.url + "/v1/chat/completions",
        json={"model": "qwen/qwen-plus", "messages": HELLO},
        headers={"authorization": f"Bearer {tenant.key}", "traceparent": f"00-{trace_id}-{parent_id}-01"},
        timeout=30,
    )
    assert r.status_code == 200
    _, root, [attempt] = receiver.trace_of(r.headers["x-request-id"], children=1)
    assert root.trace_id.hex() == trace_id and root.parent_span_id.hex() == parent_id
    assert root.name == "chat qwen/qwen-plus" and attempt.trace_id.hex() == trace_id
    assert "aipower.route" not in attributes(root.attributes)  # a pinned model: no route


def test_a_stream_that_fails_after_its_first_token_marks_its_attempt(traced, receiver, tenant):
    body = {"model": "deepseek/deepseek-chat", "messages": HELLO, "stream": True}
    headers = {"authorization": f"Bearer {tenant.key}", "x-sim-fault": "deepseek=drop-mid-stream:3"}
    with httpx.stream("POST", traced.url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200
        r.read()
        rid = r.headers["x-request-id"]
    _, root, [attempt] = receiver.trace_of(rid, children=1)
    assert attributes(root.attributes)["aipower.status"] == "stream_interrupted"
    assert root.status.code == Status.STATUS_CODE_ERROR
    assert attempt.status.code == Status.STATUS_CODE_ERROR
    assert attributes(attempt.attributes)["error.type"] == "stream"


def test_an_embeddings_request_is_an_embeddings_span(traced, receiver, tenant):
    with openai.OpenAI(base_url=traced.url + "/v1", api_key=tenant.key, max_retries=0) as client:
        raw = client.embeddings.with_raw_response.create(model="openai/text-embedding-3-small", input="hello")
    reply = raw.parse()
    _, root, [attempt] = receiver.trace_of(raw.headers["x-request-id"], children=1)
    assert root.name == "embeddings openai/text-embedding-3-small"
    assert attributes(root.attributes)["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens > 0
    assert attempt.name == "embeddings text-embedding-3-small"
    assert attributes(attempt.attributes)["gen_ai.operation.name"] == "embeddings"


def test_a_request_without_a_valid_key_is_traced_with_its_id(traced, receiver):
    r = httpx.post(
        traced.url + "/v1/chat/completions",
        json={"model": "auto", "messages": HELLO},
        headers={"authorization": "Bearer sk-aip-nope"},
        timeout=30,
    )
    assert r.status_code == 401
    _, root, kids = receiver.trace_of(r.headers["x-request-id"], children=0, timeout=5)
    assert kids == [] and attributes(root.attributes)["http.response.status_code"] == 401
    assert root.status.code != Status.STATUS_CODE_ERROR  # the caller's error, not the gateway's


def test_without_an_endpoint_nothing_is_traced_or_imported():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["DJANGO_SETTINGS_MODULE"] = "aipower.settings"
    code = (
        "import sys, django; django.setup()\n"
        "from aipower import asgi\n"
        "from routing import gateway, http, tracing\n"
        "print(tracing.enabled, http.app.__name__, any(m.startswith('opentelemetry') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "app", "False"]
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://127.0.0.1:9/v1/traces"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "traced_app", "True"]
