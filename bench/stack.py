"""The processes a benchmark run needs, started in order and always stopped again.

PostgreSQL and Redis come from scripts/services.sh, private to this run (own run directory and
ports, like scripts/test.sh), with a fresh `aipower_bench` database, migrated, the catalog loaded and
a key issued. The provider simulator and the gateway run as their own process groups (a new session
each), pinned with taskset, and die with this process (setpriv --pdeathsig) even if it is killed.
"""

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "aipower_bench"


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def _no_interrupts():
    """Cleanup runs to the end even if Ctrl-C is pressed again meanwhile."""
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


class Stack:
    def __init__(self, gateway_core: int, load_core: int, log: callable = print):
        self.gateway_core = gateway_core
        self.load_core = load_core
        self.log = log
        self.run_dir = ROOT / ".run" / f"bench-{os.getpid()}"
        self.log_dir = ROOT / ".run" / "bench-logs"
        self.procs: dict[str, subprocess.Popen] = {}
        self.services_up = False
        self.env: dict[str, str] = {}
        self.database_url = ""
        self.redis_url = ""
        self.sim_url = ""
        self.gateway_url = ""
        self.api_key = ""
        self.commands: dict[str, list[str]] = {}
        self._setpriv = shutil.which("setpriv")
        self._taskset = shutil.which("taskset")
        if self._taskset is None:
            raise StackError("taskset (util-linux) is needed to pin the gateway to one core")

    # --- PostgreSQL, Redis, the database ---------------------------------------------------------

    def _services(self, action: str, **extra) -> subprocess.CompletedProcess:
        env = {**os.environ, "AIPOWER_RUN_DIR": str(self.run_dir), **extra}
        return subprocess.run(
            [str(ROOT / "scripts/services.sh"), action], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    def start_services(self) -> None:
        (ROOT / ".run").mkdir(exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # One run at a time picks ports and starts its servers (the lock scripts/test.sh takes).
        with open(ROOT / ".run/start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.services_up = True  # from here on, `down` is due whatever happens
            done = self._services("up", AIPOWER_PG_PORT=str(free_port()), AIPOWER_REDIS_PORT=str(free_port()))
        if done.returncode != 0:
            raise StackError(f"scripts/services.sh up failed:\n{done.stderr}{done.stdout}")
        exports = {}
        for line in done.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                name, _, value = line[len("export ") :].partition("=")
                exports[name] = value.strip().strip("'\"")
        try:
            base_db, self.redis_url = exports["DATABASE_URL"], exports["REDIS_URL"]
        except KeyError:
            raise StackError(f"scripts/services.sh printed no DATABASE_URL/REDIS_URL:\n{done.stdout}") from None
        parts = urlsplit(base_db)
        self.database_url = urlunsplit(parts._replace(path="/" + BENCH_DB))
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")

    def _django_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="aipower.settings",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            AIPOWER_SIMULATOR_URL=self.sim_url,
            AIPOWER_SIMULATE_PROVIDERS="1",
            LOG_LEVEL="ERROR",
            DEBUG="0",
            PYTHONUNBUFFERED="1",
        )
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self._django_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}{done.stdout[-2000:]}")
        return done.stdout

    def prepare_database(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("load_catalog")
        out = self.manage("issue_key", "--org", "Bench", "--name", "bench", "--credit-usd", "100000")
        out = out.strip().splitlines()
        if not out:
            raise StackError("manage.py issue_key printed nothing")
        self.api_key = out[-1].strip()

    def usage_rows(self) -> int | None:
        """Usage rows in the bench database (after the gateway has stopped and flushed)."""
        import psycopg

        try:
            with psycopg.connect(self.database_url) as conn:
                return conn.execute("SELECT count(*) FROM analytics_usagerecord").fetchone()[0]
        except Exception:  # noqa: BLE001 - informational only
            return None

    # --- simulator and gateway --------------------------------------------------------------------

    def _spawn(self, name: str, core: int, cmd: list[str], env: dict) -> subprocess.Popen:
        pinned = [self._taskset, "-c", str(core), *cmd]
        full = ([self._setpriv, "--pdeathsig", "TERM", "--"] if self._setpriv else []) + pinned
        self.commands[name] = ["taskset", "-c", str(core), *[Path(c).name if i == 0 else c for i, c in enumerate(cmd)]]
        with open(self.log_dir / f"{name}.log", "wb") as log:
            # A new session: its own process group, which stop() signals as a whole; Ctrl-C in the
            # terminal reaches only this process, whose cleanup then stops it.
            proc = subprocess.Popen(
                full,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def _wait_http(self, name: str, url: str, headers: dict | None = None, timeout: float = 60.0) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise StackError(
                    f"the {name} exited (status {proc.returncode}); its log:\n{_tail(self.log_dir / f'{name}.log')}"
                )
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"the {name} did not answer {url} within {timeout:.0f} s; its log:\n"
                    f"{_tail(self.log_dir / f'{name}.log')}"
                )
            time.sleep(0.1)

    def start_simulator(self) -> None:
        port = free_port()
        self.sim_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._spawn(
            "simulator",
            self.load_core,
            [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port)],
            env,
        )
        self._wait_http("simulator", self.sim_url + "/health")

    def start_gateway(self) -> None:
        """The gateway as production starts it (docker/Dockerfile, scripts/run.sh): `python -m
        aipower.serve` (uvicorn with the API's HTTP protocol, its head-size limit, the connection cap
        and the drain), one process; Prometheus in multiprocess mode on an empty directory, as in
        the Docker image."""
        port = free_port()
        self.gateway_url = f"http://127.0.0.1:{port}"
        metrics_dir = self.run_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env = self._django_env()
        env.pop("WEB_CONCURRENCY", None)  # uvicorn would start that many workers: the bench wants one
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        self._spawn(
            "gateway",
            self.gateway_core,
            [sys.executable, "-m", "aipower.serve", "--host", "127.0.0.1", "--port", str(port)],
            env,
        )
        self._wait_http("gateway", self.gateway_url + "/v1/models", headers={"Authorization": f"Bearer {self.api_key}"})
        pid = self.procs["gateway"].pid
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"aipower.serve" not in cmdline:
            raise StackError(f"process {pid} is not the gateway (python -m aipower.serve): {cmdline!r}")
        allowed = os.sched_getaffinity(pid)
        if allowed != {self.gateway_core}:
            raise StackError(f"the gateway runs on CPUs {sorted(allowed)}, not only on {self.gateway_core}")

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def stop_process(self, name: str, timeout: float = 15.0) -> int | None:
        """SIGTERM to the process group, SIGKILL if it lingers; the exit status."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.log(f"  {name} did not stop within {timeout:.0f} s; killing it")
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its group
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        return proc.returncode

    def stop(self) -> None:
        with _no_interrupts():
            for name in ("gateway", "litellm", "simulator"):
                if name in self.procs:
                    try:
                        self.stop_process(name)
                    except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                        self.log(f"  stopping the {name} failed: {exc}")
            if self.services_up:
                self.services_up = False
                try:
                    done = self._services("down")
                    if done.returncode != 0:
                        self.log(f"  scripts/services.sh down failed:\n{done.stderr}")
                except Exception as exc:  # noqa: BLE001
                    self.log(f"  scripts/services.sh down failed: {exc}")
                shutil.rmtree(self.run_dir, ignore_errors=True)
