#!/usr/bin/env bash
# One command: set everything up (Debian packages when root, venv, npm), then run the
# whole test suite: the JS decoder tests (node --test) and pytest (Python, end-to-end, browser).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

echo "== node --test (client decoder)"
(cd client && node --test test/)

echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
