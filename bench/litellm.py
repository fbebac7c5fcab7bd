"""The LiteLLM proxy side by side: same simulator, same core as the gateway, same load.

LiteLLM comes from PyPI into a virtualenv of its own that the bench makes (and keeps, in
.run/bench-litellm-venv; LITELLM_VERSION pins it), started with a config that points one model
at the simulator's OpenAI-format endpoint, with no database. Its numbers are taken right after the
gateway's, on the gateway's CPU, once the gateway has stopped.
"""

import os
import subprocess
import sys
from pathlib import Path

from .stack import ROOT, Stack, StackError, free_port

VENV = ROOT / ".run" / "bench-litellm-venv"
VERSION = os.environ.get("LITELLM_VERSION", "")  # empty: the newest
MODEL_NAME = "bench-model"


def ensure_venv(log) -> Path:
    """The litellm executable, installing it on first use."""
    exe = VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    log(f"bench: installing the LiteLLM proxy into {VENV.relative_to(ROOT)} (first run only)")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    spec = f"litellm[proxy]=={VERSION}" if VERSION else "litellm[proxy]"
    done = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", spec],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not exe.exists():
        raise StackError(f"could not install {spec}: {done.stderr[-2000:]}")
    return exe


def start(stack: Stack, provider: str, upstream_model: str, log) -> str:
    """Starts the proxy pinned to the gateway's CPU; returns its chat-completions URL."""
    exe = ensure_venv(log)
    port = free_port()
    config = stack.log_dir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL_NAME}\n"
        "    litellm_params:\n"
        f"      model: openai/{upstream_model}\n"
        f"      api_base: {stack.sim_url}/p/{provider}/v1\n"
        "      api_key: simulated\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": "sk-bench-litellm"}
    env.pop("DATABASE_URL", None)  # no database: LiteLLM's proxy then keeps no spend logs
    stack._spawn(
        "litellm",
        stack.gateway_core,
        [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        env,
    )
    url = f"http://127.0.0.1:{port}"
    stack._wait_http("litellm", url + "/health/liveliness", timeout=180.0)
    return url + "/v1/chat/completions"
