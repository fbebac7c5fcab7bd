"""The API's HTTP protocol: uvicorn's httptools protocol with a limit on a request's head."""

import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = int(os.environ.get("AIPOWER_MAX_HEADER_BYTES") or 32 * 1024)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """httptools buffers a header until it ends, however long: counts the bytes of a request's
    head as they arrive and refuses it once they pass the limit."""

    _head_bytes = 0
    _in_body = False
    _heads = 0  # request heads that have ended on this connection

    def data_received(self, data: bytes) -> None:
        if self._in_body:
            return super().data_received(data)
        self._head_bytes += len(data)
        if self._head_bytes <= MAX_HEADER_BYTES:
            return super().data_received(data)
        # Past the limit: this piece (one read, bounded) may still end the head and start the body,
        # or hold a whole request (a small head and a body of some tens of kB): refused only when
        # no head ended in it.
        heads = self._heads
        super().data_received(data)
        if self._heads == heads and not self.transport.is_closing():
            body = (
                b'{"error":{"message":"Request line and headers are larger than the limit.",'
                b'"type":"invalid_request_error","param":null,"code":"headers_too_large"}}'
            )
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: "
                b"application/json\r\nconnection: close\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            self.transport.close()
            self._in_body = True  # ignore whatever else arrives

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._heads += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body, self._head_bytes = False, 0
        super().on_message_complete()
