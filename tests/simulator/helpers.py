"""Helpers to call the simulator in its three wire formats and read its streams."""

import time

import orjson

OPENAI_HEADERS = {"Authorization": "Bearer sk-test"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
GEMINI_HEADERS = {"x-goog-api-key": "gm-test"}


def parse_sse(raw: bytes) -> list[tuple[str | None, str]]:
    """[(event name or None, data)] of an SSE body; accepts LF and CRLF line ends."""
    events = []
    text = raw.decode().replace("\r\n", "\n")
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        events.append((name, "\n".join(data)))
    return events


class Sim:
    def __init__(self, server, session):
        self.server = server
        self.session = session
        self.url = str(server.make_url("")).rstrip("/")

    async def post(self, path: str, body=None, headers=None, raw: bytes | None = None):
        """(status, headers, parsed JSON body or raw bytes)."""
        data = raw if raw is not None else orjson.dumps(body)
        async with self.session.post(path, data=data, headers=headers or {}) as r:
            payload = await r.read()
            try:
                return r.status, r.headers, orjson.loads(payload)
            except orjson.JSONDecodeError:
                return r.status, r.headers, payload

    async def stream(self, path: str, body, headers=None):
        """(status, headers, [(arrival time, bytes)]) reading the body as it arrives."""
        chunks = []
        async with self.session.post(path, data=orjson.dumps(body), headers=headers or {}) as r:
            async for data in r.content.iter_any():
                chunks.append((time.monotonic(), data))
            return r.status, r.headers, chunks

    async def sse(self, path: str, body, headers=None):
        status, hdrs, chunks = await self.stream(path, body, headers)
        return status, hdrs, parse_sse(b"".join(c for _, c in chunks))

    # The three formats, with a valid key; extra headers are added to the vendor's.
    async def openai(self, body, headers=None, provider="deepseek"):
        return await self.post(f"/p/{provider}/v1/chat/completions", body, {**OPENAI_HEADERS, **(headers or {})})

    async def openai_sse(self, body, headers=None, provider="deepseek"):
        return await self.sse(
            f"/p/{provider}/v1/chat/completions", {**body, "stream": True}, {**OPENAI_HEADERS, **(headers or {})}
        )

    async def anthropic(self, body, headers=None, provider="anthropic"):
        return await self.post(f"/p/{provider}/v1/messages", body, {**ANTHROPIC_HEADERS, **(headers or {})})

    async def anthropic_sse(self, body, headers=None, provider="anthropic"):
        return await self.sse(
            f"/p/{provider}/v1/messages", {**body, "stream": True}, {**ANTHROPIC_HEADERS, **(headers or {})}
        )

    async def gemini(self, model, body, headers=None, provider="google"):
        return await self.post(
            f"/p/{provider}/v1beta/models/{model}:generateContent", body, {**GEMINI_HEADERS, **(headers or {})}
        )

    async def gemini_sse(self, model, body, headers=None, provider="google"):
        return await self.sse(
            f"/p/{provider}/v1beta/models/{model}:streamGenerateContent?alt=sse",
            body,
            {**GEMINI_HEADERS, **(headers or {})},
        )

    async def control(self, method: str, path: str, body=None):
        async with self.session.request(method, path, data=orjson.dumps(body) if body is not None else None) as r:
            return r.status, orjson.loads(await r.read())


def user(text: str = "Hello there") -> dict:
    return {"role": "user", "content": text}


def data_json(events, skip_done: bool = True) -> list:
    return [orjson.loads(d) for _, d in events if not (skip_done and d == "[DONE]")]
