"""routing/httpclient.py, the upstream HTTP/1.1 client of the OpenAI-format adapter, against real
sockets: a scripted HTTP server in the test's loop (each test writes the bytes the vendor would),
TLS with a certificate made for the test."""

import asyncio
import datetime
import gzip
import ssl

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from routing import httpclient
from routing.adapters.base import Target
from routing.adapters.common import transport_error
from routing.adapters.openai_compat import OpenAICompatAdapter
from routing.errors import UpstreamError
from tests.adapters.conftest import catalog_model
from tests.servers import free_port

HELLO = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """(head, body) of the next request on a connection; None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", "content-type: application/json", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Vendor:
    """A scripted HTTP/1.1 server: `handle(vendor, reader, writer)` serves one connection.
    `connections` counts the connections accepted, `requests` keeps every request received."""

    def __init__(self, handle):
        self.handle = handle
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader, writer):
        self.connections += 1
        self.writers.append(writer)
        try:
            await self.handle(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def next_request(self, reader) -> bool:
        req = await read_request(reader)
        if req is not None:
            self.requests.append(req)
        return req is not None

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def stop(self):
        for w in self.writers:
            w.close()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def vendor():
    """vendor(handle, tls=None) -> (Vendor, base URL)."""
    made: list[Vendor] = []

    async def make(handle, tls=None):
        v = Vendor(handle)
        made.append(v)
        return v, await v.start(tls)

    yield make
    for v in made:
        await v.stop()


@pytest.fixture
async def client():
    c = httpclient.Client(limit=8)
    yield c
    await c.close()


async def post(client, url, body=b"{}", headers=None, read_timeout=5.0, connect_timeout=5.0):
    return await client.post(
        url + "/v1/chat/completions",
        body,
        headers or JSON,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


async def keep_answering(v, reader, writer):
    """Answers every request on the connection with its number on the connection."""
    n = 0
    while await v.next_request(reader):
        n += 1
        writer.write(answer(b'{"n": %d}' % n))


# --- Bodies -------------------------------------------------------------------------------


async def test_it_reads_a_chunked_body_whole_and_piece_by_piece(client, vendor):
    async def handle(v, reader, writer):
        while await v.next_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n")
            for part in (b"one ", b"two ", b"three"):
                writer.write(chunk(part))
                await writer.drain()
                await asyncio.sleep(0.02)
            writer.write(b"0\r\n\r\n")

    v, url = await vendor(handle)
    resp = await post(client, url)
    assert resp.status == 200 and resp.headers["transfer-encoding"] == "chunked"
    assert await resp.read() == b"one two three"

    async with await post(client, url) as resp:
        pieces = [piece async for piece in resp]
    assert pieces == [b"one ", b"two ", b"three"]
    assert v.connections == 1, "a body read to its end leaves the connection for the next call"


async def test_it_reads_a_body_that_ends_with_the_connection(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of ")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"it")
        await writer.drain()

    v, url = await vendor(handle)
    assert await (await post(client, url)).read() == b"all of it"
    assert await (await post(client, url)).read() == b"all of it"
    assert v.connections == 2


async def test_it_decodes_a_gzip_body_though_it_asks_for_identity(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(answer(gzip.compress(b'{"ok": true}'), "content-encoding: gzip"))

    v, url = await vendor(handle)
    assert await (await post(client, url)).read() == b'{"ok": true}'
    assert b"accept-encoding: identity" in v.requests[0][0]


async def test_it_skips_an_interim_answer(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b'{"ok": 1}', "x-final: yes"))

    v, url = await vendor(handle)
    resp = await post(client, url)
    assert (resp.status, resp.headers.get("x-final"), await resp.read()) == (200, "yes", b'{"ok": 1}')


async def test_it_sends_the_body_the_headers_and_the_host(client, vendor):
    v, url = await vendor(keep_answering)
    await (await post(client, url, b'{"a": 1}', {"authorization": "Bearer k", **JSON})).read()
    head, body = v.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
    assert f"host: {url.removeprefix('http://')}" in lines
    assert "authorization: Bearer k" in lines and "content-length: 8" in lines
    assert body == b'{"a": 1}'


async def test_it_refuses_a_header_that_would_smuggle_another(client, vendor):
    v, url = await vendor(keep_answering)
    with pytest.raises(ValueError):
        await post(client, url, headers={"x-sim-fault": "none\r\nx-evil: 1"})
    assert v.requests == []


# --- Connections ----------------------------------------------------------------------------


async def test_it_keeps_a_connection_for_the_next_call(client, vendor):
    v, url = await vendor(keep_answering)
    bodies = [await (await post(client, url)).read() for _ in range(3)]
    assert bodies == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    assert v.connections == 1


async def test_it_opens_a_new_connection_after_connection_close(client, vendor):
    async def handle(v, reader, writer):
        while await v.next_request(reader):
            writer.write(answer(b"{}", "connection: close"))
            await writer.drain()
            await asyncio.sleep(0.5)  # the client must not wait for the close to call again

    v, url = await vendor(handle)
    for _ in range(3):
        assert await (await post(client, url)).read() == b"{}"
    assert v.connections == 3
    assert len(v.requests) == 3


async def test_it_calls_again_on_a_new_connection_after_the_vendor_closed_an_idle_one(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(answer(b"{}"))
        await writer.drain()
        # The connection stays idle, then the vendor closes it (keep-alive timeout).

    v, url = await vendor(handle)
    assert await (await post(client, url)).read() == b"{}"
    await asyncio.sleep(0.1)
    assert await (await post(client, url)).read() == b"{}"
    assert v.connections == 2
    assert len(v.requests) == 2, "each request was sent exactly once"


async def test_it_never_sends_a_request_again_once_written(client, vendor):
    async def handle(v, reader, writer):
        if v.connections == 1:
            await v.next_request(reader)
            writer.write(answer(b"{}"))
            await v.next_request(reader)  # the second call, on the kept connection: no answer
        else:
            await keep_answering(v, reader, writer)

    v, url = await vendor(handle)
    await (await post(client, url)).read()
    with pytest.raises(httpclient.Disconnected):
        await post(client, url)
    assert len(v.requests) == 2 and v.connections == 1
    assert transport_error(httpclient.Disconnected("x")).kind == "connect"


async def test_it_waits_for_a_free_connection_at_its_limit(vendor):
    release = asyncio.Event()

    async def handle(v, reader, writer):
        while await v.next_request(reader):
            await release.wait()
            writer.write(answer(b"{}"))

    v, url = await vendor(handle)
    client = httpclient.Client(limit=1)
    first = asyncio.ensure_future(post(client, url))
    await asyncio.sleep(0.05)
    with pytest.raises(httpclient.ConnectTimeout):
        await post(client, url, connect_timeout=0.2)
    second = asyncio.ensure_future(post(client, url))
    await asyncio.sleep(0.05)
    release.set()
    assert await (await first).read() == b"{}"
    assert await (await second).read() == b"{}"
    assert v.connections == 1
    await client.close()


async def test_a_cancelled_call_gives_its_connection_up(vendor):
    async def handle(v, reader, writer):
        if v.connections == 1:
            await v.next_request(reader)
            await asyncio.sleep(10)
        else:
            await keep_answering(v, reader, writer)

    v, url = await vendor(handle)
    client = httpclient.Client(limit=1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await post(client, url)
    assert await (await post(client, url, connect_timeout=1.0)).read() == b'{"n": 1}'
    assert v.connections == 2
    await client.close()


async def test_a_stream_left_at_its_end_marker_keeps_its_connection(client, vendor):
    async def handle(v, reader, writer):
        while await v.next_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n")
            writer.write(chunk(b"data: [DONE]\n\n"))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"0\r\n\r\n")

    v, url = await vendor(handle)
    for _ in range(2):
        resp = await post(client, url)
        assert await resp.__anext__() == b"data: [DONE]\n\n"
        resp.close(finish=True)
        await asyncio.sleep(0.1)  # the end of the chunked body arrives meanwhile
    assert v.connections == 1


async def test_a_stream_left_early_closes_its_connection(client, vendor):
    async def handle(v, reader, writer):
        while await v.next_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for i in range(50):
                writer.write(chunk(b"data: %d\n\n" % i))
                await writer.drain()
                await asyncio.sleep(0.02)
            writer.write(b"0\r\n\r\n")

    v, url = await vendor(handle)
    resp = await post(client, url)
    assert (await resp.__anext__()).startswith(b"data: 0")
    resp.close()
    await (await post(client, url)).read()
    assert v.connections == 2


# --- Failures -------------------------------------------------------------------------------


async def test_a_silent_vendor_is_a_read_timeout(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        await asyncio.sleep(10)

    v, url = await vendor(handle)
    loop = asyncio.get_running_loop()
    t = loop.time()
    with pytest.raises(httpclient.ReadTimeout) as e:
        await post(client, url, read_timeout=0.2)
    assert 0.2 <= loop.time() - t < 1.0
    assert transport_error(e.value).kind == "timeout"


async def test_the_read_timeout_counts_from_the_last_bytes(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n")
        for b in b"abcdef":
            await asyncio.sleep(0.1)
            writer.write(bytes([b]))

    v, url = await vendor(handle)
    resp = await post(client, url, read_timeout=0.25)
    assert await resp.read() == b"abcdef"  # 0.6 s in all, never 0.25 s without bytes


async def test_a_refused_connection_is_a_connect_error(client):
    with pytest.raises(httpclient.ConnectError) as e:
        await post(client, f"http://127.0.0.1:{free_port()}")
    assert transport_error(e.value).kind == "connect"


async def test_a_body_cut_short_is_a_disconnect(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nnot 100 bytes")

    v, url = await vendor(handle)
    resp = await post(client, url)
    with pytest.raises(httpclient.Disconnected):
        await resp.read()


async def test_garbage_is_a_protocol_error(client, vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")

    v, url = await vendor(handle)
    with pytest.raises(httpclient.ProtocolError):
        await post(client, url)


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """(certificate file, key file) of a self-signed certificate for 127.0.0.1."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(folder / "cert.pem"), str(folder / "key.pem")


async def test_it_talks_tls_and_verifies_the_certificate(vendor, certificate):
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    v, url = await vendor(keep_answering, tls=server_tls)
    assert url.startswith("https://")

    default = httpclient.Client()  # Python's default trust store: the test's certificate is unknown
    with pytest.raises(httpclient.ConnectError) as e:
        await post(default, url)
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value)
    assert transport_error(e.value).kind == "connect"
    await default.close()

    trusting = ssl.create_default_context(cafile=cert)
    client = httpclient.Client(tls=trusting)
    assert [await (await post(client, url)).read() for _ in range(2)] == [b'{"n": 1}', b'{"n": 2}']
    assert v.connections == 1  # the one kept (a failed handshake never reaches the handler)
    await client.close()


# --- Through the OpenAI-format adapter ------------------------------------------------------


def target(url: str, read_timeout: float = 5.0) -> Target:
    return Target(model=catalog_model("openai", "m", url), base_url=url, api_key="k", read_timeout=read_timeout)


async def test_the_adapter_maps_a_cut_stream_to_a_started_stream_error(vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n")
        event = orjson.dumps(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
            }
        )
        writer.write(chunk(b"data: " + event + b"\n\n"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    v, url = await vendor(handle)
    seen = []
    with pytest.raises(UpstreamError) as e:
        async for c in OpenAICompatAdapter().stream(None, target(url), HELLO):
            seen.append(c)
    assert seen[0]["choices"][0]["delta"]["content"] == "Hel"
    assert e.value.kind == "stream" and e.value.retryable


async def test_the_adapter_maps_a_silent_vendor_to_a_timeout_before_the_stream_starts(vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        await asyncio.sleep(10)

    v, url = await vendor(handle)
    with pytest.raises(UpstreamError) as e:
        async for _ in OpenAICompatAdapter().stream(None, target(url, read_timeout=0.2), HELLO):
            pass
    assert e.value.kind == "timeout" and e.value.retryable
    with pytest.raises(UpstreamError) as e:
        await OpenAICompatAdapter().complete(None, target(url, read_timeout=0.2), HELLO)
    assert e.value.kind == "timeout"


async def test_the_adapter_reads_retry_after_from_an_error_answer(vendor):
    async def handle(v, reader, writer):
        await v.next_request(reader)
        writer.write(answer(b'{"error": {"message": "slow down"}}', "retry-after: 7", status="429 Too Many"))

    v, url = await vendor(handle)
    with pytest.raises(UpstreamError) as e:
        await OpenAICompatAdapter().complete(None, target(url), HELLO)
    assert (e.value.kind, e.value.status, e.value.retry_after, e.value.message) == ("status", 429, 7.0, "slow down")
