"""Google's Gemini API (POST {base_url}/models/{id}:generateContent, and :streamGenerateContent?alt=sse)
behind OpenAI's chat-completions shape.

Translation choices, where the two APIs differ:

- System and developer messages become `systemInstruction`; user and assistant messages become
  `contents` with roles user/model, consecutive ones of a role merged (Gemini rejects empty
  `parts`, so empty messages are left out). Tool results become `functionResponse` parts in a
  user turn, named after the earlier assistant tool call with that id; their `response` is the
  result when it is a JSON object, else {"result": <the text>}.
- Images: base64 data URLs become `inlineData`; http(s) URLs become `fileData` with the URL as
  fileUri and a MIME type guessed from its extension (image/jpeg when it has none) -- Gemini
  fetches public URLs itself. input_audio parts and base64 file parts become `inlineData`.
- Tool calls have no ids at Gemini: answers get `call_<n>_<name>` (n counts the calls of one
  answer). Tool schemas and json_schema are converted to Gemini's OpenAPI subset (types in
  upper case, `nullable`, `anyOf`; $ref inlined; `additionalProperties`, `$schema`, `const` and
  other keywords it rejects removed or rewritten). With the quirk "json_schema": "native" they
  go unchanged as parametersJsonSchema / responseJsonSchema instead (newer models).
- Gemini 3 models reject a history whose function calls lack the thought signature Gemini gave
  them; OpenAI-shaped history cannot carry it, so those calls are sent with Google's documented
  placeholder signature ("skip_thought_signature_validator"). On by default for upstream ids
  starting "gemini-3"; the quirk "thought_signature_placeholder" (true/false) overrides.
- Parameters: max_tokens -> maxOutputTokens, temperature, top_p -> topP, stop -> stopSequences,
  n -> candidateCount, seed, presence/frequency_penalty, response_format -> responseMimeType
  application/json (+ responseSchema), tool_choice -> toolConfig.functionCallingConfig (auto
  AUTO, none NONE, required ANY, a named function ANY + allowedFunctionNames), reasoning_effort
  -> thinkingConfig (Gemini 3: thinkingLevel; earlier: thinkingBudget, as Google's own OpenAI
  compatibility maps it: none 0, minimal 512, low 1024, medium 8192, high 24576; the quirk
  "thinking": "level"/"budget" overrides). `parallel_tool_calls: false` has no Gemini
  equivalent: only the first tool call of an answer is passed on.
- Rejected with a 400 naming the parameter: logprobs, top_logprobs, logit_bias, audio output,
  prediction, web_search_options, verbosity, legacy functions/function_call, file_id files.
  Dropped as harmless: user, stream_options, store, metadata, service_tier, prompt_cache_key,
  safety_identifier, a message's `name`, a tool's `strict`.
- Answers: text parts are the content, `thought` parts the `reasoning_content`, functionCall parts
  the tool_calls. finishReason STOP -> stop (tool_calls when the answer calls tools),
  MAX_TOKENS -> length, SAFETY/RECITATION/BLOCKLIST/PROHIBITED_CONTENT/SPII/IMAGE_SAFETY/
  LANGUAGE/OTHER -> content_filter. MALFORMED_FUNCTION_CALL and its kin leave no usable answer:
  an UpstreamError worth retrying elsewhere. A prompt blocked by Gemini's safety filter
  (promptFeedback.blockReason, no candidates) is an UpstreamError with caller_fault=True,
  status 400, a message naming the block reason and error code "content_filter" in its
  upstream_body (the gateway returns caller faults as they are).
  Usage: completion = candidates + thoughts tokens, reasoning = thoughts, cached =
  cachedContentTokenCount.
"""

import mimetypes
from typing import Any

import orjson

from routing.catalog import ModelInfo
from routing.errors import UpstreamError, invalid

from .base import Target, Usage
from .common import (
    ChunkMaker,
    VendorAdapter,
    choice,
    completion_body,
    conversation,
    data_url,
    file_data,
    json_or_none,
    json_response_format,
    max_tokens,
    post_json,
    reject_unsupported,
    retry_after,
    stop_list,
    text_parts,
    tool_call,
    tool_call_arguments,
)

SIGNATURE_PLACEHOLDER = "skip_thought_signature_validator"
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "FINISH_REASON_UNSPECIFIED": "stop"}
FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE", "OTHER"}
BROKEN_CALLS = {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"}


def _quirk(model: ModelInfo, name: str, default):
    if name in model.quirks:
        return model.quirks[name]
    return model.provider.quirks.get(name, default)


def _gemini_3(model: ModelInfo) -> bool:
    return model.upstream_id.removeprefix("models/").startswith("gemini-3")


# --- Request ----------------------------------------------------------------------------------


def to_gemini(request: dict, model: ModelInfo, *, stream: bool | None = None) -> tuple[str, dict]:
    """(the path suffix after models/{id}, the body) for an (already validated) OpenAI request."""
    reject_unsupported(request, "Gemini")
    stream = bool(request.get("stream")) if stream is None else stream
    native_schema = _quirk(model, "json_schema", "") == "native"
    system, contents = _contents(request["messages"], _quirk(model, "thought_signature_placeholder", _gemini_3(model)))
    body: dict = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    _add_tools(request, body, native_schema)

    gen: dict = {}
    if limit := max_tokens(request):
        gen["maxOutputTokens"] = limit
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if request.get(ours) is not None:
            gen[theirs] = request[ours]
    if stop := stop_list(request):
        gen["stopSequences"] = stop
    if (json_format := json_response_format(request)) is not None:
        gen["responseMimeType"] = "application/json"
        if request["response_format"]["type"] == "json_schema":
            schema = json_format[0]
            if native_schema:
                gen["responseJsonSchema"] = schema
            else:
                gen["responseSchema"] = gemini_schema(schema, ordered=True)
    if (effort := request.get("reasoning_effort")) is not None:
        gen["thinkingConfig"] = _thinking(effort, model)
    if gen:
        body["generationConfig"] = gen
    return (":streamGenerateContent?alt=sse" if stream else ":generateContent"), body


def _thinking(effort: str, model: ModelInfo) -> dict:
    style = _quirk(model, "thinking", "level" if _gemini_3(model) else "budget")
    if style == "level":
        return {"thinkingLevel": "minimal" if effort == "none" else effort}
    if effort not in THINKING_BUDGETS:
        raise invalid(
            f"'reasoning_effort' must be one of {sorted(THINKING_BUDGETS)}.",
            param="reasoning_effort",
            code="invalid_value",
        )
    return {"thinkingBudget": THINKING_BUDGETS[effort]}


def _contents(msgs: list[dict], placeholder_signature: bool) -> tuple[list[dict], list[dict]]:
    call_names: dict[str, str] = {}  # tool call id -> function name, for the tool results
    system, turns = conversation(
        msgs,
        "Gemini",
        system=lambda content, where: [{"text": t} for t in text_parts(content, where) if t],
        user=_user_parts,
        assistant=lambda msg, where: _model_parts(msg, where, call_names, placeholder_signature),
        tool=lambda msg, where: _function_response(msg, where, call_names),
    )
    return system, [{"role": "model" if role == "assistant" else "user", "parts": parts} for role, parts in turns]


def _user_parts(content, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for j, part in enumerate(content):
        pw, kind = f"{where}.content[{j}]", part["type"]
        if kind == "text":
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            url = part["image_url"]["url"]
            parsed = data_url(url, f"{pw}.image_url.url")
            if parsed:
                parts.append({"inlineData": {"mimeType": parsed[0], "data": parsed[1]}})
            else:
                mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
                parts.append({"fileData": {"mimeType": mime, "fileUri": url}})
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            if not isinstance(audio.get("data"), str):
                raise invalid(f"'{pw}.input_audio.data' is required.", param=f"{pw}.input_audio.data")
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format') or 'wav'}", "data": audio["data"]}})
        elif kind == "file":
            mime, b64 = file_data(part, pw, "Gemini")
            parts.append({"inlineData": {"mimeType": mime, "data": b64}})
        else:
            raise invalid(
                f"'{pw}': {kind} parts are not supported by Gemini models.", param=pw, code="unsupported_parameter"
            )
    return parts


def _model_parts(msg: dict, where: str, call_names: dict, placeholder_signature: bool) -> list[dict]:
    parts: list[dict[str, Any]] = [{"text": t} for t in text_parts(msg.get("content"), where) if t]
    for k, call in enumerate(msg.get("tool_calls") or ()):
        name = call["function"]["name"]
        call_names[call["id"]] = name
        args = tool_call_arguments(call, f"{where}.tool_calls[{k}]")
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if placeholder_signature and k == 0:
            # Gemini signs the first function call of a turn; see the module docstring.
            part["thoughtSignature"] = SIGNATURE_PLACEHOLDER
        parts.append(part)
    return parts


def _function_response(msg: dict, where: str, call_names: dict) -> dict:
    name = call_names.get(msg["tool_call_id"])
    if name is None:
        raise invalid(
            f"'{where}.tool_call_id' does not match a tool call of an earlier assistant message.",
            param=f"{where}.tool_call_id",
            code="invalid_value",
        )
    content = msg["content"]
    text = content if isinstance(content, str) else "".join(text_parts(content, where))
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    return {"functionResponse": {"name": name, "response": parsed if isinstance(parsed, dict) else {"result": text}}}


def _add_tools(request: dict, body: dict, native_schema: bool) -> None:
    declarations = []
    for t in request.get("tools") or ():
        fn = t["function"]
        declaration = {"name": fn["name"]}
        if fn.get("description"):
            declaration["description"] = fn["description"]
        params = fn.get("parameters")
        if params and (params.get("properties") or params.get("type", "object") != "object"):
            if native_schema:
                declaration["parametersJsonSchema"] = params
            else:
                declaration["parameters"] = gemini_schema(params)
        declarations.append(declaration)
    if not declarations:
        return
    body["tools"] = [{"functionDeclarations": declarations}]
    tool_choice = request.get("tool_choice")
    if tool_choice is None:
        return
    if isinstance(tool_choice, dict):
        config = {"mode": "ANY", "allowedFunctionNames": [tool_choice["function"]["name"]]}
    else:
        config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[tool_choice]}
    body["toolConfig"] = {"functionCallingConfig": config}


# --- JSON schema -> Gemini's schema subset ----------------------------------------------------

_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}
_COPIED = (
    "description",
    "nullable",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "pattern",
    "default",
    "example",
)


def gemini_schema(schema: dict, *, ordered: bool = False) -> dict:
    """A JSON schema rewritten into the OpenAPI 3.0 subset Gemini's `Schema` accepts. `ordered`:
    add propertyOrdering (the declared order), so JSON answers keep the caller's key order."""
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _convert(schema, defs, frozenset(), ordered)


def _convert(s, defs: dict, seen: frozenset, ordered: bool) -> dict:
    if not isinstance(s, dict):
        return {}
    if "$ref" in s:
        name = str(s["$ref"]).rsplit("/", 1)[-1]
        if name in seen or name not in defs:
            return {"type": "OBJECT"}  # recursive or unresolvable: the shape is left open
        return _convert({**defs[name], **{k: v for k, v in s.items() if k != "$ref"}}, defs, seen | {name}, ordered)
    if s.get("allOf"):
        s = _merge_all_of(s)
    out: dict = {}
    declared = s.get("type")
    types = [t for t in (declared if isinstance(declared, list) else [declared] if declared else []) if t != "null"]
    nullable = isinstance(declared, list) and "null" in declared
    variants = s.get("anyOf") or s.get("oneOf")
    if variants:
        non_null = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        nullable = nullable or len(non_null) < len(variants)
        if len(non_null) == 1:
            out.update(_convert(non_null[0], defs, seen, ordered))
        else:
            out["anyOf"] = [_convert(v, defs, seen, ordered) for v in non_null]
    if len(types) > 1:
        out["anyOf"] = [{"type": t.upper()} for t in types]
    elif types:
        out["type"] = str(types[0]).upper()
    enum = s.get("enum", [s["const"]] if "const" in s else None)
    if enum and all(isinstance(v, str) for v in enum):
        out["enum"] = list(enum)
        out.setdefault("type", "STRING")
    if isinstance(s.get("properties"), dict):
        out["properties"] = {k: _convert(v, defs, seen, ordered) for k, v in s["properties"].items()}
        if s.get("required"):
            out["required"] = [r for r in s["required"] if r in out["properties"]]
        if ordered and out["properties"]:
            out["propertyOrdering"] = list(out["properties"])
        out.setdefault("type", "OBJECT")
    items = s.get("items")
    if isinstance(items, list):
        items = items[0] if items else None
    if isinstance(items, dict):
        out["items"] = _convert(items, defs, seen, ordered)
        out.setdefault("type", "ARRAY")
    if s.get("format") in _FORMATS.get(out.get("type", ""), ()):
        out["format"] = s["format"]
    for key in _COPIED:
        if key in s and key not in out:
            out[key] = s[key]
    if nullable:
        out["nullable"] = True
    return out


def _merge_all_of(s: dict) -> dict:
    merged = {k: v for k, v in s.items() if k != "allOf"}
    for sub in s["allOf"]:
        if not isinstance(sub, dict):
            continue
        for key, value in sub.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


# --- Response ---------------------------------------------------------------------------------


def usage_from_gemini(u: dict | None) -> Usage | None:
    if not u:
        return None
    thoughts = u.get("thoughtsTokenCount") or 0
    return Usage(
        prompt_tokens=(u.get("promptTokenCount") or 0) + (u.get("toolUsePromptTokenCount") or 0),
        completion_tokens=(u.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=u.get("cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def finish_reason(reason: str | None, called_tools: bool, *, kind: str = "protocol") -> str:
    if reason in BROKEN_CALLS:
        raise UpstreamError(f"Gemini ended its answer with {reason}: no usable answer.", kind=kind)
    if reason in FILTERED:
        return "content_filter"
    finish = FINISH_REASONS.get(reason or "STOP", "stop")
    return "tool_calls" if finish == "stop" and called_tools else finish


def _blocked(response: dict) -> UpstreamError:
    feedback = response.get("promptFeedback") or {}
    reason = feedback.get("blockReason")
    if not reason:
        return UpstreamError("Gemini answered without candidates.", kind="protocol", upstream_body=response)
    message = f"The prompt was blocked by the provider's safety filter: {reason}."
    # The gateway answers a caller fault with the message and upstream_body["error"]'s code.
    return UpstreamError(
        message,
        kind="status",
        status=400,
        caller_fault=True,
        upstream_body={"error": {"message": message, "code": "content_filter"}, "promptFeedback": feedback},
    )


def from_gemini(response: dict, *, model: str = "", single_tool_call: bool = False) -> tuple[dict, Usage | None]:
    """An OpenAI chat.completion dict and the usage for a GenerateContentResponse.
    `single_tool_call`: the caller set parallel_tool_calls false; pass on one call only."""
    candidates = response.get("candidates")
    if not candidates:
        raise _blocked(response)
    choices = []
    for position, candidate in enumerate(candidates):
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[dict] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if "functionCall" in part:
                fc = part["functionCall"]
                calls.append(
                    tool_call(
                        f"call_{len(calls)}_{fc['name']}", fc["name"], orjson.dumps(fc.get("args") or {}).decode()
                    )
                )
            elif "text" in part:
                (thoughts if part.get("thought") else texts).append(part["text"])
        if single_tool_call:
            calls = calls[:1]
        finish = finish_reason(candidate.get("finishReason"), bool(calls))
        content = "".join(texts) if texts or not calls else None
        choices.append(choice(candidate.get("index", position), content, calls, finish, "".join(thoughts) or None))
    usage = usage_from_gemini(response.get("usageMetadata"))
    body = completion_body(response.get("responseId") or "gen", response.get("modelVersion") or model, choices, usage)
    return body, usage


class GeminiStream:
    """Turns streamGenerateContent events (each a GenerateContentResponse) into OpenAI chunk
    dicts. feed() takes one event and returns its chunks; close() is called when the byte
    stream ends and returns the usage chunk, or raises when no candidate finished."""

    def __init__(self, model: str, *, single_tool_call: bool = False):
        self.chunks = ChunkMaker("gen", model)
        self.single_tool_call = single_tool_call
        self.calls: dict[int, int] = {}  # candidate index -> tool calls passed on
        self.finished: set[int] = set()
        self.usage: dict | None = None

    def feed(self, data: dict) -> list[dict]:
        if "error" in data:
            raise _stream_error(data)
        if data.get("usageMetadata"):
            self.usage = data["usageMetadata"]
        candidates = data.get("candidates")
        if not candidates:
            if (data.get("promptFeedback") or {}).get("blockReason"):
                raise _blocked(data)
            return []
        if data.get("responseId"):
            self.chunks.id = data["responseId"]
        if data.get("modelVersion"):
            self.chunks.model = data["modelVersion"]
        out = []
        for position, candidate in enumerate(candidates):
            index = candidate.get("index", position)
            if index not in self.calls:
                self.calls[index] = 0
                out.append(self.chunks.delta({"role": "assistant", "content": ""}, index))
            for part in (candidate.get("content") or {}).get("parts") or ():
                if "functionCall" in part:
                    out.extend(self._call(index, part["functionCall"]))
                elif part.get("text"):
                    field = "reasoning_content" if part.get("thought") else "content"
                    out.append(self.chunks.delta({field: part["text"]}, index))
            if candidate.get("finishReason"):
                finish = finish_reason(candidate["finishReason"], self.calls[index] > 0, kind="stream")
                self.finished.add(index)
                out.append(self.chunks.delta({}, index, finish_reason=finish))
        return out

    def _call(self, index: int, fc: dict) -> list[dict]:
        n = self.calls[index]
        if self.single_tool_call and n:
            return []
        self.calls[index] = n + 1
        arguments = orjson.dumps(fc.get("args") or {}).decode()
        call = {"index": n, **tool_call(f"call_{n}_{fc['name']}", fc["name"], arguments)}
        return [self.chunks.delta({"tool_calls": [call]}, index)]

    def close(self) -> list[dict]:
        if not self.finished:
            raise UpstreamError("The Gemini stream ended before the answer was complete.", kind="stream")
        usage = usage_from_gemini(self.usage)
        return [self.chunks.usage(usage)] if usage is not None else []


# --- Errors -----------------------------------------------------------------------------------


def _retry_delay(error: dict) -> float | None:
    for detail in error.get("details") or ():
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def status_error(status: int, raw: bytes, headers) -> UpstreamError:
    """The UpstreamError for a non-2xx answer from the Gemini API."""
    body = json_or_none(raw)
    if body is None:
        try:  # streamGenerateContent without alt=sse wraps its error in an array
            listed = orjson.loads(raw)
            body = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else None
        except orjson.JSONDecodeError:
            body = None
    error = body.get("error") if body else None
    if not isinstance(error, dict):
        error = {}
    message = error.get("message") or raw[:500].decode(errors="replace") or f"HTTP {status}"
    described = f"Gemini answered {status} {error.get('status') or ''}: {message}"
    if status == 400:
        reasons = {d.get("reason") for d in error.get("details") or () if isinstance(d, dict)}
        lowered = message.lower()
        if "exceeds the maximum number of tokens" in lowered:
            return UpstreamError(described, kind="context_length", status=status, upstream_body=body)
        # A bad key comes as 400 API_KEY_INVALID; FAILED_PRECONDITION is billing or region: the
        # provider's set-up, not the caller's request.
        if "API_KEY_INVALID" not in reasons and error.get("status") != "FAILED_PRECONDITION":
            return UpstreamError(message, kind="status", status=status, caller_fault=True, upstream_body=body)
    # 401/403 (key, permissions), 404 (unknown model id), 429, 5xx: worth another candidate.
    return UpstreamError(
        described,
        kind="status",
        status=status,
        retry_after=retry_after(headers) or _retry_delay(error),
        upstream_body=body,
    )


def _stream_error(data: dict) -> UpstreamError:
    error = data["error"] if isinstance(data.get("error"), dict) else {"message": str(data.get("error"))}
    return UpstreamError(
        f"Gemini stream error {error.get('status') or error.get('code')}: {error.get('message')}",
        kind="stream",
        retryable=error.get("status") != "INVALID_ARGUMENT",
        upstream_body=data,
    )


# --- Adapter ----------------------------------------------------------------------------------


class GeminiAdapter(VendorAdapter):
    status_error = staticmethod(status_error)

    def build(self, target: Target, request: dict, *, stream: bool) -> tuple[str, dict, dict]:
        suffix, body = to_gemini(request, target.model, stream=stream)
        model_id = target.model.upstream_id.removeprefix("models/")
        headers = {"x-goog-api-key": target.api_key or "", "content-type": "application/json", **target.extra_headers}
        return f"{target.base_url}/models/{model_id}{suffix}", headers, body

    def read(self, data: dict, target: Target, request: dict) -> tuple[dict, Usage | None]:
        return from_gemini(
            data, model=target.model.upstream_id, single_tool_call=request.get("parallel_tool_calls") is False
        )

    async def embed(self, client, target: Target, inputs: list, dimensions: int | None) -> tuple[list, int | None]:
        """(the vectors of `inputs`, strings, via batchEmbedContents; None: Gemini reports no token count)."""
        model_id = target.model.upstream_id.removeprefix("models/")
        requests = []
        for text in inputs:
            one: dict[str, Any] = {"model": f"models/{model_id}", "content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                one["outputDimensionality"] = dimensions
            requests.append(one)
        headers = {"x-goog-api-key": target.api_key or "", "content-type": "application/json", **target.extra_headers}
        data = await post_json(
            client,
            f"{target.base_url}/models/{model_id}:batchEmbedContents",
            body={"requests": requests},
            headers=headers,
            timeout=target.timeout(),
            status_error=self.status_error,
        )
        try:
            vectors = [e["values"] for e in data["embeddings"]]
        except (KeyError, TypeError):
            raise UpstreamError("Gemini answered with a body that is not an embedding list.", kind="protocol") from None
        if len(vectors) != len(inputs):
            raise UpstreamError("Gemini returned a different number of embeddings than inputs.", kind="protocol")
        return vectors, None

    def translator(self, target: Target, request: dict) -> "GeminiStream":
        return GeminiStream(target.model.upstream_id, single_tool_call=request.get("parallel_tool_calls") is False)
