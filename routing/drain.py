"""Graceful shutdown. On SIGTERM the process first gives notice: for AIPOWER_DRAIN_NOTICE_SECONDS
(5 s) it keeps accepting connections and serving requests while /readyz answers 503, so that load
balancers and orchestrators polling readiness take it out of rotation before it stops listening.
Then the server stops accepting connections and requests in flight may finish until
AIPOWER_DRAIN_SECONDS (30 s, the notice included) have passed since the signal (the server's
graceful-shutdown timeout, aipower/serve.py). Past it the server cancels what is left: a stream
still running is then recorded (charged for what it delivered) and ended with an error event, no
[DONE]; a request not yet answered is recorded and charged nothing. Settlements and usage rows
still queued are written before the process exits (aipower/asgi.py). SIGINT (Ctrl-C) skips the
notice.
"""

import asyncio
import os
import signal

stopping = False  # a SIGTERM or SIGINT arrived: not ready from here on (/readyz, routing/ops.py)
draining = False  # the server has stopped accepting connections; requests in flight are finishing
streams: set = set()  # tasks sending a stream right now


def notice_seconds(drain_seconds: int) -> int:
    """The notice after SIGTERM (AIPOWER_DRAIN_NOTICE_SECONDS, 5 s), at most the whole drain."""
    return max(0, min(int(os.environ.get("AIPOWER_DRAIN_NOTICE_SECONDS") or 5), drain_seconds))


def install() -> None:
    """Chains onto the server's SIGTERM/SIGINT handlers (called at start-up, in the main thread,
    on the server's event loop)."""
    from django.conf import settings

    loop = asyncio.get_running_loop()
    notice = notice_seconds(settings.AIPOWER_DRAIN_SECONDS)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            global stopping
            first, stopping = not stopping, True
            if not callable(previous):
                return
            if signum == signal.SIGTERM and first and notice > 0:
                # The server's own handler (stop listening, then wait for what is in flight) runs
                # after the notice; call_soon_threadsafe is safe to call from a signal handler.
                loop.call_soon_threadsafe(loop.call_later, notice, _stop, previous, signum)
            else:
                _stop(previous, signum, frame)

        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread (an embedded server): nothing to chain onto
            return


def _stop(previous, signum, frame=None) -> None:
    global draining
    draining = True
    previous(signum, frame)


def ending(task=None) -> bool:
    """Whether a cancellation is the drain deadline's (not the caller going away)."""
    return draining


async def streams_done(timeout: float) -> None:
    """Waits for cancelled streams to write their last event and their records."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while streams and loop.time() < deadline:
        await asyncio.sleep(0.02)
