#!/usr/bin/env bash
# The product in embedded mode (run by `make run`, after migrate, load_catalog and collectstatic).
# With no provider key in the environment (or AIPOWER_SIMULATE_PROVIDERS=1), the local provider
# simulator serves every provider. Settings: PORT (8000), SIM_PORT (8001).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=.venv/bin/python
PORT=${PORT:-8000}
SIM_PORT=${SIM_PORT:-8001}

export AIPOWER_SIMULATOR_URL=http://127.0.0.1:$SIM_PORT

# The product decides (AIPOWER_SIMULATE_PROVIDERS, else whether any provider's key variable in the
# catalog is set); its banner is empty when real providers are called.
simulate=$("$PY" manage.py shell -v 0 -c "from routing.upstream import simulated_providers_banner
print(1 if simulated_providers_banner() else 0)")

if [ "$simulate" = 1 ]; then
  mkdir -p .run
  # --pdeathsig: the simulator also stops when uvicorn, exec'd below in this process, exits.
  setpriv --pdeathsig TERM -- "$PY" manage.py simulate_providers --port "$SIM_PORT" >.run/simulator.log 2>&1 &
  sim_pid=$!
  trap 'kill $sim_pid 2>/dev/null || true' EXIT
  "$PY" - "$AIPOWER_SIMULATOR_URL/health" "$sim_pid" <<'EOF' || { tail -n 20 .run/simulator.log >&2; exit 1; }
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
for _ in range(300):
    try:
        urllib.request.urlopen(url, timeout=1).close()
        sys.exit(0)
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit("The provider simulator exited; its log (.run/simulator.log):")
        time.sleep(0.1)
sys.exit(f"The provider simulator did not answer {url} within 30 s; its log (.run/simulator.log):")
EOF
  cat <<EOF

  ======================================================================================
  No provider keys set: every provider is served by the local provider simulator at
  $AIPOWER_SIMULATOR_URL (log: .run/simulator.log). Answers are simulated.
  Set a provider key (e.g. OPENAI_API_KEY, DEEPSEEK_API_KEY) to call real providers.
  ======================================================================================
EOF
fi

key=$("$PY" manage.py issue_key --org Demo --name demo --credit-usd 5 | tail -n 1)
base=http://127.0.0.1:$PORT/v1
cat <<EOF

  Demo API key: $key

  curl $base/chat/completions \\
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
    -d '{"model": "auto", "messages": [{"role": "user", "content": "Hello!"}]}'

  from openai import OpenAI
  client = OpenAI(base_url="$base", api_key="$key")
  reply = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hello!"}])
  print(reply.model, reply.choices[0].message.content)

  Web UI and admin: http://127.0.0.1:$PORT/  (Ctrl-C stops everything)

EOF

exec .venv/bin/python -m aipower.serve --host 127.0.0.1 --port "$PORT"
