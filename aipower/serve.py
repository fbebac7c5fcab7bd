"""The production server: uvicorn with the API's limits.

    python -m aipower.serve --host 0.0.0.0 --port 8000 [--workers N]

On top of `uvicorn aipower.asgi:application`: a request's line and headers together may be at most
AIPOWER_MAX_HEADER_BYTES (32 KiB; past it 431 and the connection closed, before any work), at most
AIPOWER_MAX_CONNECTIONS connections and requests per process (past it 503), and SIGTERM drains for
AIPOWER_DRAIN_SECONDS (30 s) before cutting what is left, the first AIPOWER_DRAIN_NOTICE_SECONDS
(5 s) of it still listening with /readyz answering 503 (routing/drain.py).
"""

import argparse
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipower.settings")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def main() -> None:
    import uvicorn
    from django.conf import settings

    from aipower.http_protocol import LimitedHttpToolsProtocol
    from routing.drain import notice_seconds

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    drain_seconds = _env_int("AIPOWER_DRAIN_SECONDS", 30)
    uvicorn.run(
        "aipower.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http=LimitedHttpToolsProtocol,
        lifespan="on",
        # uvicorn's own lines in the product's format (AIPOWER_LOG_FORMAT=json: JSON lines).
        log_config=settings.LOGGING,
        access_log=settings.AIPOWER_ACCESS_LOG,
        proxy_headers=False,  # X-Forwarded-For is read by routing/guard.py, from trusted proxies only
        limit_concurrency=_env_int("AIPOWER_MAX_CONNECTIONS", 2000),
        # Counted from the end of the notice: the whole drain stays within AIPOWER_DRAIN_SECONDS.
        timeout_graceful_shutdown=drain_seconds - notice_seconds(drain_seconds),
    )


if __name__ == "__main__":
    main()
