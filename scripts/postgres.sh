#!/usr/bin/env bash
# Install (Debian packages) and start a local PostgreSQL server for the tests; print its URL.
#
#   export DOMALIGN_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)
#
# The role `domalign` may create databases: each test server gets a fresh one.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters --no-header | head -n1)
[ "$STATUS" = online ] || pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
for _ in $(seq 30); do pg_isready -q -p "$PORT" && break; sleep 1; done
su postgres -c "psql -q -p $PORT -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'domalign'\"" | grep -q 1 \
  || su postgres -c "psql -q -p $PORT -c \"CREATE ROLE domalign LOGIN CREATEDB PASSWORD 'domalign'\"" >&2
echo "postgresql+psycopg://domalign:domalign@127.0.0.1:$PORT/postgres"
