#!/usr/bin/env bash
# Installs the system packages the project needs, only those missing.
#   scripts/deps.sh [GROUP...]   groups: make, python, node, services, browser (default: all)
# The checks cost milliseconds, so every entry point can call this; apt-get runs (and refreshes
# its lists) only when something is missing.
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(make python node services browser)

missing=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

for group in "${groups[@]}"; do
  case "$group" in
    make)
      command -v make >/dev/null || missing+=(make) ;;
    python)
      # Debian's python3 creates venvs only with python3-venv (ensurepip) installed.
      command -v python3 >/dev/null || missing+=(python3)
      python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv) ;;
    node)
      # npm installs the web pages' browser libraries (package.json), e.g. Chart.js.
      command -v npm >/dev/null || missing+=(npm) ;;
    services)
      compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
      command -v psql >/dev/null || missing+=(postgresql-client)
      command -v redis-server >/dev/null || missing+=(redis-server)
      command -v redis-cli >/dev/null || missing+=(redis-tools) ;;
    browser)
      # Debian's Chromium drives the browser tests (Playwright with executable_path); the fonts
      # make screenshots render text the same on every machine.
      [ -x /usr/bin/chromium ] || missing+=(chromium)
      command -v npm >/dev/null || missing+=(npm)  # installs axe-core for the accessibility checks
      for font in fonts-dejavu-core fonts-liberation; do installed "$font" || missing+=("$font"); done ;;
    *)
      echo "deps.sh: unknown group '$group' (make, python, node, services, browser)" >&2; exit 2 ;;
  esac
done

[ ${#missing[@]} -gt 0 ] || exit 0

echo "deps.sh: installing ${missing[*]}" >&2
[ "$(id -u)" = 0 ] && sudo=() || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
"${sudo[@]}" apt-get "${apt_opts[@]}" update
"${sudo[@]}" apt-get "${apt_opts[@]}" install "${missing[@]}"
