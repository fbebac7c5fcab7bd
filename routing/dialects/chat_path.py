"""The dialects' one way into the chat-completions path and out of its streams."""

import orjson

from routing.api_types import ApiRequest


async def serve(request, chat: dict):
    """The chat path's answer (ApiResponse or ApiStream) to `chat`, a chat-completions request
    body, sent with the caller's own headers (its key, its x-aipower-* and x-sim-* headers)."""
    from routing import gateway

    return await gateway.chat_completions(
        ApiRequest(request.method, "/v1/chat/completions", request.headers, orjson.dumps(chat))
    )


async def chunks(frames):
    """The chat path's SSE frames as parsed chunks; None for the closing [DONE]. Closes the frames."""
    try:
        async for frame in frames:
            if not frame.startswith(b"data: "):
                continue
            data = frame[6:].strip()
            if data == b"[DONE]":
                yield None
                return
            yield orjson.loads(data)
    finally:
        await frames.aclose()
