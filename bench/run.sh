#!/usr/bin/env bash
# intake's benchmark: a plain COPY into the catalogue table and intake on the same lists, side
# by side, then the latency and throughput of small tasks. Prints a table (and, with
# --json PATH, the figures as JSON).
#
#   bash bench/run.sh                       100k and 1M rows, csv and xlsx, 1,000 small tasks,
#                                           10 workers killed mid-task (time to takeover)
#   bash bench/run.sh --rows 200000 --tasks 0
#   bash bench/run.sh --smoke               a tiny run of everything, to keep it working
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
# The benchmark recreates the database intake_bench on this server and uses the Redis key
# prefix intake-bench.
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

target=${CARGO_TARGET_DIR:-target}
if [ "${1:-}" = "--smoke" ]; then
  shift
  cargo build --quiet --workspace --bins
  exec "$target/debug/intake-bench" --intake "$target/debug/intake" --dir "$target/bench-smoke" \
    --rows 2000 --tasks 20 --takeovers 1 "$@"
fi
cargo build --release --quiet --workspace --bins
exec "$target/release/intake-bench" --intake "$target/release/intake" "$@"
