"""What the three wire formats share: the contract each format module keeps, and small helpers."""

import os
import time
from dataclasses import dataclass, field

import orjson

from .content import Ask, Reply, split_even, split_words
from .controls import Controls


class VendorError(Exception):
    """An error the simulated vendor answers with, in its own format. `kind` refines the status
    (e.g. "context" for a context-length error); `headers` are added to the response."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        kind: str | None = None,
        param: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.headers = headers or {}


@dataclass(slots=True)
class Tokens:
    prompt: int  # all input tokens, cached ones included
    completion: int  # all output tokens, reasoning ones included
    cached: int = 0  # input tokens read from the prompt cache
    cache_write: int = 0  # input tokens written to the prompt cache (Anthropic), for any time
    cache_write_1h: int = 0  # of those, the ones written for one hour
    reasoning: int = 0


@dataclass(slots=True)
class Parsed:
    ask: Ask
    stream: bool
    meta: dict = field(default_factory=dict)


@dataclass(slots=True)
class StreamPlan:
    """A stream cut into what comes before the content, the content chunks (each with the tokens it
    carries, for pacing), and what follows. Faults act between content chunks."""

    head: list  # [bytes]
    content: list  # [(bytes, tokens)]
    tail: list  # [bytes]


def new_id(n: int = 12) -> str:
    return os.urandom(n).hex()


def now() -> int:
    return int(time.time())


def dumps(obj) -> bytes:
    return orjson.dumps(obj)


def text_of(content) -> str:
    """The text of a message content that is a string or a list of text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class WireFormat:
    """One vendor's wire format. Subclasses implement each method; none does any I/O."""

    name = ""
    sse_content_type = "text/event-stream"

    def model_of(self, body, request) -> str | None:
        """The upstream model id the request names (for fault targeting and stats)."""
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None

    def authorized(self, request) -> bool:
        raise NotImplementedError

    def parse(self, body, request, model: str | None) -> Parsed:
        """The request as an Ask; VendorError(400, ...) when the vendor would reject it."""
        raise NotImplementedError

    def error(self, err: VendorError) -> tuple[int, dict, bytes]:
        """(status, headers, body) of an error response."""
        raise NotImplementedError

    def stream_error(self, parsed: Parsed, sent: int) -> bytes:
        """The in-stream error event (the vendor's overload / server error), after `sent` content chunks."""
        raise NotImplementedError

    def tokens(self, parsed: Parsed, reply: Reply, controls: Controls) -> Tokens:
        ask = parsed.ask
        return Tokens(
            prompt=ask.prompt_tokens,
            completion=reply.completion_tokens,
            cached=min(controls.cached_tokens, ask.prompt_tokens),
            reasoning=reply.reasoning_tokens,
        )

    def complete(self, parsed: Parsed, reply: Reply, tokens: Tokens | None) -> bytes:
        raise NotImplementedError

    def stream(self, parsed: Parsed, reply: Reply, tokens: Tokens | None, controls: Controls) -> StreamPlan:
        raise NotImplementedError


def text_pieces(text: str, controls: Controls) -> list[str]:
    """How a reply's text is cut into content chunks: x-sim-chunks pieces, or one a word."""
    if controls.chunks:
        return split_even(text, controls.chunks)
    return split_words(text)
