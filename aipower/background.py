"""Fire-and-forget coroutines on the running event loop, kept referenced until they are done (the
loop holds only weak references to tasks: an unreferenced one may be collected mid-way)."""

import asyncio
from collections.abc import Coroutine

_running: set[asyncio.Task] = set()


def start(coro: Coroutine) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
