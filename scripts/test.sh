#!/usr/bin/env bash
# Command 2 of the README (and .ci/run): install everything the tests need, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test

# The storage tests run against PostgreSQL as well as SQLite (127.0.0.1:5432, trust auth, database test).
if ! .venv/bin/python - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
