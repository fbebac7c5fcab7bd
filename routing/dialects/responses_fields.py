"""The Responses API's `include`, `truncation`, `service_tier` and `top_logprobs`, as far as a
gateway in front of chat-completions upstreams can honour them; never ignored in silence.

- `include`: "message.output_text.logprobs" asks the upstream for logprobs (a route moves on to a
  model that gives them; a pinned model that cannot is a 400 naming the value), returned on each
  output_text part and in the stream's text events; `top_logprobs` (0-20) adds alternatives.
  "message.input_image.image_url" is accepted: it changes only the input-items listing, which the
  gateway does not serve, so there is nothing to leave out. The values that need what the gateway
  does not have (file search, web search, code interpreter, computer use, encrypted reasoning) are
  a 400 naming the value, as OpenAI's own API refuses encrypted reasoning on models without it;
  a value OpenAI does not document is a 400 too.
- `truncation`: "disabled" (the default) makes an input longer than the context window of every
  model that could serve it (the pinned model, or the largest window of the route's pool) a 400
  `context_length_exceeded` on `input`, OpenAI's error; a route first moves such an input to a
  model with a larger window. "auto" drops the conversation's oldest items (never system or
  developer messages, never a tool result without the call before it) until it fits that window.
  Both judge by the gateway's prompt-size estimate; an upstream that counts more still answers
  `context_length_exceeded`, after failover to larger windows.
- `service_tier`: any value OpenAI documents is accepted and none is sent upstream. The gateway
  bills every request at the models' standard prices, so it is served on standard processing and
  the response says so (`"service_tier": "default"`), as OpenAI's does when it serves a request on
  another tier than the one asked for.
"""

import dataclasses
from dataclasses import dataclass

from routing import policy
from routing.catalog import get_snapshot
from routing.errors import GatewayError, invalid
from routing.request import check_service_tier, validate

LOGPROBS = "message.output_text.logprobs"
INCLUDE_ACCEPTED = (LOGPROBS, "message.input_image.image_url")
INCLUDE_REFUSED = {
    "file_search_call.results": "the gateway runs no file search",
    "web_search_call.results": "the gateway runs no web search",
    "web_search_call.action.sources": "the gateway runs no web search",
    "code_interpreter_call.outputs": "the gateway runs no code interpreter",
    "computer_call_output.output.image_url": "the gateway runs no computer use",
    "reasoning.encrypted_content": (
        "the gateway returns no encrypted reasoning (a model's reasoning comes back as a summary, and "
        "reasoning items in the input are not passed back to any model)"
    ),
}
SERVED_TIER = "default"  # standard processing, at the standard prices the gateway bills
TRUNCATIONS = ("auto", "disabled")
MAX_TOP_LOGPROBS = 20
TRUNCATED_HEADER = "x-aipower-truncated-messages"
KEPT_ROLES = ("system", "developer")  # never dropped by truncation


@dataclass(frozen=True, slots=True)
class Fields:
    logprobs: bool = False
    top_logprobs: int = 0
    truncation: str = "disabled"


def parse(body: dict) -> Fields:
    """The fields' values, checked: a 400 naming the field (and the value) for what cannot be honoured."""
    include = body.get("include")
    if include is None:
        include = []
    if not isinstance(include, list):
        raise invalid("'include' must be an array of strings.", param="include", code="invalid_type")
    for i, value in enumerate(include):
        if value in INCLUDE_ACCEPTED:
            continue
        if value in INCLUDE_REFUSED:
            raise invalid(
                f"'include' value '{value}' is not supported by this gateway: {INCLUDE_REFUSED[value]}.",
                param=f"include[{i}]",
                code="unsupported_value",
            )
        known = ", ".join(f"'{v}'" for v in (*INCLUDE_ACCEPTED, *INCLUDE_REFUSED))
        raise invalid(
            f"Invalid 'include' value {str(value)[:80]!r}; the values are {known}.",
            param=f"include[{i}]",
            code="invalid_value",
        )
    top = body.get("top_logprobs")
    if top is None:
        top = 0
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= MAX_TOP_LOGPROBS:
        raise invalid(
            f"'top_logprobs' must be an integer from 0 to {MAX_TOP_LOGPROBS}.",
            param="top_logprobs",
            code="invalid_type",
        )
    if top and LOGPROBS not in include:
        raise invalid(
            f"'top_logprobs' needs '{LOGPROBS}' in 'include': logprobs are returned only when included.",
            param="top_logprobs",
            code="invalid_value",
        )
    truncation = body.get("truncation")
    if truncation is not None and truncation not in TRUNCATIONS:
        raise invalid("'truncation' must be 'auto' or 'disabled'.", param="truncation", code="invalid_value")
    check_service_tier(body)
    return Fields(logprobs=LOGPROBS in include, top_logprobs=top, truncation=truncation or "disabled")


def apply(fields: Fields, chat: dict) -> None:
    """Sets the chat request's logprobs parameters (service_tier is never passed on)."""
    if fields.logprobs:
        chat["logprobs"] = True
        if fields.top_logprobs:
            chat["top_logprobs"] = fields.top_logprobs


# --- truncation -------------------------------------------------------------------------------


def too_long() -> GatewayError:
    """OpenAI's answer to an input longer than the model's context window."""
    return invalid(
        "Your input exceeds the context window of this model. Please adjust your input and try again.",
        param="input",
        code="context_length_exceeded",
    )


async def _largest_window(key, chat: dict, f) -> int | None:
    """The largest context window (tokens) of the models that could serve `chat` were it short:
    the pinned model's, or the largest of the route's pool (and the caller's `models`) that the key
    may use. None when it fits every model, or is wrong in another way (the chat path says how)."""
    snapshot = await get_snapshot()
    requested = chat["model"]
    needed = f.prompt_tokens + (f.max_tokens or 0)
    if all(needed <= m.context_window for m in snapshot.models.values() if m.kind == "chat"):
        return None  # fits anywhere (the common case): no need to plan
    try:
        plan = policy.plan(
            requested, dataclasses.replace(f, prompt_tokens=0), snapshot, extra_models=chat.get("models")
        )
        if key.allowed:
            plan = policy.restrict(plan, requested, key.allowed, snapshot)
    except GatewayError:
        return None
    route = snapshot.routes.get(requested)
    if route is None:
        reachable = plan.candidates[:1]  # a pinned model is never swapped for a longer one
    else:
        # The family fallback chains join only behind a pool model that fits, so they never widen it.
        ids = {m.id for m in route.targets}
        ids.update(m.id for name in chat.get("models") or () if (m := snapshot.resolve_model(name)) is not None)
        reachable = tuple(m for m in plan.candidates if m.id in ids)
    return max((m.context_window for m in reachable), default=None)


def _kept(messages: list[dict], start: int) -> list[dict]:
    return [m for i, m in enumerate(messages) if i >= start or m.get("role") in KEPT_ROLES]


def _fits(messages: list[dict], chat: dict, window: int) -> bool:
    f = validate({**chat, "messages": messages})
    return f.prompt_tokens + (f.max_tokens or 0) <= window


async def fit(key, chat: dict, truncation: str) -> int:
    """Makes `chat` fit the largest context window that could serve it: with truncation "auto" by
    dropping its oldest messages (returns how many), else raises OpenAI's context-length error."""
    try:
        f = validate(chat)
    except GatewayError:
        return 0  # the chat path reports it
    window = await _largest_window(key, chat, f)
    if window is None or f.prompt_tokens + (f.max_tokens or 0) <= window:
        return 0
    if truncation != "auto":
        raise too_long()
    messages = chat["messages"]
    # Where the kept conversation may start: at a message that is not a tool result (whose call
    # would be dropped), nor a system message (kept wherever it is).
    starts = [i for i, m in enumerate(messages) if i > 0 and m.get("role") not in (*KEPT_ROLES, "tool")]
    lo, hi = 0, len(starts)  # the answer is starts[k] for the least k that fits; hi: none does
    while lo < hi:
        mid = (lo + hi) // 2
        if _fits(_kept(messages, starts[mid]), chat, window):
            hi = mid
        else:
            lo = mid + 1
    if lo == len(starts):
        raise too_long()  # even the last turn alone is too long
    kept = _kept(messages, starts[lo])
    chat["messages"] = kept
    return len(messages) - len(kept)


# --- answers ----------------------------------------------------------------------------------


def logprobs_of(choice_logprobs: dict | None) -> list[dict]:
    """Chat logprobs ({"content": [...]}) as an output_text part's `logprobs` (the same entries)."""
    content = (choice_logprobs or {}).get("content") or []
    return [
        {
            "token": t.get("token") or "",
            "logprob": t.get("logprob", 0.0),
            "bytes": t.get("bytes") or [],
            "top_logprobs": [
                {"token": a.get("token") or "", "logprob": a.get("logprob", 0.0), "bytes": a.get("bytes") or []}
                for a in t.get("top_logprobs") or ()
            ],
        }
        for t in content
    ]


def event_logprobs(entries: list[dict]) -> list[dict]:
    """Output-text logprobs as the stream's text events carry them (no bytes)."""
    return [
        {
            "token": t["token"],
            "logprob": t["logprob"],
            "top_logprobs": [{"token": a["token"], "logprob": a["logprob"]} for a in t["top_logprobs"]],
        }
        for t in entries
    ]


def chat_error(err: dict) -> dict:
    """A chat-path error as the Responses API names it: the input's length is `input`'s, and a
    model without logprobs refuses the `include` value that asked for them."""
    if err.get("code") == "context_length_exceeded":
        return {**err, "message": too_long().message, "param": "input"}
    if err.get("param") == "logprobs":
        message = str(err.get("message") or "").replace("'logprobs'", f"'include' value '{LOGPROBS}'", 1)
        return {**err, "message": message, "param": "include"}
    return err
