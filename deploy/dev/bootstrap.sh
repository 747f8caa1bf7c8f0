#!/usr/bin/env bash
# Prepare a Debian/Ubuntu machine for VitalGate: the system packages the real parts need
# (installed only when missing), then the project's virtual environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "VitalGate needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1))." >&2
    exit 1
fi

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus)
# The time-series store the sink tests write to (speaks the InfluxDB v2 write API).
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
# The browser the web app's tests drive through Playwright (never a browser download).
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing system packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

stamp=.venv/.vitalgate-installed
want=$(cat pyproject.toml deploy/dev/constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Creating the virtual environment in .venv"
    python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c deploy/dev/constraints.txt -e '.[all]'
    echo "$want" > "$stamp"
fi
