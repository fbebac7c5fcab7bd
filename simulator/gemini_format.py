"""Google's Gemini API wire format (generateContent and streamGenerateContent).

Errors: {"error": {"code", "message", "status"}}. Streams (`?alt=sse`): `data: {GenerateContentResponse}`
events separated by CRLF CRLF, as Google sends them, each with candidates[0].content.parts; the last
one carries finishReason and the full usageMetadata, and there is no terminator. Without alt=sse the
same responses come as one streamed JSON array. A stop sequence (generationConfig.stopSequences)
ends the text before it, with finishReason STOP: Gemini does not say which one matched.
"""

from typing import Any

from aiohttp import web

from .content import (
    AUDIO_TOKENS_PER_SECOND,
    GEMINI_TOKENS_PER_PDF_PAGE,
    TOKENS_PER_IMAGE,
    Ask,
    Reply,
    audio_tokens,
    estimate_prompt_tokens,
    estimate_text_tokens,
    pdf_pages,
    seed_of,
)
from .controls import Controls
from .wire import Parsed, StreamPlan, Tokens, VendorError, WireFormat, dumps, new_id, text_pieces

# (model, method) of the request's path, set by the server's router.
GEMINI_CALL = web.RequestKey("gemini_call", tuple) if hasattr(web, "RequestKey") else "gemini_call"
FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
_STATUSES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request is missing required authentication credential. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    501: ("NOT_IMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def _get(d: dict, camel: str, snake: str):
    """Google's JSON accepts lowerCamelCase and snake_case field names alike."""
    value = d.get(camel)
    return d.get(snake) if value is None else value


def _error_body(status: int, message: str | None = None, retry_after: str | None = None) -> dict:
    name, default = _STATUSES.get(
        status, ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION", f"Request failed with status {status}.")
    )
    error = {"code": status, "message": message or default, "status": name}
    if retry_after:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"}]
    return {"error": error}


class _Media:
    """The images, PDF pages and audio clips of a request, and their tokens by modality."""

    def __init__(self):
        self.images = self.pages = self.clips = self.document_tokens = self.audio_tokens = 0

    def add(self, media: dict) -> None:
        mime = str(_get(media, "mimeType", "mime_type") or "image/")
        data = media.get("data")  # inline data; a file URI is counted as one page or one second
        if mime == "application/pdf":
            pages = pdf_pages(data) if data else 1
            self.pages += pages
            self.document_tokens += pages * GEMINI_TOKENS_PER_PDF_PAGE
        elif mime.startswith("audio/"):
            self.clips += 1
            self.audio_tokens += audio_tokens(data) if data else AUDIO_TOKENS_PER_SECOND
        elif mime.startswith("image/"):
            self.images += 1


def _part_size(part, media: _Media) -> int:
    """Characters of one part; its images, documents and audio go to `media`."""
    if not isinstance(part, dict):
        return 0
    if isinstance(part.get("text"), str):
        return len(part["text"])
    inline = _get(part, "inlineData", "inline_data") or _get(part, "fileData", "file_data")
    if isinstance(inline, dict):
        media.add(inline)
        return 0
    call = _get(part, "functionCall", "function_call") or _get(part, "functionResponse", "function_response")
    if isinstance(call, dict):
        return len(dumps(call))
    return 0


class GeminiFormat(WireFormat):
    name = "gemini"

    def model_of(self, body, request) -> str | None:
        return request[GEMINI_CALL][0]

    def authorized(self, request) -> bool:
        return bool(request.headers.get("x-goog-api-key", "").strip() or request.query.get("key", "").strip())

    def error(self, err: VendorError) -> tuple[int, dict, bytes]:
        message = err.message
        if err.kind == "context":
            message = message or (
                "The input token count (1100000) exceeds the maximum number of tokens allowed (1048576)."
            )
        retry_after = err.headers.get("Retry-After")
        return err.status, err.headers, dumps(_error_body(err.status, message, retry_after))

    def stream_error(self, parsed: Parsed, sent: int) -> bytes:
        body = dumps(_error_body(500))
        if not parsed.meta.get("sse", True):
            return (b",\r\n" if sent else b"[") + body + b"]"
        return b"data: " + body + b"\r\n\r\n"

    def parse(self, body, request, model) -> Parsed:
        if not isinstance(body, dict):
            raise VendorError(400, "Invalid JSON payload received. Expected an object.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise VendorError(400, "* GenerateContentRequest.contents: contents is not specified\n")
        chars = 0
        media = _Media()
        last_user = ""
        for i, content in enumerate(contents):
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list) or not parts:
                raise VendorError(
                    400, f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
                )
            for part in parts:
                chars += _part_size(part, media)
            if content.get("role", "user") == "user":
                texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
                last_user = "".join(texts) or last_user
        messages = len(contents)
        system = _get(body, "systemInstruction", "system_instruction")
        if isinstance(system, dict):
            messages += 1
            for part in system.get("parts") or ():
                chars += _part_size(part, media)
        tools = []
        for tool in body.get("tools") or ():
            declared = _get(tool, "functionDeclarations", "function_declarations") if isinstance(tool, dict) else None
            for fn in declared or ():
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    schema = fn.get("parameters") or _get(fn, "parametersJsonSchema", "parameters_json_schema")
                    tools.append((fn["name"], schema or {"type": "object", "properties": {}}))
                    chars += len(dumps(fn))

        last_parts = contents[-1].get("parts") or ()
        responses = [_get(p, "functionResponse", "function_response") for p in last_parts if isinstance(p, dict)]
        responses = [r for r in responses if isinstance(r, dict)]
        tool_result = " ".join(dumps(r.get("response", {})).decode() for r in responses) if responses else None

        config = _get(body, "toolConfig", "tool_config") or {}
        calling = _get(config, "functionCallingConfig", "function_calling_config") or {}
        mode = str(calling.get("mode", "AUTO")).upper()
        tool_choice = {"NONE": "none", "ANY": "required"}.get(mode, "auto")
        allowed = _get(calling, "allowedFunctionNames", "allowed_function_names")
        if mode == "ANY" and isinstance(allowed, list) and len(allowed) == 1:
            tool_choice = allowed[0]

        gen = _get(body, "generationConfig", "generation_config") or {}
        json_mode = None
        if _get(gen, "responseMimeType", "response_mime_type") == "application/json":
            schema = _get(gen, "responseSchema", "response_schema") or _get(
                gen, "responseJsonSchema", "response_json_schema"
            )
            json_mode = schema if isinstance(schema, dict) else "object"
        max_tokens = _get(gen, "maxOutputTokens", "max_output_tokens")
        ask = Ask(
            model=model or "",
            prompt_tokens=estimate_prompt_tokens(
                chars=chars,
                messages=messages,
                images=media.images,
                media_tokens=media.document_tokens + media.audio_tokens,
            ),
            seed=seed_of((model or "") + last_user),
            images=media.images,
            pages=media.pages,
            audio=media.clips,
            tools=tools,
            tool_choice=tool_choice,
            tool_result=tool_result,
            json_mode=json_mode,
            max_tokens=max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
            stop=tuple(s for s in _get(gen, "stopSequences", "stop_sequences") or () if isinstance(s, str)),
        )
        stream = request[GEMINI_CALL][1] == "streamGenerateContent"
        return Parsed(ask, stream, {"sse": request.query.get("alt") == "sse", "media": media})

    def _usage(self, parsed: Parsed, t: Tokens, final: bool = True) -> dict:
        media = parsed.meta["media"]
        by_modality = {
            "IMAGE": parsed.ask.images * TOKENS_PER_IMAGE,
            "DOCUMENT": media.document_tokens,
            "AUDIO": media.audio_tokens,
        }
        details = [{"modality": "TEXT", "tokenCount": t.prompt - sum(by_modality.values())}]
        details += [{"modality": m, "tokenCount": n} for m, n in by_modality.items() if n]
        if not final:
            return {"promptTokenCount": t.prompt, "totalTokenCount": t.prompt, "promptTokensDetails": details}
        candidates = t.completion - t.reasoning
        usage = {
            "promptTokenCount": t.prompt,
            "candidatesTokenCount": candidates,
            "totalTokenCount": t.prompt + t.completion,
            "promptTokensDetails": details,
        }
        if t.cached:
            usage["cachedContentTokenCount"] = t.cached
        if t.reasoning:
            usage["thoughtsTokenCount"] = t.reasoning
        return usage

    @staticmethod
    def _parts(reply: Reply) -> list:
        if reply.tool_calls:
            return [{"functionCall": {"name": c.name, "args": c.input}} for c in reply.tool_calls]
        return [{"text": reply.text}]

    def _response(self, parsed: Parsed, parts: list, response_id: str, finish: str | None, usage) -> dict:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        body: dict[str, Any] = {"candidates": [candidate]}
        if usage is not None:
            body["usageMetadata"] = usage
        body["modelVersion"] = parsed.ask.model
        body["responseId"] = response_id
        return body

    def complete(self, parsed: Parsed, reply: Reply, tokens: Tokens | None) -> bytes:
        usage = self._usage(parsed, tokens) if tokens is not None else None
        return dumps(self._response(parsed, self._parts(reply), new_id(), FINISH_REASONS[reply.finish], usage))

    def stream(self, parsed: Parsed, reply: Reply, tokens: Tokens | None, controls: Controls) -> StreamPlan:
        sse = parsed.meta.get("sse", True)
        response_id = new_id()
        running = self._usage(parsed, tokens, final=False) if tokens is not None else None
        final = self._usage(parsed, tokens) if tokens is not None else None
        if reply.tool_calls:
            pieces = [(self._parts(reply), reply.completion_tokens)]
        else:
            pieces = [([{"text": p}], estimate_text_tokens(p)) for p in text_pieces(reply.text, controls)]
            pieces = pieces or [([{"text": ""}], 0)]
        content = []
        last = len(pieces) - 1
        for i, (parts, n) in enumerate(pieces):
            body = dumps(
                self._response(
                    parsed,
                    parts,
                    response_id,
                    FINISH_REASONS[reply.finish] if i == last else None,
                    final if i == last else running,
                )
            )
            if sse:
                content.append((b"data: " + body + b"\r\n\r\n", n))
            else:
                content.append(((b"[" if i == 0 else b",\r\n") + body, n))
        return StreamPlan([], content, [] if sse else [b"]"])
