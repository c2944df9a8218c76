#!/usr/bin/env bash
# One command: set everything up, then run the streamer (synthetic LiDAR by default).
# Any arguments are passed to server.py, e.g. scripts/run.sh --port 9000 --quantize 5
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETUP_DEBIAN_PACKAGES="" "$ROOT/scripts/setup.sh" --no-debian
exec "$ROOT/.venv/bin/python" "$ROOT/server.py" "$@"
