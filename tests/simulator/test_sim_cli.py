"""Starting the simulator: `python -m simulator` (no Django) and `manage.py simulate_providers`."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(argv, env=None):
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline().strip()
    return proc, line


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.mark.parametrize("how", ["module", "manage"])
def test_it_starts_and_says_where_it_listens(how):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if how == "module":
        # Without Django settings at all: the server must not need them.
        argv = [sys.executable, "-m", "simulator", "--port", "0", "--latency-ms", "1"]
    else:
        env["DJANGO_SETTINGS_MODULE"] = "aipower.settings"
        argv = [
            sys.executable,
            "manage.py",
            "simulate_providers",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--output-tokens",
            "25",
        ]
    proc, line = start(argv, env)
    try:
        assert line.startswith("Provider simulator listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        assert httpx.get(url + "/health", timeout=5).json() == {"status": "ok"}
        r = httpx.post(
            url + "/p/deepseek/v1/chat/completions",
            headers={"Authorization": "Bearer k"},
            json={"model": "deepseek-chat", "messages": [{"role": "user", "content": "Hi"}]},
            timeout=5,
        )
        assert r.status_code == 200
        if how == "manage":
            assert r.json()["usage"]["completion_tokens"] == 25
    finally:
        stop(proc)
