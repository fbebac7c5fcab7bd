"""Optional (`--profile`): py-spy samples the gateway during the throughput phase (only the thread
holding the GIL, i.e. where the process spends Python CPU time); the top functions by own time and by
inclusive time are printed. py-spy is not a project dependency: install it into
the venv by hand (`.venv/bin/pip install py-spy`) to use this."""

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class Sampler:
    def __init__(self, pid: int, core: int, out: Path, seconds: float, rate: int = 250):
        self.out = out
        exe = find_py_spy()
        if exe is None:
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.cmd = [
            "taskset",
            "-c",
            str(core),
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(out),
            "--duration",
            str(int(seconds + 1)),
            "--gil",
            "--nonblocking",
        ]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(10)


PROJECT = ("routing/", "accounts/", "analytics/", "billing/", "aipower/")
# (component, substrings of a frame's file) in the order they are tried; the first match wins.
COMPONENTS = [
    ("gateway code (routing, accounts, analytics, billing, aipower)", PROJECT),
    ("Django (ASGI handler, ORM, signals, HttpResponse)", ("django/",)),
    ("asgiref (sync_to_async: thread hops, ThreadSensitiveContext)", ("asgiref/",)),
    ("threads and executors (threading, concurrent.futures)", ("threading.py", "concurrent/futures/", "queue.py")),
    ("psycopg (PostgreSQL driver)", ("psycopg", "psycopg_pool")),
    ("redis client", ("redis/",)),
    ("httpx + httpx_aiohttp (upstream client API)", ("httpx/", "httpx_aiohttp/")),
    ("aiohttp (upstream client transport)", ("aiohttp/", "multidict/", "yarl/")),
    ("uvicorn + httptools (HTTP server)", ("uvicorn/", "httptools/")),
    ("asyncio and the event loop", ("asyncio/", "uvloop/")),
    ("allauth", ("allauth/",)),
]


def component(frame: str) -> str:
    where = frame.partition(" (")[2]
    for name, needles in COMPONENTS:
        if any(n in where for n in needles):
            return name
    return "other (stdlib, orjson, ...)"


def hotspots(raw: Path, top: int = 20) -> dict:
    """From py-spy's raw (collapsed stacks) output: the share of samples by component of the leaf
    frame (where the CPU was), the top leaf functions, and the inclusive share of the gateway's own
    functions (which project code the time is spent under). Idle samples are counted apart."""
    own, incl, comp, project = Counter(), Counter(), Counter(), Counter()
    threads = Counter()
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("thread ") and not f.startswith("process ")]
        if not frames:
            continue
        leaf = frames[-1]
        if _is_idle(leaf):
            idle += n
            continue
        total += n
        threads[
            "worker threads (sync_to_async)" if frames[0].startswith("Thread._bootstrap") else "event loop thread"
        ] += n
        own[_short(leaf)] += n
        comp[component(leaf)] += n
        for f in {_short(x) for x in frames}:
            incl[f] += n
        for f in {_short(x) for x in frames if any(p in x for p in PROJECT)}:
            project[f] += n
    if not total:
        return {"samples": 0, "idle_samples": idle, "components": [], "self": [], "project_inclusive": []}

    def share(counter, k=None):
        return [(f, round(100 * n / total, 1)) for f, n in counter.most_common(k)]

    return {
        "samples": total,
        "idle_samples": idle,
        "threads": share(threads),
        "components": share(comp),
        "self": share(own, top),
        "project_inclusive": share(project, top * 2),
    }


def _is_idle(frame: str) -> bool:
    return any(
        s in frame
        for s in (
            "select (selectors.py",
            "run_forever (uvloop",
            "_run_once (asyncio",
            "wait (threading.py",
            "_worker (concurrent/futures/thread.py",
        )
    )


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py:123)"; the line keeps frames apart.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, line = where.rpartition(":")
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if parts else path
    return f"{name} ({short}:{line})" if where else name
