"""`make run` starts the product with the embedded default and prints a working demo key."""

import os
import re
import signal
import subprocess
import time

import httpx
import openai

from tests.servers import ROOT, free_port


def test_make_run_serves_the_embedded_default_with_the_simulator(tmp_path):
    port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # The embedded default: SQLite (a database of this test's own), no Redis, no provider keys.
    env.update(PORT=str(port), SIM_PORT=str(sim_port), DATABASE_URL=f"sqlite:///{tmp_path}/run.sqlite3")
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        env.pop(name, None)
    log = open(tmp_path / "run.log", "w+")  # noqa: SIM115 -- closed in the finally, after `make run` is stopped
    proc = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        key = None
        while time.monotonic() < deadline and proc.poll() is None:
            log.seek(0)
            found = re.search(r"Demo API key: (sk-aip-\S+)", log.read())
            if found:
                key = found.group(1)
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 401:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        log.seek(0)
        output = log.read()
        assert key, output[-3000:]
        assert "served by the local provider simulator" in output
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "provider simulator" in page.text
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0) as client:
            reply = client.chat.completions.create(model="auto-code", messages=[{"role": "user", "content": "hi"}])
        assert reply.model == "anthropic/claude-sonnet-4" and reply.choices[0].message.content
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()
