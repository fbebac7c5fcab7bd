"""The provider simulator's HTTP server: simulated vendors under /p/{provider}/..., a health check,
and the control API under /_sim/ (faults, stats). Needs no Django.

  POST /p/{provider}/<any prefix>/chat/completions                  OpenAI format
  POST /p/{provider}/<any prefix>/messages                          Anthropic Messages
  POST /p/{provider}/<any prefix>/messages/count_tokens             Anthropic token counting
  POST /p/{provider}/<any prefix>/models/{model}:generateContent    Gemini
  POST /p/{provider}/<any prefix>/models/{model}:streamGenerateContent[?alt=sse]
  POST /p/{provider}/<any prefix>/embeddings                        OpenAI embeddings
  POST /p/{provider}/<any prefix>/models/{model}:batchEmbedContents Gemini embeddings
  GET  /health
  GET|POST|DELETE /_sim/faults, DELETE /_sim/faults/{id}, GET|DELETE /_sim/stats, POST /_sim/reset
"""

import asyncio
import re
import sys
from typing import cast

import orjson
from aiohttp import web

from . import embeddings
from .anthropic_format import AnthropicFormat
from .content import build_reply
from .controls import ControlError, Controls, SimConfig, Stats
from .faults import HANG_SECONDS, FaultRegistry, FaultSpecError, header_fault
from .gemini_format import GEMINI_CALL, GeminiFormat
from .openai_format import OpenAIFormat
from .wire import Parsed, StreamPlan, VendorError, WireFormat, new_id

MAX_BODY_BYTES = 64 * 1024 * 1024
_GEMINI_PATH = re.compile(r"(?:^|/)models/([^/]+?):(generateContent|streamGenerateContent|batchEmbedContents)$")
_JSON = "application/json"
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_BAD_JSON = object()


class State:
    def __init__(self, config: SimConfig):
        self.config = config
        self.default_controls = Controls.parse({}, config)  # shared: never modified
        self.stats = Stats()
        self.faults = FaultRegistry()
        self.openai = OpenAIFormat()
        self.anthropic = AnthropicFormat()
        self.gemini = GeminiFormat()


STATE = web.AppKey("simulator_state", State)


def _json_response(obj, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type=_JSON)


def _vendor_error(fmt: WireFormat, err: VendorError) -> web.Response:
    status, headers, body = fmt.error(err)
    return web.Response(body=body, status=status, headers=headers, content_type=_JSON)


def _cut(request: web.Request) -> None:
    """Close the connection now: what was written is flushed, nothing more follows."""
    transport = request.transport
    if transport is not None:
        transport.close()


class _Dropped(web.StreamResponse):
    """What a handler returns after cutting the connection, so aiohttp writes nothing more."""

    def __init__(self):
        super().__init__(status=200)

    async def prepare(self, request):  # noqa: D401 - nothing to send on a closed connection
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


async def _wait_until(loop, when: float) -> None:
    delay = when - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def handle_provider(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    provider = request.match_info["provider"]
    tail = request.match_info["tail"]
    fmt: WireFormat
    if tail.endswith(("chat/completions", "embeddings")):
        fmt = state.openai
    elif tail.endswith("messages/count_tokens"):
        return await _count_tokens(request, state, provider)
    elif tail.endswith("messages"):
        fmt = state.anthropic
    else:
        m = _GEMINI_PATH.search(tail)
        if m is None:
            return _json_response({"error": {"message": f"unknown endpoint /p/{provider}/{tail}"}}, 404)
        request[GEMINI_CALL] = (m.group(1), m.group(2))
        fmt = state.gemini

    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = _BAD_JSON
    model = fmt.model_of(body, request)
    state.stats.count(provider, model)

    try:
        controls = Controls.of_request(request.headers, state.config, state.default_controls)
        fault = header_fault(controls.fault_header, provider, model or "")
    except (ControlError, FaultSpecError) as exc:
        return _vendor_error(fmt, VendorError(400, f"simulator: {exc}"))
    if fault is None:
        fault = state.faults.take(provider, model or "")

    delay = controls.latency_ms + (fault.n if fault is not None and fault.kind == "slow-first-byte" else 0)
    if delay:
        await asyncio.sleep(delay / 1000)
    if fault is not None:
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return _vendor_error(
                fmt, VendorError(fault.status, kind="context" if fault.context else None, headers=headers)
            )
        if fault.kind == "hang":
            await asyncio.sleep(HANG_SECONDS)
            _cut(request)
            return _Dropped()
        if fault.kind == "drop":
            _cut(request)
            return _Dropped()

    if body is _BAD_JSON:
        return _vendor_error(fmt, VendorError(400, "The request body is not valid JSON."))
    if not fmt.authorized(request):
        return _vendor_error(fmt, VendorError(401))
    if tail.endswith(("embeddings", ":batchEmbedContents")):
        try:
            payload = (
                embeddings.gemini_batch_embed(body, model or "")
                if fmt is state.gemini
                else embeddings.openai_embeddings(body, model)
            )
        except VendorError as err:
            return _vendor_error(fmt, err)
        return web.Response(body=payload, content_type=_JSON)
    try:
        parsed = fmt.parse(body, request, model)
    except VendorError as err:
        return _vendor_error(fmt, err)

    ask = parsed.ask
    if controls.prompt_tokens is not None:  # a long prompt's usage, without sending one
        ask.prompt_tokens = controls.prompt_tokens
    if controls.stop_field and fmt is state.openai:
        parsed.meta["stop_field"] = controls.stop_field
    if fmt is state.anthropic:  # thinking only when asked for, as Anthropic does
        reasoning = (controls.reasoning_tokens or 16) if parsed.meta.get("thinking") else 0
    else:
        reasoning = controls.reasoning_for(ask.model)
    reply = build_reply(
        ask,
        output_tokens=controls.output_tokens,
        reasoning_tokens=reasoning,
        finish=controls.finish,
        parallel_tools=controls.parallel_tools,
        id_prefix="toolu_" if fmt is state.anthropic else "call_",
        new_id=new_id,
    )
    tokens = None if controls.no_usage else fmt.tokens(parsed, reply, controls)

    if not parsed.stream:
        if fault is not None and fault.kind == "error-event":
            return _vendor_error(fmt, VendorError(500))
        payload = fmt.complete(parsed, reply, tokens)
        if fault is not None and fault.kind == "drop-mid-stream":
            return await _cut_body(request, payload)
        return web.Response(body=payload, content_type=_JSON)
    plan = fmt.stream(parsed, reply, tokens, controls)
    return await _stream(request, fmt, parsed, plan, controls, fault)


async def _count_tokens(request: web.Request, state: State, provider: str) -> web.Response:
    fmt = state.anthropic
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _vendor_error(fmt, VendorError(400, "The request body is not valid JSON."))
    model = fmt.model_of(body, request)
    state.stats.count(provider, model)
    if not fmt.authorized(request):
        return _vendor_error(fmt, VendorError(401))
    try:
        return web.Response(body=fmt.count_tokens(body, request, model), content_type=_JSON)
    except VendorError as err:
        return _vendor_error(fmt, err)


async def _cut_body(request: web.Request, payload: bytes) -> web.StreamResponse:
    """A non-streamed answer whose connection is cut halfway through its body."""
    resp = web.StreamResponse(headers={"Content-Type": _JSON})
    resp.content_length = len(payload)
    await resp.prepare(request)
    await resp.write(payload[: len(payload) // 2])
    _cut(request)
    return _Dropped()


def _schedule(plan: StreamPlan, controls: Controls) -> list[float] | None:
    """Seconds after the headers at which each content chunk is due; None when nothing is paced."""
    n = len(plan.content)
    ttft = controls.ttft_ms / 1000
    if controls.stream_ms and n:
        step = controls.stream_ms / 1000 / max(n - 1, 1)
        return [ttft + i * step for i in range(n)]
    if controls.tokens_per_second:
        times, t = [], ttft
        for _, tokens in plan.content:
            times.append(t)
            t += max(tokens, 1) / controls.tokens_per_second
        return times
    if ttft:
        return [ttft] * n
    return None


async def _stream(
    request, fmt: WireFormat, parsed: Parsed, plan: StreamPlan, controls: Controls, fault
) -> web.StreamResponse:
    resp = web.StreamResponse(headers=_SSE_HEADERS if parsed.meta.get("sse", True) else {"Content-Type": _JSON})
    await resp.prepare(request)
    if plan.head:
        await resp.write(b"".join(plan.head))
    stop_at = None  # content chunks sent before the fault strikes
    if fault is not None and fault.kind in ("drop-mid-stream", "error-event"):
        stop_at = min(fault.n, len(plan.content))
    content = plan.content if stop_at is None else plan.content[:stop_at]

    schedule = _schedule(plan, controls)
    if schedule is None:
        if content:
            await resp.write(b"".join(frame for frame, _ in content))
    else:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for (frame, _), due in zip(content, schedule, strict=False):
            await _wait_until(loop, start + due)
            await resp.write(frame)

    if stop_at is not None:
        if fault.kind == "drop-mid-stream":
            _cut(request)
            return _Dropped()
        await resp.write(fmt.stream_error(parsed, stop_at))
        await resp.write_eof()
        return resp
    if plan.tail:
        await resp.write(b"".join(plan.tail))
    await resp.write_eof()
    return resp


# --- health and control API ------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    return _json_response({"status": "ok"})


async def list_faults(request: web.Request) -> web.Response:
    return _json_response({"faults": request.app[STATE].faults.as_list()})


async def add_fault(request: web.Request) -> web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _json_response({"error": "body must be JSON"}, 400)
    if not isinstance(body, dict):
        return _json_response({"error": "body must be a JSON object"}, 400)
    try:
        rule = request.app[STATE].faults.add(
            body.get("target"), str(body.get("fault", "")), body.get("count"), body.get("probability", 1.0)
        )
    except FaultSpecError as exc:
        return _json_response({"error": str(exc)}, 400)
    return _json_response({"fault": rule.as_dict()}, 201)


async def clear_faults(request: web.Request) -> web.Response:
    faults = request.app[STATE].faults
    cleared = len(faults.rules)
    faults.clear()
    return _json_response({"cleared": cleared})


async def delete_fault(request: web.Request) -> web.Response:
    faults = request.app[STATE].faults
    rule_id = request.match_info["id"]
    before = len(faults.rules)
    faults.rules = [r for r in faults.rules if str(r.id) != rule_id]
    return _json_response({"cleared": before - len(faults.rules)}, 200 if before != len(faults.rules) else 404)


async def get_stats(request: web.Request) -> web.Response:
    return _json_response(request.app[STATE].stats.as_dict())


async def reset_stats(request: web.Request) -> web.Response:
    request.app[STATE].stats.reset()
    return _json_response({"status": "ok"})


async def reset_all(request: web.Request) -> web.Response:
    """Faults, stats and the prompt cache back to a fresh start."""
    state = request.app[STATE]
    state.faults.clear()
    state.stats.reset()
    state.anthropic.cache.clear()
    return _json_response({"status": "ok"})


def make_app(config: SimConfig | dict | None = None) -> web.Application:
    """The simulator as an aiohttp application. `config`: a SimConfig, or a dict of its fields."""
    if config is None:
        config = SimConfig()
    elif isinstance(config, dict):
        config = SimConfig.from_kwargs(**config)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = State(config)
    app.router.add_get("/health", health)
    app.router.add_get("/_sim/faults", list_faults)
    app.router.add_post("/_sim/faults", add_fault)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_delete("/_sim/faults/{id}", delete_fault)
    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_delete("/_sim/stats", reset_stats)
    app.router.add_post("/_sim/reset", reset_all)
    app.router.add_post("/p/{provider}/{tail:.+}", handle_provider)
    return app


async def serve(host: str = "127.0.0.1", port: int = 8001, config: SimConfig | None = None, ready=None) -> None:
    """Serve until cancelled. Prints the listening line (with the real port when `port` is 0)."""
    runner = web.AppRunner(make_app(config), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    try:
        server = cast(asyncio.Server | None, site._server)  # aiohttp types it as the abstract base
        sockets = server.sockets if server is not None else ()
        actual = sockets[0].getsockname()[1] if sockets else port
        shown = f"[{host}]" if ":" in host else host
        print(f"Provider simulator listening on http://{shown}:{actual}", flush=True)
        if ready is not None:
            ready(actual)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(host: str = "127.0.0.1", port: int = 8001, **config) -> None:
    """Run the simulator in this process until it is interrupted or killed (uvloop when installed)."""
    sim_config = SimConfig.from_kwargs(**config)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but the server runs without it
        uvloop = None  # type: ignore[assignment]  # an optional import
    try:
        if uvloop is not None and sys.platform != "win32":
            uvloop.run(serve(host, port, sim_config))
        else:
            asyncio.run(serve(host, port, sim_config))
    except KeyboardInterrupt:
        pass


def add_arguments(parser) -> None:
    """The command-line options, shared by `python -m simulator` and the management command."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each response starts")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="streams: delay before the first content chunk")
    parser.add_argument("--tokens-per-second", type=float, default=0.0, help="streams: pace (0: no pacing)")
    parser.add_argument("--output-tokens", type=int, default=None, help="reply length (default: a short reply)")
    parser.add_argument("--chunks", type=int, default=None, help="streams: content chunks (default: one a word)")
    parser.add_argument("--stream-ms", type=float, default=0.0, help="streams: time the chunks are spread over")


def run_from_options(options: dict) -> None:
    run(
        options["host"],
        options["port"],
        latency_ms=options["latency_ms"],
        ttft_ms=options["ttft_ms"],
        tokens_per_second=options["tokens_per_second"],
        output_tokens=options["output_tokens"],
        chunks=options["chunks"],
        stream_ms=options["stream_ms"],
    )
