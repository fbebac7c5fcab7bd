"""A small, fast parser for server-sent events, shared by every adapter.

It reads the raw bytes of an upstream response and yields `(event, data)` pairs, following the
WHATWG event-stream rules that matter for LLM APIs: events end at a blank line; lines end in
LF, CRLF or CR (Gemini uses CRLF, most others LF), including when a CRLF is split between two
reads; `data:` lines of one event are joined with "\\n"; one space after the colon is dropped;
`event:` names the event; lines starting with ":" are comments (keep-alives); `id:`, `retry:`
and unknown fields are ignored; an event without data is not dispatched. Unlike a browser, an
event left unterminated when the stream ends is still yielded, so a server that forgets the last
blank line loses nothing.

The common case, one `data:` line per event, is parsed without splitting the event into lines.
"""

from collections.abc import AsyncIterable, AsyncIterator

_DATA = b"data:"
_EVENT = b"event:"


def _parse_event(block: bytes) -> tuple[str | None, str] | None:
    block = block.strip(b"\n")  # extra blank lines between events belong to no event
    if block.startswith(_DATA) and b"\n" not in block:
        value = block[5:]
        return None, (value[1:] if value[:1] == b" " else value).decode()
    event = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(_DATA):
            value = line[5:]
            data.append(value[1:] if value[:1] == b" " else value)
        elif line.startswith(_EVENT):
            value = line[6:]
            event = (value[1:] if value[:1] == b" " else value).decode()
        elif line == b"data":
            data.append(b"")
    if not data:
        return None
    return event, b"\n".join(data).decode()


async def iter_sse(byte_iter: AsyncIterable[bytes]) -> AsyncIterator[tuple[str | None, str]]:
    """Yields (event name or None, data) for each event in the stream of byte chunks."""
    buf = b""
    held_cr = False  # the previous chunk ended in CR: its LF may start this one
    first = True
    async for chunk in byte_iter:
        if not chunk:
            continue
        if held_cr:
            chunk = b"\r" + chunk
            held_cr = False
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):
                chunk = chunk[:-1]
                held_cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if first:
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            first = False
        # A separator may straddle the old buffer and the new chunk: look from the old end - 1.
        scan = len(buf) - 1 if buf else 0
        buf += chunk
        start = 0
        while True:
            end = buf.find(b"\n\n", scan)
            if end < 0:
                break
            parsed = _parse_event(buf[start:end])
            start = scan = end + 2
            if parsed is not None:
                yield parsed
        if start:
            buf = buf[start:]
    parsed = _parse_event(buf)  # a last event the server did not end with a blank line
    if parsed is not None:
        yield parsed
