#!/usr/bin/env bash
# Install, then align the embedded model on the sample corpus and print before/after metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/domalign demo "$@"
