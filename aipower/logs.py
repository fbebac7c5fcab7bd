"""Structured logs: one JSON object per line, carrying the request id of the API request that
logged it (also from background tasks that request started). AIPOWER_LOG_FORMAT=json turns it
on (the Docker image does); the default is plain text for people at a terminal. uvicorn's own
lines are JSON too (settings.LOGGING), its access lines (AIPOWER_ACCESS_LOG) with the request's
method, path and status as fields."""

import contextvars
import json
import logging
import time

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            # uvicorn's access line: '%s - "%s %s HTTP/%s" %d' (client, method, path, version, status)
            out["client"], out["method"], out["path"], _, out["status"] = record.args
        rid = request_id.get()
        if rid:
            out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)
