#!/usr/bin/env bash
# Install, then run the whole test suite (pass pytest options, e.g. -m "not slow").
# With DOMALIGN_TEST_POSTGRES_URL set (scripts/postgres.sh prints one), the tests that run real
# servers run a second time with every server on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# the Ray executor's tests run a real local Ray instance; the shared blob store's a local S3-compatible server
.venv/bin/python -m pip install -q -e ".[test,ray,s3]"
# the web console's browser tests drive Debian's Chromium through Playwright
if ! command -v chromium >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 \
    || echo "could not install chromium: tests/browser will fail (apt-get install chromium)" >&2
fi
postgres=${DOMALIGN_TEST_POSTGRES_URL:-}
DOMALIGN_TEST_POSTGRES_URL= .venv/bin/python -m pytest "$@"
if [ -n "$postgres" ]; then
  echo "=== again on PostgreSQL: the server-backed tests (tests/api, tests/e2e), without the slow and Ray ones ==="
  DOMALIGN_TEST_POSTGRES_URL=$postgres .venv/bin/python -m pytest -rs -m "not slow and not ray" tests/api tests/e2e
fi
