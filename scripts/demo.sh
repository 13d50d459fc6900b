#!/usr/bin/env bash
# Command 1 of the README: install, then run the server with the built-in PBX
# simulator, SQLite and the sample flows, with simulated callers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh run
exec .venv/bin/hotline demo "$@"
