"""POST /v1/responses, GET and DELETE /v1/responses/{id}: OpenAI's Responses API, served on every
target by translating onto the chat-completions path (routing.gateway.chat_completions), so keys,
routes, failover, holds, billing and usage rows are the chat path's own.

- `input` (a string or items: messages, function_call, function_call_output), `instructions`
  (a system message, not carried to later turns, as OpenAI does), function `tools`,
  `tool_choice`, `text.format` (json_object / json_schema -> response_format),
  `max_output_tokens`, `temperature`, `top_p`, `parallel_tool_calls`, `reasoning.effort`,
  `user` / `safety_identifier`, `metadata`.
- Built-in tools the gateway cannot run (web search, file search, computer use, code
  interpreter, image generation, MCP...) are a 400 naming the tool; so is any other parameter
  that cannot be honoured.
- `include`, `truncation`, `service_tier` and `top_logprobs`: see responses_fields.py.
- `store` (default true, as OpenAI's): the answer and the conversation up to it are kept in
  PostgreSQL for AIPOWER_RESPONSES_TTL_SECONDS, scoped to the organization: another
  organization's id is a 404, as is an expired one. `previous_response_id` continues it.
"""

import secrets
import time
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from aipower.db import db_task
from routing.api_types import ApiResponse, ApiStream, error_response
from routing.errors import GatewayError, invalid

from . import chat_path, responses_fields

BUILTIN_TOOLS = {
    "web_search",
    "web_search_preview",
    "web_search_2025_08_26",
    "web_search_preview_2025_03_11",
    "file_search",
    "computer_use",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
    "custom",
}
_STATUS_OF: dict[str | None, tuple[str, dict[str, str] | None]] = {
    "length": ("incomplete", {"reason": "max_output_tokens"}),
    "content_filter": ("incomplete", {"reason": "content_filter"}),
}
_PASSED = ("temperature", "top_p", "parallel_tool_calls")
_IGNORED = (  # read here or in responses_fields.py, not passed on as they are
    "stream",
    "store",
    "metadata",
    "include",
    "truncation",
    "service_tier",
    "top_logprobs",
    "background",
    "prompt_cache_key",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "max_output_tokens",
    "model",
    "reasoning",
    "previous_response_id",
    "user",
    "safety_identifier",
    "models",
    "stream_options",
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


# --- Request: Responses -> chat completions ---------------------------------------------------


def _content(content, where: str, role: str):
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(f"'{where}.content' must be a string or an array of content parts.", param=f"{where}.content")
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        pw = f"{where}.content[{j}]"
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal") or ""})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise invalid(
                    f"'{pw}': images are accepted as 'image_url' (a URL or data URL), not file ids.",
                    param=pw,
                    code="unsupported_parameter",
                )
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": part.get("detail") or "auto"}})
        elif kind == "input_file" and isinstance(part.get("file_data"), str):
            parts.append(
                {
                    "type": "file",
                    "file": {"file_data": part["file_data"], "filename": part.get("filename") or "file.pdf"},
                }
            )
        else:
            raise invalid(
                f"'{pw}': content parts of type '{kind}' are not supported.", param=pw, code="unsupported_parameter"
            )
    if role != "user" and all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def input_messages(items, where: str = "input") -> list[dict]:
    """Chat messages for a Responses `input` (a string or a list of items)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise invalid("'input' must be a string or an array of input items.", param="input", code="invalid_type")
    out: list[dict] = []
    for i, item in enumerate(items):
        iw = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"'{iw}' must be an object.", param=iw, code="invalid_type")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise invalid(f"'{iw}.role' must be user, assistant, system or developer.", param=f"{iw}.role")
            out.append({"role": role, "content": _content(item.get("content"), iw, role)})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id") or item.get("id") or "",
                "type": "function",
                "function": {"name": item.get("name") or "", "arguments": item.get("arguments") or "{}"},
            }
            prev = out[-1] if out else None
            if prev is not None and prev["role"] == "assistant" and (prev.get("tool_calls") or not prev["content"]):
                prev.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if not isinstance(item.get("call_id"), str):
                raise invalid(f"'{iw}.call_id' is required.", param=f"{iw}.call_id", code="missing_required_parameter")
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": item["call_id"],
                    "content": output if isinstance(output, str) else orjson.dumps(output).decode(),
                }
            )
        elif kind == "reasoning":
            continue  # the model's own earlier reasoning: no vendor here takes it back
        else:
            raise invalid(
                f"'{iw}': input items of type '{kind}' are not supported.",
                param=f"{iw}.type",
                code="unsupported_parameter",
            )
    return out


def _tools(body: dict, chat: dict) -> None:
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise invalid("'tools' must be an array.", param="tools", code="invalid_type")
        out = []
        for i, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind != "function":
                name = kind if isinstance(kind, str) else "?"
                raise invalid(
                    f"The built-in tool '{name}' is not supported by this gateway (tools[{i}]); only "
                    "function tools are.",
                    param=f"tools[{i}].type",
                    code="unsupported_tool",
                )
            fn = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object"}}
            if tool.get("description"):
                fn["description"] = tool["description"]
            if tool.get("strict") is not None:
                fn["strict"] = tool["strict"]
            out.append({"type": "function", "function": fn})
        chat["tools"] = out
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        chat["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        kind = choice.get("type") if isinstance(choice, dict) else choice
        raise invalid(
            f"'tool_choice' of type '{kind}' is not supported by this gateway.",
            param="tool_choice",
            code="unsupported_tool",
        )


def _format(body: dict, chat: dict) -> None:
    text = body.get("text")
    if text is None:
        return
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        js = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {"type": "object"}}
        for name in ("description", "strict"):
            if fmt.get(name) is not None:
                js[name] = fmt[name]
        chat["response_format"] = {"type": "json_schema", "json_schema": js}
    elif kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind != "text":
        raise invalid("'text.format.type' must be text, json_object or json_schema.", param="text.format.type")
    if isinstance(text, dict) and text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]


def to_chat(body: dict, history: list[dict]) -> tuple[dict, list[dict]]:
    """(the chat request, the conversation to store: earlier turns and this input, no instructions)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("'model' is required.", param="model", code="missing_required_parameter")
    if body.get("input") is None:
        raise invalid("'input' is required.", param="input", code="missing_required_parameter")
    for name in body:
        if name not in _PASSED and name not in _IGNORED:
            raise invalid(
                f"'{name}' is not supported by this gateway's Responses API.", param=name, code="unsupported_parameter"
            )
    if body.get("background"):
        raise invalid("'background' responses are not supported.", param="background", code="unsupported_parameter")
    conversation = history + input_messages(body["input"])
    messages = list(conversation)
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise invalid("'instructions' must be a string.", param="instructions", code="invalid_type")
        messages.insert(0, {"role": "system", "content": instructions})
    chat: dict[str, Any] = {"model": model, "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for name in _PASSED:
        if body.get(name) is not None:
            chat[name] = body[name]
    user = body.get("safety_identifier") or body.get("user")
    if user is not None:
        chat["user"] = user
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
    _tools(body, chat)
    _format(body, chat)
    responses_fields.apply(responses_fields.parse(body), chat)
    if isinstance(body.get("models"), list):
        chat["models"] = body["models"]
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat, conversation


# --- Response: chat completion -> Response ----------------------------------------------------


def usage_of(u: dict | None) -> dict:
    u = u or {}
    ptd = u.get("prompt_tokens_details") or {}
    out = {
        "input_tokens": u.get("prompt_tokens") or 0,
        "input_tokens_details": {
            "cached_tokens": ptd.get("cached_tokens") or 0,
            "cache_write_tokens": ptd.get("cache_write_tokens") or 0,
        },
        "output_tokens": u.get("completion_tokens") or 0,
        "output_tokens_details": {
            "reasoning_tokens": (u.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
        },
        "total_tokens": u.get("total_tokens") or 0,
    }
    for name, value in u.items():  # what the chat path adds (its cost, for one) is kept
        if name not in (
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
        ):
            out[name] = value
    return out


def message_item(text: str, item_id: str, status: str = "completed", logprobs: list | None = None) -> dict:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}],
    }


def call_item(call: dict, item_id: str, status: str = "completed") -> dict:
    fn = call.get("function") or {}
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.get("id") or "",
        "name": fn.get("name") or "",
        "arguments": fn.get("arguments") or "",
        "status": status,
    }


def reasoning_item(text: str) -> dict:
    return {"type": "reasoning", "id": new_id("rs"), "summary": [{"type": "summary_text", "text": text}]}


def response_object(
    body: dict,
    response_id: str,
    created: int,
    *,
    model: str,
    output: list,
    usage: dict | None,
    finish: str | None,
    status: str | None = None,
) -> dict:
    st, incomplete = _STATUS_OF.get(finish, ("completed", None))
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    return (
        {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "status": status or st,
            "background": False,
            "error": None,
            "incomplete_details": incomplete if status is None else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "service_tier": responses_fields.SERVED_TIER,
            "store": body.get("store", True) is not False,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": fmt or {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_logprobs": body.get("top_logprobs") or 0,
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation") or "disabled",
            "metadata": body.get("metadata") or {},
        }
        | ({"usage": usage_of(usage)} if usage is not None else {})
        | ({"user": body["user"]} if isinstance(body.get("user"), str) else {})
    )


def _output_of(message: dict, logprobs: dict | None = None) -> list:
    output = []
    if message.get("reasoning_content"):
        output.append(reasoning_item(message["reasoning_content"]))
    if message.get("content"):
        output.append(message_item(message["content"], new_id("msg"), logprobs=responses_fields.logprobs_of(logprobs)))
    for call in message.get("tool_calls") or ():
        output.append(call_item(call, new_id("fc")))
    return output


def _assistant_message(output: list) -> dict:
    text = "".join(c["text"] for item in output if item["type"] == "message" for c in item["content"])
    calls = [
        {"id": item["call_id"], "type": "function", "function": {"name": item["name"], "arguments": item["arguments"]}}
        for item in output
        if item["type"] == "function_call"
    ]
    msg: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        msg["tool_calls"] = calls
    return msg


# --- Storage (per organization) ---------------------------------------------------------------


@db_task
def _save(*, organization_id: int, api_key_id: int, response: dict, messages: list) -> None:
    from routing.models import StoredResponse

    now = timezone.now()
    StoredResponse.objects.create(
        response_id=response["id"],
        organization_id=organization_id,
        api_key_id=api_key_id,
        created_at=now,
        response=response,
        messages=messages,
        expires_at=now + timedelta(seconds=settings.AIPOWER_RESPONSES_TTL_SECONDS),
    )


@db_task
def _load(organization_id: int, response_id: str):
    from accounts.scoping import organization_scope
    from routing.models import StoredResponse

    with organization_scope(organization_id):
        return (
            StoredResponse.objects.filter(response_id=response_id, expires_at__gt=timezone.now())
            .values("response", "messages")
            .first()
        )


@db_task
def _delete(organization_id: int, response_id: str) -> int:
    from accounts.scoping import organization_scope
    from routing.models import StoredResponse

    with organization_scope(organization_id):
        return StoredResponse.objects.filter(response_id=response_id).delete()[0]


def responses_purge_expired() -> int:
    """Deletes stored responses past their expiry; returns how many."""
    from accounts.scoping import scopes_disabled
    from routing.models import StoredResponse

    with scopes_disabled():  # every organization's, by the purge task
        return StoredResponse.objects.filter(expires_at__lte=timezone.now()).delete()[0]


def _not_found(response_id: str, param: str | None = None) -> GatewayError:
    return GatewayError(
        404,
        f"Response with id '{response_id}' not found.",
        "invalid_request_error",
        param=param,
        code="response_not_found",
    )


# --- Streaming --------------------------------------------------------------------------------


def _sse(event: dict) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ResponseStream:
    """The chat path's SSE frames as Responses events: response.created, response.in_progress,
    output_item.added / content_part.added / output_text.delta ... done per item,
    function_call_arguments.delta / .done, response.completed (or response.incomplete)."""

    def __init__(self, frames, body, response_id, created, model, on_done):
        self.frames = frames
        self.body = body
        self.id = response_id
        self.created = created
        self.model = model
        self.on_done = on_done
        self.seq = 0
        self.items: list[dict] = []  # output items, in order
        self.text_item: dict | None = None
        self.calls: dict[int, dict] = {}  # chat tool index -> item
        self.reasoning = []

    def _ev(self, type_: str, **fields) -> bytes:
        fields = {"type": type_, **fields, "sequence_number": self.seq}
        self.seq += 1
        return _sse(fields)

    def _index(self, item: dict) -> int:
        return self.items.index(item)

    def _close_text(self) -> bytes:
        item = self.text_item
        if item is None:
            return b""
        self.text_item = None
        part = item["content"][0]
        i = self._index(item)
        item["status"] = "completed"
        return (
            self._ev(
                "response.output_text.done",
                item_id=item["id"],
                output_index=i,
                content_index=0,
                text=part["text"],
                logprobs=responses_fields.event_logprobs(part["logprobs"]),
            )
            + self._ev("response.content_part.done", item_id=item["id"], output_index=i, content_index=0, part=part)
            + self._ev("response.output_item.done", output_index=i, item=item)
        )

    def _delta(self, delta: dict, logprobs: dict | None) -> bytes:
        out = b""
        if delta.get("reasoning_content"):
            self.reasoning.append(delta["reasoning_content"])
        if delta.get("content"):
            item = self.text_item
            if item is None:
                item = self.text_item = message_item("", new_id("msg"), "in_progress")
                self.items.append(item)
                i = self._index(item)
                out += self._ev("response.output_item.added", output_index=i, item={**item, "content": []})
                out += self._ev(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=i,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                )
            item["content"][0]["text"] += delta["content"]
            entries = responses_fields.logprobs_of(logprobs)
            item["content"][0]["logprobs"] += entries
            out += self._ev(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=self._index(item),
                content_index=0,
                delta=delta["content"],
                logprobs=responses_fields.event_logprobs(entries),
            )
        for tc in delta.get("tool_calls") or ():
            k = tc.get("index", 0)
            fn = tc.get("function") or {}
            item = self.calls.get(k)
            if item is None:
                out += self._close_text()
                item = self.calls[k] = call_item(
                    {"id": tc.get("id"), "function": {"name": fn.get("name"), "arguments": ""}},
                    new_id("fc"),
                    "in_progress",
                )
                self.items.append(item)
                out += self._ev("response.output_item.added", output_index=self._index(item), item=dict(item))
            if fn.get("arguments"):
                item["arguments"] += fn["arguments"]
                out += self._ev(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self._index(item),
                    delta=fn["arguments"],
                )
        return out

    def _finish(self, usage, finish) -> tuple[bytes, dict]:
        out = self._close_text()
        for item in self.calls.values():
            item["status"] = "completed"
            i = self._index(item)
            out += self._ev(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=i,
                name=item["name"],
                arguments=item["arguments"],
            )
            out += self._ev("response.output_item.done", output_index=i, item=item)
        output = ([reasoning_item("".join(self.reasoning))] if self.reasoning else []) + self.items
        final = response_object(
            self.body, self.id, self.created, model=self.model, output=output, usage=usage, finish=finish
        )
        return out, final

    async def __aiter__(self):
        start = response_object(
            self.body, self.id, self.created, model=self.model, output=[], usage=None, finish=None, status="in_progress"
        )
        yield self._ev("response.created", response=start) + self._ev("response.in_progress", response=start)
        usage = finish = None
        async for chunk in chat_path.chunks(self.frames):
            if chunk is None:
                out, final = self._finish(usage, finish)
                await self.on_done(final)
                kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
                yield out + self._ev(kind, response=final)
                return
            if "error" in chunk:
                err = chunk["error"] or {}
                failed = response_object(
                    self.body,
                    self.id,
                    self.created,
                    model=self.model,
                    output=self.items,
                    usage=None,
                    finish=None,
                    status="failed",
                )
                failed["error"] = {"code": "server_error", "message": err.get("message") or ""}
                yield self._ev("error", code=err.get("code"), message=err.get("message") or "", param=None) + self._ev(
                    "response.failed", response=failed
                )
                return
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                out = self._delta(choice.get("delta") or {}, choice.get("logprobs"))
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if out:
                    yield out


# --- Endpoints --------------------------------------------------------------------------------


async def create(request) -> ApiResponse | ApiStream:
    from routing import gateway
    from routing.request import parse_body

    try:
        key = await gateway.authenticate(request)
        body = parse_body(request.body)
        history = []
        previous = body.get("previous_response_id")
        if previous is not None:
            if not isinstance(previous, str):
                raise invalid("'previous_response_id' must be a string.", param="previous_response_id")
            stored = await _load(key.organization_id, previous)
            if stored is None:
                raise _not_found(previous, "previous_response_id")
            history = stored["messages"]
        chat, conversation = to_chat(body, history)
        dropped = await responses_fields.fit(key, chat, body.get("truncation") or "disabled")
    except GatewayError as err:
        return error_response(err)
    store = body.get("store", True) is not False
    response_id = new_id("resp")
    created = int(time.time())

    async def keep(final: dict) -> None:
        if store:
            await _save(
                organization_id=key.organization_id,
                api_key_id=key.key_id,
                response=final,
                messages=conversation + [_assistant_message(final["output"])],
            )

    resp = await chat_path.serve(request, chat)
    if dropped:
        resp.headers[responses_fields.TRUNCATED_HEADER] = str(dropped)
    if isinstance(resp, ApiStream):
        stream = ResponseStream(resp.chunks, body, response_id, created, resp.headers.get("x-aipower-model", ""), keep)
        return ApiStream(stream.__aiter__(), status=resp.status, headers=resp.headers)
    if resp.status != 200:
        return _renamed_error(resp)
    completion = orjson.loads(resp.body)
    choice = (completion.get("choices") or [{}])[0]
    final = response_object(
        body,
        response_id,
        created,
        model=completion.get("model") or "",
        output=_output_of(choice.get("message") or {}, choice.get("logprobs")),
        usage=completion.get("usage"),
        finish=choice.get("finish_reason"),
    )
    await keep(final)
    return ApiResponse(orjson.dumps(final), headers=resp.headers, ack=resp.ack)


def _renamed_error(resp: ApiResponse) -> ApiResponse:
    """The chat path's error (already in OpenAI's shape) with the Responses API's names."""
    try:
        body = orjson.loads(resp.body)
    except orjson.JSONDecodeError:
        return resp
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return resp
    renamed = responses_fields.chat_error(err)
    if renamed is err:
        return resp
    return ApiResponse(orjson.dumps({"error": renamed}), status=resp.status, headers=resp.headers, ack=resp.ack)


async def by_id(request) -> ApiResponse:
    from routing import gateway

    response_id = request.path[len("/v1/responses/") :].rstrip("/")
    if request.method not in ("GET", "DELETE") or "/" in response_id:
        err = GatewayError(
            405,
            f"Method {request.method} is not allowed on {request.path}; use GET or DELETE.",
            "invalid_request_error",
            code="method_not_allowed",
        )
        return error_response(err, {"allow": "GET, DELETE"})
    try:
        key = await gateway.authenticate(request)
        if request.method == "DELETE":
            if not await _delete(key.organization_id, response_id):
                raise _not_found(response_id)
            return ApiResponse(orjson.dumps({"id": response_id, "object": "response", "deleted": True}))
        stored = await _load(key.organization_id, response_id)
        if stored is None:
            raise _not_found(response_id)
    except GatewayError as err:
        return error_response(err)
    return ApiResponse(orjson.dumps(stored["response"]))
