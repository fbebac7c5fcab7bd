"""Real servers for the tests: the provider simulator and the gateway, each its own process."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    return (
        f"postgres://{auth}{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}/"
        f"{settings_dict['NAME']}"
    )


class Server:
    def __init__(self, name: str, argv: list[str], port: int, env: dict, health_path: str):
        self.name = name
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = ROOT / "test-artifacts" / f"{name}-{port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 -- open while the server runs; stop() closes it
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait(health_path)

    def _wait(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.url}{path} within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def start_simulator(**flags) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port)]
    for k, v in flags.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return Server("simulator", argv, port, dict(os.environ), "/health")


def start_gateway(*, database_url: str, simulator_url: str, **extra_env) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "AIPOWER_SIMULATOR_URL": simulator_url,
            "AIPOWER_SIMULATE_PROVIDERS": "1",
            "AIPOWER_USAGE_FLUSH_SECONDS": "0.02",
            # Stopping a test's gateway (SIGTERM) need not wait out the readiness notice.
            "AIPOWER_DRAIN_NOTICE_SECONDS": "0",
            "DJANGO_SETTINGS_MODULE": "aipower.settings",
        }
    )
    env.update({k: str(v) for k, v in extra_env.items()})
    argv = [sys.executable, "-m", "aipower.serve", "--host", "127.0.0.1", "--port", str(port)]
    if "workers" in extra_env:
        argv += ["--workers", str(extra_env.pop("workers"))]
        env.pop("workers", None)
    return Server("gateway", argv, port, env, "/v1/models")


def stream_then_hang_up(server: Server, key: str, body: bytes, headers: dict[str, str], *, events: int = 4) -> str:
    """Starts a streamed completion over a raw socket, reads `events` content chunks, then closes
    the connection as a caller that goes away would. Returns the request id."""
    import socket

    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {key}\r\n{head}content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        received = b""
        while received.count(b'"content"') < events:
            piece = s.recv(65536)
            assert piece, received.decode(errors="replace")
            received += piece
    lines = received.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    return next(line.split(": ", 1)[1] for line in lines if line.lower().startswith("x-request-id"))


class PrivateRedis:
    """A redis-server of one test's own, which the test may kill, restart, pause and resume."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)

    def pause(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.resume()
            self.kill()


class PrivatePostgres:
    """A PostgreSQL cluster of one test's own (run as the scripts' unprivileged user), holding a copy
    of the test database, which the test may stop and start again."""

    OS_USER = "aipower-pg"

    def __init__(self, source_url: str):
        import glob
        import shutil
        import tempfile

        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
        self.home = Path(tempfile.mkdtemp(prefix="aipower-pg-test."))
        shutil.chown(self.home, self.OS_USER)
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/aipower"
        self._as_pg(
            self.bin / "initdb",
            "-D",
            self.home / "data",
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        with open(self.home / "data" / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{self.home}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
            )
        self.start()
        psql = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q"]
        subprocess.run(psql + ["-c", "create database aipower"], check=True, stdout=subprocess.DEVNULL)
        dump = subprocess.run(
            [str(self.bin / "pg_dump"), "--no-owner", "--no-privileges", source_url], check=True, capture_output=True
        ).stdout
        subprocess.run(
            psql + ["-d", "aipower", "-v", "ON_ERROR_STOP=1"], input=dump, check=True, stdout=subprocess.DEVNULL
        )

    def _as_pg(self, *argv) -> None:
        subprocess.run(
            ["runuser", "-u", self.OS_USER, "--", *map(str, argv)],
            cwd="/",
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._as_pg(
            self.bin / "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            self.home / "data",
            "-l",
            self.home / "postgres.log",
            "-o",
            f"-p {self.port}",
        )

    def stop(self) -> None:
        self._as_pg(self.bin / "pg_ctl", "stop", "-w", "-m", "fast", "-D", self.home / "data")

    def destroy(self) -> None:
        import shutil

        try:
            self._as_pg(self.bin / "pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.home / "data")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.home, ignore_errors=True)


def start_celery_worker(database_url: str, queue_prefix: str, queue: str | None = None, **extra_env):
    """A real Celery worker (solo pool) on REDIS_URL, against `database_url`, consuming a queue of
    its own (or `queue`, shared with other workers). Returns (queue, process); stop it with
    stop_process(process)."""
    import uuid

    queue = queue or f"{queue_prefix}-{uuid.uuid4().hex[:8]}"
    log = ROOT / "test-artifacts" / f"celery-{queue}.log"
    log.parent.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        CELERY_TASK_ALWAYS_EAGER="0",
        DJANGO_SETTINGS_MODULE="aipower.settings",
        **extra_env,
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "aipower",
                "worker",
                "--pool",
                "solo",
                "--queues",
                queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return queue, proc


def stop_process(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
