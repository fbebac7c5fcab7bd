"""Parsing and validation of a chat-completions request body, and the features routing needs.

Everything a caller can get wrong is caught here, before any upstream call or charge, and
reported in OpenAI's error shape naming the offending parameter.
"""

import binascii
import re
from dataclasses import dataclass

import orjson

from .errors import invalid

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
PART_TYPES = {"text", "image_url", "input_audio", "file", "refusal"}
# OpenAI's processing tiers. Any is accepted and none is sent upstream: the gateway bills every
# request at the standard price, so every request is served on the standard ("default") tier.
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast")
TOOL_CHOICE_STRINGS = {"none", "auto", "required"}
RESPONSE_FORMATS = {"text", "json_object", "json_schema"}
# orjson (which re-encodes the body for the upstream) refuses JSON nested deeper than this.
MAX_DEPTH = 254
# Rough characters per token for prompt-size estimates (routing and reservations only; billing
# uses the upstream's count whenever it reports one).
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 85
# A bound on prompt tokens that no upstream's count exceeds, for credit holds: a tokenizer that works
# on UTF-8 bytes (every vendor's does) makes at most one token per byte; on top, each message's and
# the request's framing, each tool's wrapping, JSON mode's added instructions or tool, and the
# largest image any vendor counts as tokens (Anthropic's ~1,600).
BOUND_PER_MESSAGE = 8
BOUND_PER_REQUEST = 16
BOUND_PER_TOOL = 16
BOUND_JSON_MODE = 256
BOUND_PER_IMAGE = 1600
# At most this many choices per request (each is held for at its worst case).
MAX_N = 16
# Documents (`file` parts, PDFs) and audio (`input_audio` parts) have no bound of their own: a PDF's
# text is compressed and vendors add an image of each page, so a request carrying one is held for
# the whole context window of the model called (routing/credit.py). For routing they are estimated:
# each PDF page as between Gemini's 258 tokens and Claude's 1,500-3,000 of text plus an image;
# a PDF whose pages cannot be counted (in compressed object streams) as one page per
# BYTES_PER_PAGE, a `file_id` as one page; audio as 32 tokens a second (Gemini's count) of
# 16 kHz 16-bit mono WAV, the usual speech format (32,000 bytes a second).
TOKENS_PER_PAGE = 1_000
BYTES_PER_PAGE = 25_000
AUDIO_BYTES_PER_TOKEN = 1_000
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


@dataclass(slots=True)
class Features:
    prompt_tokens: int  # estimate
    max_tokens: int | None
    tools: bool
    vision: bool
    json_mode: bool
    stream: bool
    include_usage: bool
    prompt_tokens_bound: int = 0  # never below the upstream's count (holds), unless documents or audio
    n: int = 1
    documents: bool = False  # file parts (PDFs): only models with supports_pdf_input
    audio: bool = False  # input_audio parts: only models with supports_audio_input
    # Prompt-caching marks (cache_control): 0 none, 1 five-minute ones, 2 one asking for an hour.
    # Only a marked prompt can be written to a cache at a price above the input's (routing/credit.py).
    cache_marks: int = 0

    @property
    def unbounded(self) -> bool:
        """Whether the prompt's tokens are the upstream's to know: holds take the model's context window."""
        return self.documents or self.audio


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_number(body, name, lo, hi):
    v = body.get(name)
    if v is None:
        return
    if not _is_number(v) or not (lo <= v <= hi):
        raise invalid(f"'{name}' must be a number between {lo} and {hi}.", param=name, code="invalid_type")


def _check_positive_int(body, name):
    v = body.get(name)
    if v is None:
        return
    if not _is_int(v) or v < 1:
        raise invalid(f"'{name}' must be an integer of at least 1.", param=name, code="invalid_type")


def _check_bool(body, name):
    v = body.get(name)
    if v is not None and not isinstance(v, bool):
        raise invalid(f"'{name}' must be a boolean.", param=name, code="invalid_type")


def parse_body(raw: bytes) -> dict:
    if not raw:
        raise invalid("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            raise invalid("The request body is not valid UTF-8.", code="invalid_encoding") from None
        raise invalid(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", code="invalid_json")
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:  # only then can it be nested past what is forwarded
        try:
            orjson.dumps(body)
        except orjson.JSONEncodeError:
            raise invalid(
                f"The request body is nested more than {MAX_DEPTH} levels deep.", code="invalid_json"
            ) from None
    return body


def _nbytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _pdf_pages(data: str) -> int:
    """Pages of a base64 PDF (raw or a data: URL), counted by their page objects; when none is
    found (compressed object streams, or not a PDF), one per BYTES_PER_PAGE."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = binascii.a2b_base64(data)
    except (binascii.Error, ValueError):  # not base64: the upstream will say so
        return 1
    return len(_PDF_PAGE.findall(raw)) or 1 + len(raw) // BYTES_PER_PAGE


def _file_tokens(part: dict, pw: str) -> int:
    """Validates a file part; its estimated prompt tokens."""
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    if isinstance(data, str):
        return _pdf_pages(data) * TOKENS_PER_PAGE
    if not isinstance(file, dict) or not isinstance(file.get("file_id"), str):
        raise invalid(
            f"'{pw}.file' must be an object with 'file_data' (base64, or a data: URL) or 'file_id'.",
            param=f"{pw}.file",
            code="invalid_type",
        )
    return TOKENS_PER_PAGE


def _audio_tokens(part: dict, pw: str) -> int:
    """Validates an input_audio part; its estimated prompt tokens."""
    audio = part.get("input_audio")
    data = audio.get("data") if isinstance(audio, dict) else None
    if not isinstance(data, str):
        raise invalid(
            f"'{pw}.input_audio.data' must be base64 audio.", param=f"{pw}.input_audio.data", code="invalid_type"
        )
    return 1 + len(data) * 3 // 4 // AUDIO_BYTES_PER_TOKEN


@dataclass(slots=True)
class _Tally:
    """What validate counts over the messages."""

    chars: int = 0  # characters of text
    nbytes: int = 0  # UTF-8 bytes of text
    images: int = 0
    files: int = 0  # file parts (PDFs)
    audios: int = 0  # input_audio parts
    media_tokens: int = 0  # the estimated tokens of the file and audio parts
    marks: int = 0  # the highest cache mark, as cache_mark_level gives it


def _tally_message(i: int, msg, t: _Tally) -> None:
    """Validates one message and adds what it holds to `t`."""
    where = f"messages[{i}]"
    if not isinstance(msg, dict):
        raise invalid(f"'{where}' must be an object.", param=where, code="invalid_type")
    role = msg.get("role")
    if role not in ROLES:
        raise invalid(f"'{where}.role' must be one of {sorted(ROLES)}.", param=f"{where}.role", code="invalid_value")
    content = msg.get("content")
    if isinstance(content, str):
        t.chars += len(content)
        t.nbytes += _nbytes(content)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            pw = f"{where}.content[{j}]"
            if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
                raise invalid(
                    f"'{pw}' must be an object with a 'type' of {sorted(PART_TYPES)}.", param=pw, code="invalid_type"
                )
            kind = part["type"]
            if "cache_control" in part:
                t.marks = max(t.marks, cache_mark_level(part["cache_control"]))
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise invalid(f"'{pw}.text' must be a string.", param=f"{pw}.text", code="invalid_type")
                t.chars += len(part["text"])
                t.nbytes += _nbytes(part["text"])
            elif kind == "image_url":
                if role != "user":
                    raise invalid(f"Image parts are only allowed in user messages ('{pw}').", param=pw)
                iu = part.get("image_url")
                url = iu.get("url") if isinstance(iu, dict) else None
                if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
                    raise invalid(
                        f"'{pw}.image_url.url' must be an http(s) URL or a data:image/ URL.",
                        param=f"{pw}.image_url.url",
                        code="invalid_value",
                    )
                t.images += 1
            elif kind == "file":
                t.files += 1
                t.media_tokens += _file_tokens(part, pw)
            elif kind == "input_audio":
                t.audios += 1
                t.media_tokens += _audio_tokens(part, pw)
    elif content is None:
        if role != "assistant" or not msg.get("tool_calls"):
            raise invalid(
                f"'{where}.content' is required.", param=f"{where}.content", code="missing_required_parameter"
            )
    else:
        raise invalid(
            f"'{where}.content' must be a string or an array of content parts.",
            param=f"{where}.content",
            code="invalid_type",
        )
    if role == "tool" and not isinstance(msg.get("tool_call_id"), str):
        raise invalid(
            f"'{where}.tool_call_id' is required for tool messages.",
            param=f"{where}.tool_call_id",
            code="missing_required_parameter",
        )
    tool_calls = msg.get("tool_calls")
    if tool_calls is not None:
        if role != "assistant" or not isinstance(tool_calls, list):
            raise invalid(
                f"'{where}.tool_calls' must be an array on an assistant message.",
                param=f"{where}.tool_calls",
                code="invalid_type",
            )
        for k, call in enumerate(tool_calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if (
                not isinstance(fn, dict)
                or not isinstance(call.get("id"), str)
                or not isinstance(fn.get("name"), str)
                or not isinstance(fn.get("arguments"), str)
            ):
                raise invalid(
                    f"'{where}.tool_calls[{k}]' must have an id and a function with a name and "
                    "arguments (a JSON string).",
                    param=f"{where}.tool_calls[{k}]",
                    code="invalid_type",
                )
            t.chars += len(fn["name"]) + len(fn["arguments"])
            t.nbytes += _nbytes(fn["name"]) + _nbytes(fn["arguments"]) + BOUND_PER_TOOL


def cache_mark_level(mark) -> int:
    """1 for a prompt-caching mark (a five-minute cache write), 2 for one asking for an hour."""
    return 2 if isinstance(mark, dict) and mark.get("ttl") == "1h" else 1


def check_service_tier(body: dict) -> None:
    tier = body.get("service_tier")
    if tier is not None and tier not in SERVICE_TIERS:
        raise invalid(
            f"'service_tier' must be one of {', '.join(SERVICE_TIERS)}.", param="service_tier", code="invalid_value"
        )


def validate(body: dict) -> Features:
    model = body.get("model")
    if model is None:
        raise invalid("'model' is required.", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise invalid("'model' must be a non-empty string.", param="model", code="invalid_type")
    messages = body.get("messages")
    if messages is None:
        raise invalid("'messages' is required.", param="messages", code="missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty array.", param="messages", code="invalid_type")
    t = _Tally()
    for i, msg in enumerate(messages):
        _tally_message(i, msg, t)
    chars, images, nbytes, marks = t.chars, t.images, t.nbytes, t.marks

    _check_bool(body, "stream")
    stream = bool(body.get("stream"))
    opts = body.get("stream_options")
    include_usage = False
    if opts is not None:
        if not isinstance(opts, dict):
            raise invalid("'stream_options' must be an object.", param="stream_options", code="invalid_type")
        if not stream:
            raise invalid("'stream_options' is only allowed when 'stream' is true.", param="stream_options")
        _check_bool(opts, "include_usage")
        include_usage = bool(opts.get("include_usage"))

    for name in ("max_tokens", "max_completion_tokens", "n", "top_logprobs"):
        _check_positive_int(body, name)
    _check_number(body, "temperature", 0, 2)
    _check_number(body, "top_p", 0, 1)
    _check_number(body, "presence_penalty", -2, 2)
    _check_number(body, "frequency_penalty", -2, 2)
    for name in ("logprobs", "parallel_tool_calls"):
        _check_bool(body, name)
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise invalid("'seed' must be an integer.", param="seed", code="invalid_type")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid("'user' must be a string.", param="user", code="invalid_type")
    check_service_tier(body)
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and (not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop))
    ):
        raise invalid("'stop' must be a string or an array of at most 4 strings.", param="stop", code="invalid_type")

    tools = body.get("tools")
    tool_chars = 0
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("'tools' must be an array.", param="tools", code="invalid_type")
        for i, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if tool.get("type") != "function" if isinstance(tool, dict) else True:
                raise invalid(f"'tools[{i}].type' must be 'function'.", param=f"tools[{i}].type", code="invalid_value")
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                raise invalid(
                    f"'tools[{i}].function.name' is required.",
                    param=f"tools[{i}].function.name",
                    code="missing_required_parameter",
                )
            if "cache_control" in tool:
                marks = max(marks, cache_mark_level(tool["cache_control"]))
            params = fn.get("parameters")
            if params is not None and not isinstance(params, dict):
                raise invalid(
                    f"'tools[{i}].function.parameters' must be a JSON schema object.",
                    param=f"tools[{i}].function.parameters",
                    code="invalid_type",
                )
            try:
                tool_chars += len(orjson.dumps(fn))
            except orjson.JSONEncodeError:
                raise invalid(
                    f"'tools[{i}].function' is nested more than {MAX_DEPTH} levels deep.",
                    param=f"tools[{i}].function",
                    code="invalid_value",
                ) from None
            nbytes += BOUND_PER_TOOL
    tool_choice = body.get("tool_choice")
    if tool_choice is not None:
        if isinstance(tool_choice, str):
            if tool_choice not in TOOL_CHOICE_STRINGS:
                raise invalid(
                    "'tool_choice' must be 'none', 'auto', 'required' or a named function.",
                    param="tool_choice",
                    code="invalid_value",
                )
        elif not (
            isinstance(tool_choice, dict)
            and isinstance(tool_choice.get("function"), dict)
            and isinstance(tool_choice["function"].get("name"), str)
        ):
            raise invalid(
                "'tool_choice' must be 'none', 'auto', 'required' or a named function.",
                param="tool_choice",
                code="invalid_type",
            )
        if tool_choice != "none" and not tools:
            raise invalid("'tool_choice' is only allowed when 'tools' are specified.", param="tool_choice")

    rf = body.get("response_format")
    json_mode = False
    if rf is not None:
        if not isinstance(rf, dict) or rf.get("type") not in RESPONSE_FORMATS:
            raise invalid(
                "'response_format.type' must be one of text, json_object, json_schema.",
                param="response_format",
                code="invalid_value",
            )
        if rf["type"] == "json_schema":
            js = rf.get("json_schema")
            if not isinstance(js, dict) or not isinstance(js.get("name"), str):
                raise invalid(
                    "'response_format.json_schema' must be an object with a 'name'.",
                    param="response_format.json_schema",
                    code="invalid_type",
                )
            if js.get("schema") is not None and not isinstance(js["schema"], dict):
                raise invalid(
                    "'response_format.json_schema.schema' must be a JSON schema object.",
                    param="response_format.json_schema.schema",
                    code="invalid_type",
                )
        json_mode = rf["type"] != "text"
        if json_mode:
            nbytes += BOUND_JSON_MODE
            if rf["type"] == "json_schema":
                nbytes += len(orjson.dumps(rf["json_schema"]))

    fallback_models = body.get("models")
    if fallback_models is not None and (
        not isinstance(fallback_models, list) or not all(isinstance(m, str) and m for m in fallback_models)
    ):
        raise invalid("'models' must be an array of model names.", param="models", code="invalid_type")

    n = body.get("n") or 1
    if n > MAX_N:
        raise invalid(f"'n' must be at most {MAX_N}.", param="n", code="invalid_value")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    bound = nbytes + tool_chars + BOUND_PER_MESSAGE * len(messages) + BOUND_PER_IMAGE * images + BOUND_PER_REQUEST
    prompt_tokens = (
        (chars + tool_chars) // CHARS_PER_TOKEN
        + TOKENS_PER_MESSAGE * len(messages)
        + TOKENS_PER_IMAGE * images
        + t.media_tokens
    )
    return Features(
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        tools=bool(tools) and tool_choice != "none",
        vision=images > 0,
        json_mode=json_mode,
        stream=stream,
        include_usage=include_usage,
        prompt_tokens_bound=bound,
        n=n,
        documents=t.files > 0,
        audio=t.audios > 0,
        cache_marks=marks,
    )


def estimate_completion_tokens(text_chars: int) -> int:
    return (text_chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
