"""Catalog models and a fake vendor endpoint for the adapter tests (no database, no network)."""

import httpx
import orjson
import pytest

from routing.adapters.base import Target
from routing.catalog import ModelInfo, ProviderInfo
from routing.errors import UpstreamError
from tests.schema import assert_valid


def catalog_model(
    wire: str,
    upstream_id: str,
    base_url: str,
    *,
    quirks: dict | None = None,
    provider_quirks: dict | None = None,
    max_output_tokens: int = 8192,
) -> ModelInfo:
    provider = ProviderInfo(
        slug=wire,
        name=wire.title(),
        wire_format=wire,
        base_url=base_url,
        credential_env=f"{wire.upper()}_API_KEY",
        quirks=provider_quirks or {},
    )
    return ModelInfo(
        id=1,
        public_id=f"{wire}/{upstream_id}",
        upstream_id=upstream_id,
        display_name=upstream_id,
        provider=provider,
        input_price_usd_micro_per_mtok=3_000_000,
        output_price_usd_micro_per_mtok=15_000_000,
        cached_input_price_usd_micro_per_mtok=None,
        context_window=200_000,
        max_output_tokens=max_output_tokens,
        supports_vision=True,
        quirks=quirks or {},
    )


@pytest.fixture
def claude() -> ModelInfo:
    return catalog_model("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com", max_output_tokens=64000)


@pytest.fixture
def gemini() -> ModelInfo:
    return catalog_model(
        "gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com/v1beta", max_output_tokens=65536
    )


@pytest.fixture
def make_model():
    return catalog_model


def target_for(model: ModelInfo, **kw) -> Target:
    return Target(model=model, base_url=model.provider.base_url, api_key="test-key", **kw)


class FakeVendor:
    """One canned answer on httpx.MockTransport; `requests` records what the adapter sent."""

    def __init__(
        self,
        *,
        status: int = 200,
        body=None,
        sse: bytes | None = None,
        headers: dict | None = None,
        piece: int | None = None,
        error: Exception | None = None,
        error_after: Exception | None = None,
    ):
        self.requests: list[httpx.Request] = []
        self.status, self.body, self.sse, self.headers = status, body, sse, headers or {}
        self.piece, self.error, self.error_after = piece, error, error_after
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._handle))

    def sent(self, i: int = -1) -> dict:
        return orjson.loads(self.requests[i].content)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        if self.sse is None:
            content = self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)
            return httpx.Response(self.status, headers=self.headers, content=content)
        data, size = self.sse, self.piece or len(self.sse) or 1

        async def pieces():
            for i in range(0, len(data), size):
                yield data[i : i + size]
            if self.error_after is not None:
                raise self.error_after

        return httpx.Response(
            self.status, headers={"content-type": "text/event-stream", **self.headers}, content=pieces()
        )


@pytest.fixture
async def vendor():
    made: list[FakeVendor] = []

    def make(**kw) -> FakeVendor:
        made.append(FakeVendor(**kw))
        return made[-1]

    yield make
    for v in made:
        await v.client.aclose()


@pytest.fixture
async def simulator_url():
    """The provider simulator, in this process, on a real port."""
    from aiohttp.test_utils import TestServer

    from simulator.server import make_app

    server = TestServer(make_app(), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def sim_target(simulator_url):
    """sim_target(model, path, read_timeout=..., finish="length", ...): a Target on the simulator
    under `path` (the provider's part of the URL), each keyword an x-sim-* control header."""

    def make(model: ModelInfo, path: str, read_timeout: float = 10.0, **controls) -> Target:
        headers = {f"x-sim-{k.replace('_', '-')}": str(v) for k, v in controls.items()}
        return Target(
            model=model,
            base_url=simulator_url + path,
            api_key="simulated",
            extra_headers=headers,
            read_timeout=read_timeout,
        )

    return make


@pytest.fixture
async def http():
    """An HTTP client like the gateway's: httpx on aiohttp's transport."""
    from httpx_aiohttp import AiohttpTransport

    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        yield client


async def collect(agen) -> list[dict]:
    return [chunk async for chunk in agen]


# Faults the simulator injects, and the UpstreamError each should become with either vendor:
# (x-sim-fault spec, kind, status, retryable, caller_fault).
SIMULATED_FAULTS = [
    ("status:529", "status", 529, True, False),
    ("status:503", "status", 503, True, False),
    ("status:500", "status", 500, True, False),
    ("status:401", "status", 401, True, False),
    ("status:403", "status", 403, True, False),
    ("status:404", "status", 404, True, False),
    ("status:400", "status", 400, False, True),
    ("status:400:context", "context_length", 400, True, False),
]


async def upstream_error(adapter, client, target: Target, request: dict, *, streaming: bool) -> UpstreamError:
    """The UpstreamError a call raises (the test fails if it raises none)."""
    with pytest.raises(UpstreamError) as e:
        if streaming:
            await collect(adapter.stream(client, target, request))
        else:
            await adapter.complete(client, target, request)
    return e.value


async def content_before_error(adapter, client, target: Target, request: dict) -> tuple[str, UpstreamError]:
    """(the content streamed, the UpstreamError that ended the stream)."""
    seen = []
    with pytest.raises(UpstreamError) as e:
        async for chunk in adapter.stream(client, target, request):
            seen.append(chunk)
    return "".join(c["choices"][0]["delta"].get("content", "") for c in seen if c["choices"]), e.value


def assert_completion(body: dict) -> None:
    assert_valid(body, "CreateChatCompletionResponse")


def assert_chunks(chunks: list[dict]) -> None:
    for chunk in chunks:
        assert_valid(chunk, "CreateChatCompletionStreamResponse")


def assemble(chunks: list[dict]) -> tuple[dict, dict | None]:
    """The choices (by index) and usage that a client rebuilds from a stream of chunks."""
    assert_chunks(chunks)
    choices, usage = {}, None
    for chunk in chunks:
        if not chunk["choices"]:
            usage = chunk["usage"]
            continue
        for c in chunk["choices"]:
            slot = choices.setdefault(c["index"], {"content": "", "reasoning": "", "calls": {}, "finish": None})
            assert slot["finish"] is None, "a delta after the finish"
            d = c["delta"]
            slot["content"] += d.get("content") or ""
            slot["reasoning"] += d.get("reasoning_content") or ""
            for tc in d.get("tool_calls") or ():
                call = slot["calls"].setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                call["id"] = tc.get("id") or call["id"]
                call["name"] = (tc.get("function") or {}).get("name") or call["name"]
                call["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            slot["finish"] = c["finish_reason"]
    return choices, usage


def same_answer(body: dict, streamed: dict, usage, *, ids: bool = True) -> None:
    """The completion `body` says what the stream rebuilt by assemble() says (tool call ids
    aside when `ids` is false: two calls to a vendor give two sets of ids)."""
    assert_completion(body)
    assert sorted(streamed) == [c["index"] for c in body["choices"]]
    for c in body["choices"]:
        got, msg = streamed[c["index"]], c["message"]
        assert got["content"] == (msg["content"] or "")
        assert got["reasoning"] == (msg.get("reasoning_content") or "")
        assert got["finish"] == c["finish_reason"]
        calls = [got["calls"][i] for i in sorted(got["calls"])]
        assert [(x["id"] if ids else None, x["name"], orjson.loads(x["arguments"])) for x in calls] == [
            (t["id"] if ids else None, t["function"]["name"], orjson.loads(t["function"]["arguments"]))
            for t in msg.get("tool_calls", [])
        ]
    assert usage == body.get("usage")
