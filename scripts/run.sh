#!/usr/bin/env bash
# intake's main job, end to end on this machine: PostgreSQL and Redis up, a release build,
# migrations, a worker, the bundled sample price list enqueued through Redis, and its result.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/intake}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
# Queued tasks may read files from this directory only.
export INTAKE__SOURCES__ALLOWED_DIRS=${INTAKE__SOURCES__ALLOWED_DIRS:-$PWD/examples}

cargo build --release --locked --bin intake
intake=${CARGO_TARGET_DIR:-target}/release/intake

"$intake" migrate up

log=$(mktemp -t intake-worker.XXXXXX.log)
"$intake" worker 2>"$log" &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT

echo "worker started (pid $worker, log $log); enqueueing examples/acme-prices.csv" >&2
"$intake" enqueue --supplier "Acme Tools" --parser csv --source "$PWD/examples/acme-prices.csv" \
  --force --wait --timeout 2m
