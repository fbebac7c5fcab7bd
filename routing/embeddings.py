"""POST /v1/embeddings: the embedding models of the catalog, through the adapters (OpenAI-format
vendors and Gemini), held, billed and recorded like completions (one usage row per request).

- `input`: a string, an array of strings, a token array or an array of token arrays (token
  arrays only for models that take them: quirk "embedding_token_input"); at most the model's
  `max_batch` inputs (a 400 naming `input` past it); each input within its context window.
- `dimensions`: any size up to the model's own, or one of the sizes its quirk
  "embedding_dimensions" lists; `encoding_format` "float" or "base64" (little-endian float32,
  as OpenAI sends it). Upstreams are always asked for floats; base64 is encoded here.
- Failover: to other embedding models only when they give vectors of the same output dimension
  (the asked `dimensions`, else the pinned model's own), cheapest first, within the key's
  allow-list and the attempt limit; `x-aipower-fallback: off` turns it off.
"""

import asyncio
import base64
import struct
import time

import orjson

from . import limits
from .adapters import Usage, adapter_for
from .api_types import ApiResponse
from .catalog import ModelInfo, get_snapshot
from .dialects.models import usable_names
from .errors import GatewayError, UpstreamError, invalid
from .gateway import (
    Call,
    _attempt,
    _exhausted,
    _failed,
    _rate_limited,
    _reserve,
    _tries,
    authenticate,
    error_response,
    new_request_id,
)
from .health import breaker_keys, health, retry_budget
from .policy import not_found
from .request import CHARS_PER_TOKEN, Features, parse_body
from .upstream import get_client, target_for

ENCODINGS = ("float", "base64")


def _inputs(raw) -> tuple[list, bool]:
    """(the inputs as a list, whether they are token arrays)."""

    def tokens(v):
        return (
            isinstance(v, list)
            and bool(v)
            and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in v)
        )

    if isinstance(raw, str):
        return [raw], False
    if tokens(raw):
        return [raw], True
    if isinstance(raw, list) and raw:
        if all(isinstance(v, str) for v in raw):
            if any(not v for v in raw):
                raise invalid("'input' may not contain empty strings.", param="input", code="invalid_value")
            return raw, False
        if all(tokens(v) for v in raw):
            return raw, True
    raise invalid(
        "'input' must be a non-empty string, an array of strings, a token array or an array of token arrays.",
        param="input",
        code="invalid_type",
    )


def _size(item) -> int:
    return len(item) if isinstance(item, list) else (len(item) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _can_give(model: ModelInfo, dims: int) -> bool:
    if dims == model.dimensions:
        return True
    sizes = model.quirks.get("embedding_dimensions")
    return dims in sizes if sizes else 1 <= dims <= (model.dimensions or 0)


def _unfit(model: ModelInfo, inputs: list, token_input: bool, dims: int | None) -> GatewayError | None:
    """Why `model` cannot serve these inputs, as the 400 a caller pinning it gets; None if it can."""
    name = model.public_id
    if model.kind != "embedding":
        return invalid(f"The model '{name}' is not an embedding model.", param="model", code="invalid_value")
    if token_input and not model.quirks.get("embedding_token_input"):
        return invalid(
            f"'{name}' does not take token arrays as input; send text.", param="input", code="unsupported_value"
        )
    if model.max_batch and len(inputs) > model.max_batch:
        return invalid(
            f"'{name}' takes at most {model.max_batch} inputs per request; {len(inputs)} were sent.",
            param="input",
            code="batch_too_large",
        )
    longest = max(_size(i) for i in inputs)
    if longest > model.context_window:
        return invalid(
            f"An input is about {longest} tokens; '{name}' takes at most {model.context_window} per input.",
            param="input",
            code="context_length_exceeded",
        )
    if dims is not None and not _can_give(model, dims):
        sizes = model.quirks.get("embedding_dimensions")
        what = f"one of {sizes}" if sizes else f"at most {model.dimensions}"
        return invalid(f"'dimensions' for '{name}' must be {what}.", param="dimensions", code="unsupported_value")
    return None


def candidates(
    model: ModelInfo, snapshot, inputs: list, token_input: bool, dims: int | None, fallback: bool
) -> list[tuple[ModelInfo, int | None]]:
    """(model, the dimensions to ask it for) in order: the pinned model, then the cheapest others
    that give vectors of the same size."""
    err = _unfit(model, inputs, token_input, dims)
    if err is not None:
        raise err
    out = [(model, dims)]
    if not fallback:
        return out
    size = dims or model.dimensions
    others = sorted(
        (m for m in snapshot.models.values() if m.kind == "embedding" and m.id != model.id),
        key=lambda m: (m.input_price_usd_micro_per_mtok, m.public_id),
    )
    for m in others:
        ask = None if m.dimensions == size and dims is None else size
        if _unfit(m, inputs, token_input, ask) is None:
            out.append((m, ask))
    return out


def _encode(vector: list, encoding: str):
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def create(request) -> ApiResponse:
    call = Call(request_id=new_request_id(), started=time.perf_counter())
    try:
        call.key = await authenticate(request)
        body = parse_body(request.body)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise invalid("'model' is required.", param="model", code="missing_required_parameter")
        call.requested_model = name
        if "input" not in body:
            raise invalid("'input' is required.", param="input", code="missing_required_parameter")
        inputs, token_input = _inputs(body["input"])
        dims = body.get("dimensions")
        if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or dims < 1):
            raise invalid("'dimensions' must be an integer of at least 1.", param="dimensions", code="invalid_type")
        encoding = body.get("encoding_format", "float")
        if encoding not in ENCODINGS:
            raise invalid(
                "'encoding_format' must be 'float' or 'base64'.", param="encoding_format", code="invalid_value"
            )
        snapshot = await get_snapshot()
        model = snapshot.resolve_model(name)
        if model is None:
            raise not_found(name)
        fallback = request.headers.get("x-aipower-fallback", "on").lower() not in ("off", "0", "false", "no")
        plan = candidates(model, snapshot, inputs, token_input, dims, fallback)
        key = call.key
        if key.allowed:
            _, usable = usable_names(snapshot, key.allowed)
            if model.public_id not in usable:
                raise GatewayError(
                    403,
                    f"This API key may not use '{name}'.",
                    "permission_error",
                    param="model",
                    code="model_not_allowed",
                )
            plan = [(m, d) for m, d in plan if m.public_id in usable]
        if key.rpm_limit or key.tpm_limit:
            over = await limits.admit(key.key_id, key.rpm_limit, key.tpm_limit, call.ratelimit)
            if over is not None:
                raise _rate_limited(*over)
        prompt = sum(_size(i) for i in inputs)
        call.features = Features(
            prompt_tokens=prompt,
            max_tokens=0,
            tools=False,
            vision=False,
            json_mode=False,
            stream=False,
            include_usage=False,
        )
        await _reserve(call, [m for m, _ in plan], call.features, {})
    except GatewayError as err:
        call.record(status="client_error", http_status=err.status, error_type=err.code or err.type)
        return error_response(err, call)

    call.first_choice = plan[0][0]
    retry_budget().deposit()
    asked = {m.id: d for m, d in plan}
    try:
        return await _serve(call, request, [m for m, _ in plan], asked, inputs, encoding, snapshot)
    except GatewayError as err:
        call.record(
            status="client_error" if err.status < 500 else "upstream_error",
            http_status=err.status,
            error_type=err.code or err.type,
        )
        return error_response(err, call)
    except BaseException:
        call.record(status="client_disconnected", http_status=499, error_type="aborted")
        raise


async def _serve(call: Call, request, models: list, asked: dict, inputs: list, encoding: str, snapshot):
    last = None
    client = get_client()
    async for model in _tries(call, models):
        target = target_for(model, snapshot, request.headers, stream=False)
        t = time.perf_counter()
        try:
            async with asyncio.timeout(target.total_timeout):
                vectors, counted = await adapter_for(model.provider.wire_format).embed(
                    client, target, inputs, asked[model.id]
                )
        except TimeoutError:
            last = UpstreamError("The upstream did not answer in time.", kind="timeout")
            await _failed(call, model, t, last)
            continue
        except UpstreamError as err:
            last = err
            await _failed(call, model, t, err)
            if not err.retryable:
                break
            continue
        call.attempts.append(_attempt(model, t))
        await health.success(breaker_keys(model))
        call.served = model
        call.ttft = time.perf_counter()
        assert call.features is not None  # set when the request was parsed
        usage = Usage(prompt_tokens=counted if counted is not None else call.features.prompt_tokens)
        call.record(status="ok", http_status=200, usage=usage, estimated=counted is None)
        data = [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)} for i, v in enumerate(vectors)]
        out = {
            "object": "list",
            "data": data,
            "model": model.public_id,
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
        }
        return ApiResponse(orjson.dumps(out), headers=call.headers(), ack=call.committed)
    raise _exhausted(last, call)
