"""Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

import orjson


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


class GatewayError(Exception):
    """An error the gateway returns to the caller as it is."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


def invalid(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", param, code)


class UpstreamError(Exception):
    """Raised by provider adapters. `retryable` says whether another candidate may be tried.

    kind: connect, timeout, status, protocol, stream (the connection broke mid-response).
    caller_fault: the upstream judged the caller's request invalid; it is returned to the caller
    as it is and never counts against the provider.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        retryable: bool = True,
        caller_fault: bool = False,
        retry_after: float | None = None,
        upstream_body: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.retryable = retryable and not caller_fault
        self.caller_fault = caller_fault
        self.retry_after = retry_after
        self.upstream_body = upstream_body

    def label(self) -> str:
        return f"{self.kind}:{self.status}" if self.status else self.kind
