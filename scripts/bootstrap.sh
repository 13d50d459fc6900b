#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: Debian packages (when
# run as root or with sudo), a Python 3.11 virtual environment in .venv and the
# project with the requested extras. Safe to run again: it only adds what is missing.
#   scripts/bootstrap.sh            runtime only (the demo)
#   scripts/bootstrap.sh test       runtime + test tools (Chromium, SIPp, sox)
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-run}"

debs=(python3-venv)
if [ "$want" = "test" ]; then
  debs+=(chromium sip-tester sox espeak-ng)
fi
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO=none; fi
  if [ "$SUDO" = none ]; then
    echo "bootstrap: please install these Debian packages: ${missing[*]}" >&2
  else
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(0 if (3,11) <= sys.version_info[:2] < (3,13) else 1)'; then PY="$c"; break; fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: Python 3.11 or 3.12 is required (pyVoIP does not import on 3.13)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv
extras="."
[ "$want" = "test" ] && extras=".[test]"
stamp=".venv/.installed-$want-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e "$extras" --config-settings editable_mode=compat
  touch "$stamp"
fi
