"""The gateway's HTTP/1.1 client for the OpenAI-format upstream calls: asyncio Protocols and
httptools' response parser (the C parser uvicorn runs on), nothing else.

Why its own: on the hot path of most requests the upstream call is a POST of a JSON body and a
JSON or server-sent-events answer; a general client's features (cookies, redirects, tracing,
middleware, per-call option objects) cost CPU on every call. `python -m bench.clients` measures
the candidates side by side against the provider simulator.

What it does:
- keep-alive connections pooled per origin (scheme, host, port), the most recently used first;
  at most `limit` connections in use at once (waiting for one counts in the connect timeout);
  idle ones closed after `keepalive` seconds;
- TLS with Python's default context (certificates and host names verified), ALPN http/1.1;
- a connect timeout, and a read timeout bounding each wait for bytes from the upstream;
- Content-Length, chunked and close-delimited answers; gzip/deflate ones are decoded (it asks
  for identity); `connection: close` and HTTP/1.0 answers close the connection after the answer;
- a pooled connection found closed when it is taken is dropped and another taken; a request that
  was written is never sent again (the calls are POSTs, not idempotent).

Errors: TimeoutError subclasses (ConnectTimeout, ReadTimeout) for timeouts; HTTPError subclasses
(ConnectError, Disconnected, ProtocolError) for everything else.
"""

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httptools


class HTTPError(Exception):
    """A failure to talk HTTP with the upstream that is not a timeout."""


class ConnectError(HTTPError):
    """The connection could not be opened (refused, unresolvable, TLS handshake failed)."""


class Disconnected(HTTPError):
    """The connection closed before the answer was complete."""


class ProtocolError(HTTPError):
    """The upstream's answer is not valid HTTP/1.1."""


class ConnectTimeout(TimeoutError):
    """No connection within the connect timeout (waiting for a free one included)."""


class ReadTimeout(TimeoutError):
    """No bytes from the upstream within the read timeout."""


# A stream's unread body above this pauses reading from the socket until the reader catches up.
_HIGH_WATER = 256 * 1024
# How long a connection whose reader is done with the body (a stream's [DONE] came) may take to
# deliver the body's last bytes (the end of the chunked encoding) and go back to the pool.
FINISH_SECONDS = 1.0


class _Origin:
    __slots__ = ("scheme", "host", "port", "tls", "host_header", "idle")

    def __init__(self, scheme: str, host: str, port: int, tls: ssl.SSLContext | None):
        self.scheme = scheme
        self.host = host
        self.port = port
        self.tls = tls
        default = 443 if scheme == "https" else 80
        name = f"[{host}]" if ":" in host else host  # an IPv6 address
        self.host_header = name if port == default else f"{name}:{port}"
        self.idle: deque[_Connection] = deque()

    def __repr__(self) -> str:
        return f"{self.scheme}://{self.host_header}"


class _Connection(asyncio.Protocol):
    """One connection and the answer being read on it; the reading side of the client."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: _Origin):
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.busy = False  # a request was written and its answer is not yet fully read
        self.idle_since = 0.0
        self.waiter: asyncio.Future | None = None
        self.last_data = 0.0  # loop time of the last bytes (or of the start of a wait)
        self.read_timeout = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.paused = False
        self.draining: Callable[[_Connection], None] | None = None  # called once the body has ended
        self.drain_timer: asyncio.TimerHandle | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.buffered = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.framed = False  # Content-Length or chunked: the end is known, EOF before it is an error
        self.decoder: zlib._Decompress | None = None
        self.exc: Exception | None = None
        self.informational = False

    # --- asyncio.Protocol ---

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:  # bytes nobody asked for: the connection can't be trusted
            self.close()
            return
        self.last_data = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("The upstream switched protocols."))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"The upstream's answer is not valid HTTP/1.1: {exc}"))
        except zlib.error as exc:
            self._fail(ProtocolError(f"The upstream's compressed body is corrupt: {exc}"))
        if self.draining is not None and (self.complete or self.exc is not None):
            self._drained()

    def eof_received(self) -> None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.busy:
            try:
                self.origin.idle.remove(self)
            except ValueError:
                pass
            return
        if self.complete or self.exc is not None:
            return
        if self.headers_done and not self.framed:  # a body delimited by the connection's end
            try:
                self._finish_body()
            except httptools.HttpParserError as bad:
                self.exc = ProtocolError(str(bad))
            else:
                self.complete = True
                self.keep_alive = False
        else:
            error = Disconnected(
                f"{self.origin} closed the connection before the answer was complete" + (f": {exc!r}" if exc else ".")
            )
            error.__cause__ = exc
            self.exc = error
        self._wake()
        if self.draining is not None:
            self._drained()

    def pause_writing(self) -> None:  # request bodies are written whole; the kernel buffers them
        pass

    def resume_writing(self) -> None:
        pass

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and the like: the real answer follows
            self.informational = True
            self.raw_headers = []
            return
        self.status = status
        for name, value in self.raw_headers:
            n = name.lower()
            if n == b"content-length":
                self.framed = True
            elif n == b"transfer-encoding":
                self.framed = self.framed or value.lower().endswith(b"chunked")
            elif n == b"content-encoding":
                coding = value.strip().lower()
                if coding in (b"gzip", b"x-gzip", b"deflate"):
                    self.decoder = zlib.decompressobj(47)  # gzip or zlib, told apart by the header
                elif coding not in (b"", b"identity"):
                    raise httptools.HttpParserError(f"unsupported content-encoding {coding!r}")
        if status in (204, 304):
            self.framed = True
        self.headers_done = True
        self._wake()

    def on_body(self, data: bytes) -> None:
        if self.draining is not None:
            return
        if self.decoder is not None:
            data = self.decoder.decompress(data)
            if not data:
                return
        self.body.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self._finish_body()
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    # --- for the client ---

    def _finish_body(self) -> None:
        if self.decoder is not None:
            rest = self.decoder.flush()
            if not self.decoder.eof:
                raise httptools.HttpParserError("the compressed body ended early")
            self.decoder = None
            if rest:
                self.body.append(rest)
                self.buffered += len(rest)

    def _fail(self, exc: Exception) -> None:
        if self.exc is None and not self.complete:
            self.exc = exc
        self.close()
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _timed_out(self, fut: asyncio.Future) -> None:
        if fut.done():
            return
        quiet = self.loop.time() - self.last_data
        if quiet < self.read_timeout:  # bytes came meanwhile: the limit counts from them
            self.timer = self.loop.call_later(self.read_timeout - quiet, self._timed_out, fut)
            return
        fut.set_exception(ReadTimeout(f"{self.origin} sent nothing for {self.read_timeout:g} s."))

    async def wait(self) -> None:
        """Until something happens on the answer (bytes, its end, an error); ReadTimeout when the
        upstream sends nothing for read_timeout seconds."""
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        fut = self.waiter = self.loop.create_future()
        self.last_data = self.loop.time()
        self.timer = self.loop.call_later(self.read_timeout, self._timed_out, fut)
        try:
            await fut
        finally:
            self.waiter = None
            self.timer.cancel()
            self.timer = None

    def drain(self, then: Callable[["_Connection"], None]) -> None:
        """Reads (and drops) the rest of the body for up to FINISH_SECONDS, then calls `then`."""
        self.draining = then
        self.body.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        self.drain_timer = self.loop.call_later(FINISH_SECONDS, self.abort)

    def _drained(self) -> None:
        then, self.draining = self.draining, None
        if self.drain_timer is not None:
            self.drain_timer.cancel()
            self.drain_timer = None
        if then is not None:
            then(self)

    def take_body(self) -> bytes:
        body = self.body
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        self.buffered = 0
        return data

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Response:
    """An answer whose status and headers have arrived. Read the body whole with read(), or
    iterate over the response for its pieces as they arrive; close() gives the connection back
    (or closes it when the body was not read to its end). Also an async context manager that
    closes it."""

    __slots__ = ("status", "_client", "_conn", "_raw_headers", "_headers")

    def __init__(self, client: "Client", conn: _Connection):
        self._client = client
        self._conn: _Connection | None = conn  # None once given back
        self.status = conn.status
        self._raw_headers = conn.raw_headers
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        """Lower-case names; repeated headers joined with ", "."""
        if self._headers is None:
            h: dict[str, str] = {}
            for name, value in self._raw_headers:
                n, v = name.decode("latin-1").lower(), value.decode("latin-1")
                h[n] = f"{h[n]}, {v}" if n in h else v
            self._headers = h
        return self._headers

    async def read(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise RuntimeError("The response is closed.")
        try:
            while not conn.complete:
                if conn.exc is not None:
                    raise conn.exc
                await conn.wait()
            if conn.exc is not None:
                raise conn.exc
        except BaseException:
            self.close()
            raise
        data = conn.take_body()
        self.close()
        return data

    def __aiter__(self) -> "Response":
        return self

    async def __anext__(self) -> bytes:
        """The body's next bytes as they arrive (decoded when compressed)."""
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        while True:
            if conn.body:
                return conn.take_body()
            if conn.exc is not None:
                raise conn.exc
            if conn.complete:
                raise StopAsyncIteration
            await conn.wait()

    def close(self, *, finish: bool = False) -> None:
        """Gives the connection back. finish: the reader is done with the body although it has
        not ended (a stream's [DONE] came): let its last bytes arrive (FINISH_SECONDS at most) so
        that the connection can be kept."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if finish and not conn.complete and conn.exc is None and not conn.closed:
            conn.drain(self._client._release)
        else:
            self._client._release(conn)

    async def __aenter__(self) -> "Response":
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()


class Client:
    """A pool of HTTP/1.1 connections for one event loop."""

    def __init__(self, *, limit: int = 512, keepalive: float = 60.0, tls: ssl.SSLContext | None = None):
        self.limit = limit
        self.keepalive = keepalive
        self._tls = tls
        self._in_use = 0
        self._slot_waiters: deque[asyncio.Future] = deque()
        self._origins: dict[str, tuple[_Origin, str]] = {}
        self._by_key: dict[tuple[str, str, int], _Origin] = {}
        self._loop = asyncio.get_running_loop()
        self.closed = False

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
            self._tls.set_alpn_protocols(["http/1.1"])
        return self._tls

    def _parse(self, url: str) -> tuple[_Origin, str]:
        found = self._origins.get(url)
        if found is not None:
            return found
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        origin = self._by_key.get(key)
        if origin is None:
            tls = self._tls_context() if parts.scheme == "https" else None
            origin = self._by_key[key] = _Origin(parts.scheme, parts.hostname, port, tls)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if len(self._origins) > 10_000:  # URLs come from the catalog; this only bounds a surprise
            self._origins.clear()
        found = self._origins[url] = (origin, path)
        return found

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> Response:
        """POSTs `body`; returns once the answer's status and headers have arrived."""
        origin, path = self._parse(url)
        lines = [
            f"POST {path} HTTP/1.1\r\nhost: {origin.host_header}\r\ncontent-length: {len(body)}\r\n"
            "accept-encoding: identity\r\nuser-agent: AIPower\r\n"
        ]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
                raise ValueError(f"Invalid header {name!r}")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        request = "".join(lines).encode("utf-8") + body
        for attempt in (1, 2):
            conn = await self._acquire(origin, connect_timeout)
            conn.read_timeout = read_timeout
            conn.busy = True
            try:
                conn.transport.write(request)  # type: ignore[union-attr]
                break
            except RuntimeError as exc:  # the transport was already closed: nothing was sent
                self._release(conn)
                if attempt == 2:
                    raise Disconnected(f"Could not write to {origin}: {exc}") from exc
        try:
            while not conn.headers_done:
                if conn.exc is not None:
                    raise conn.exc
                await conn.wait()
        except BaseException:
            self._release(conn)
            raise
        return Response(self, conn)

    async def _acquire(self, origin: _Origin, connect_timeout: float) -> "_Connection":
        idle = origin.idle
        while idle and self._in_use < self.limit:
            conn = idle.pop()
            if conn.closed or conn.transport.is_closing():  # type: ignore[union-attr]
                conn.close()
                continue
            if self._loop.time() - conn.idle_since > self.keepalive:
                conn.close()
                continue
            self._in_use += 1
            return conn
        if self.closed:
            raise ConnectError("The HTTP client is closed.")
        try:
            async with asyncio.timeout(connect_timeout):
                while self._in_use >= self.limit:
                    await self._wait_for_slot()
                    while idle and self._in_use < self.limit:  # one may have come back meanwhile
                        conn = idle.pop()
                        if not (conn.closed or conn.transport.is_closing()):  # type: ignore[union-attr]
                            self._in_use += 1
                            return conn
                self._in_use += 1
                try:
                    return await self._connect(origin)
                except BaseException:
                    self._free_slot()
                    raise
        except TimeoutError:
            raise ConnectTimeout(f"No connection to {origin} within {connect_timeout:g} s.") from None

    async def _wait_for_slot(self) -> None:
        fut = self._loop.create_future()
        self._slot_waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # woken, then cancelled: wake the next one
                self._wake_slot_waiter()
            else:
                fut.cancel()
            raise

    def _wake_slot_waiter(self) -> None:
        waiters = self._slot_waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _free_slot(self) -> None:
        self._in_use -= 1
        if self._slot_waiters:
            self._wake_slot_waiter()

    async def _connect(self, origin: _Origin) -> _Connection:
        conn = _Connection(self._loop, origin)
        try:
            await self._loop.create_connection(
                lambda: conn,
                origin.host,
                origin.port,
                ssl=origin.tls,
                server_hostname=origin.host if origin.tls is not None else None,
            )
        except TimeoutError:  # the kernel's own connect timeout
            raise ConnectTimeout(f"Connecting to {origin} timed out.") from None
        except OSError as exc:  # refused, unreachable, unresolvable, TLS failures
            raise ConnectError(f"Could not connect to {origin}: {exc!r}") from exc
        return conn

    def _release(self, conn: _Connection) -> None:
        """Gives a connection back: to the idle ones when its answer was read to the end and it
        may be kept, closed otherwise."""
        conn.busy = False
        reusable = conn.complete and conn.keep_alive and conn.exc is None and not conn.closed and not self.closed
        if reusable:
            conn._reset()
            conn.idle_since = self._loop.time()
            if conn.paused:
                conn.paused = False
                conn.transport.resume_reading()  # type: ignore[union-attr]
            conn.origin.idle.append(conn)
        else:
            conn.abort() if not conn.complete else conn.close()
        self._free_slot()

    async def close(self) -> None:
        """Closes the idle connections; those in use close when they are given back."""
        self.closed = True
        for origin in self._by_key.values():
            while origin.idle:
                origin.idle.pop().close()
