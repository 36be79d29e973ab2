#!/usr/bin/env bash
# Install, then run the whole test suite (pass pytest options, e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
