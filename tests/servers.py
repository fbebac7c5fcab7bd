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
    return f"postgres://{auth}{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}/" \
           f"{settings_dict['NAME']}"


class Server:
    def __init__(self, name: str, argv: list[str], port: int, env: dict, health_path: str):
        self.name = name
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = ROOT / "test-artifacts" / f"{name}-{port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
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
    argv = [sys.executable, "-m", "routing.simulator", "--host", "127.0.0.1", "--port", str(port)]
    for k, v in flags.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return Server("simulator", argv, port, dict(os.environ), "/health")


def start_gateway(*, database_url: str, simulator_url: str, **extra_env) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "AIPOWER_SIMULATOR_URL": simulator_url,
        "AIPOWER_SIMULATE_PROVIDERS": "1",
        "AIPOWER_USAGE_FLUSH_SECONDS": "0.02",
        "DJANGO_SETTINGS_MODULE": "aipower.settings",
    })
    env.update({k: str(v) for k, v in extra_env.items()})
    argv = [sys.executable, "-m", "uvicorn", "aipower.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--lifespan", "on", "--no-access-log"]
    return Server("gateway", argv, port, env, "/v1/models")


def stream_then_hang_up(server: Server, key: str, body: bytes, headers: dict[str, str], *, events: int = 4) -> str:
    """Starts a streamed completion over a raw socket, reads `events` content chunks, then closes
    the connection as a caller that goes away would. Returns the request id."""
    import socket

    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               + f"authorization: Bearer {key}\r\n{head}content-length: {len(body)}\r\n\r\n".encode() + body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        received = b""
        while received.count(b'"content"') < events:
            piece = s.recv(65536)
            assert piece, received.decode(errors="replace")
            received += piece
    lines = received.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    return next(line.split(": ", 1)[1] for line in lines if line.lower().startswith("x-request-id"))


def start_celery_worker(database_url: str, queue_prefix: str, **extra_env):
    """A real Celery worker (solo pool) on REDIS_URL, against `database_url`, consuming a queue of
    its own. Returns (queue, process); stop it with stop_process(process)."""
    import uuid

    queue = f"{queue_prefix}-{uuid.uuid4().hex[:8]}"
    log = ROOT / "test-artifacts" / f"celery-{queue}.log"
    log.parent.mkdir(exist_ok=True)
    env = dict(os.environ, DATABASE_URL=database_url, CELERY_TASK_ALWAYS_EAGER="0",
               DJANGO_SETTINGS_MODULE="aipower.settings", **extra_env)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "aipower", "worker", "--pool", "solo",
                                 "--queues", queue, "--without-gossip", "--without-mingle", "--without-heartbeat",
                                 "--loglevel", "INFO"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return queue, proc


def stop_process(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
