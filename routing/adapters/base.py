"""The contract every provider adapter keeps.

An adapter translates the caller's OpenAI chat-completions request into its vendor's wire format,
calls the vendor through the shared HTTP client, and translates the answer back into OpenAI's
shape, streaming included. It touches no database and knows nothing of billing or routing. On any
failure it raises routing.errors.UpstreamError, whose `retryable` and `caller_fault` tell the
gateway whether trying another candidate makes sense.

Requests reach an adapter already validated by routing.request (known fields, right types), as a
plain dict in OpenAI's format; `model` in it is the caller's and must be replaced by the target's
upstream id. Responses go back as plain dicts in OpenAI's format: the gateway sets `id`, `model`
and `created` on them itself.

A request with STOP_SEQUENCE_FIELD set (the gateway's Messages endpoint sets it; never sent
upstream) asks for the caller's stop sequence that ended the answer, when the upstream says which:
the choice (streams: the chunk with the finish_reason) then carries it in the same field.
OpenAI's own format has no such field, so answers to other requests do not get it.
"""

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import httpx

from routing.catalog import ModelInfo

STOP_SEQUENCE_FIELD = "x_stop_sequence"  # a gateway field: see above


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0  # all input tokens, cached ones included
    completion_tokens: int = 0  # all output tokens, reasoning ones included
    cached_tokens: int = 0  # input tokens read from the vendor's prompt cache
    cache_write_tokens: int = 0  # input tokens written to the vendor's prompt cache (Anthropic), for any time
    cache_write_1h_tokens: int = 0  # of those, the ones written for one hour (Anthropic's ttl "1h")
    reasoning_tokens: int = 0

    def as_openai(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": self.cached_tokens,
                **({"cache_write_tokens": self.cache_write_tokens} if self.cache_write_tokens else {}),
                **({"cache_write_1h_tokens": self.cache_write_1h_tokens} if self.cache_write_1h_tokens else {}),
            },
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


@dataclass(slots=True)
class Target:
    """Where and how to call one catalog model."""

    model: ModelInfo
    base_url: str  # the provider's API base, without a trailing slash
    api_key: str | None
    # Extra headers to send upstream (the simulator's control headers when it is the upstream).
    extra_headers: dict = field(default_factory=dict)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0  # each wait for bytes from the upstream
    first_byte_timeout: float = 60.0  # until the answer (or a stream's first token) arrives
    idle_timeout: float = 30.0  # the longest pause between stream chunks (the gateway enforces it)
    total_timeout: float = 600.0  # a whole attempt

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout, read=self.read_timeout, write=self.read_timeout, pool=self.connect_timeout
        )


@dataclass(slots=True)
class Completion:
    """A whole (non-streamed) answer in OpenAI's chat.completion shape, and its usage."""

    body: dict
    usage: Usage | None  # None when the upstream reported none


class Adapter:
    async def complete(self, client: httpx.AsyncClient, target: Target, request: dict) -> Completion:
        raise NotImplementedError

    def stream(self, client: httpx.AsyncClient, target: Target, request: dict) -> AsyncGenerator[dict, None]:
        """Yields OpenAI chat.completion.chunk dicts. The upstream's usage, when it reports any,
        comes as a last chunk whose `choices` is empty and whose `usage` is set (the shape OpenAI
        uses for stream_options.include_usage), whatever the caller asked for: the gateway decides
        what the caller sees."""
        raise NotImplementedError

    async def embed(
        self, client: httpx.AsyncClient, target: Target, inputs: list, dimensions: int | None
    ) -> tuple[list, int | None]:
        """(the vectors, in order; the prompt tokens the upstream counted). Only the wire formats
        that serve embedding models have it."""
        raise NotImplementedError

    async def count_tokens(self, client: httpx.AsyncClient, target: Target, request: dict) -> int:
        """The prompt's input tokens as the vendor counts them. Only Anthropic's wire format has it."""
        raise NotImplementedError
