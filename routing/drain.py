"""Graceful shutdown. On SIGTERM the server stops accepting connections, /readyz answers 503, and
requests in flight may finish for AIPOWER_DRAIN_SECONDS (30 s; the server's graceful-shutdown
timeout, aipower/serve.py). Past it the server cancels what is left: a stream still running is
then recorded (charged for what it delivered) and ended with an error event, no [DONE]; a request
not yet answered is recorded and charged nothing. Settlements and usage rows still queued are
written before the process exits (aipower/asgi.py).
"""

import asyncio
import signal

draining = False
streams: set = set()  # tasks sending a stream right now


def install() -> None:
    """Chains onto the server's SIGTERM/SIGINT handlers (called at start-up, in the main thread)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            global draining
            draining = True
            if callable(previous):
                previous(signum, frame)

        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread (an embedded server): nothing to chain onto
            return


def ending(task=None) -> bool:
    """Whether a cancellation is the drain deadline's (not the caller going away)."""
    return draining


async def streams_done(timeout: float) -> None:
    """Waits for cancelled streams to write their last event and their records."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while streams and loop.time() < deadline:
        await asyncio.sleep(0.02)
