#!/usr/bin/env bash
# The whole test suite against real PostgreSQL and Redis (started or installed if needed).
# Extra arguments go to cargo nextest (a filter, say).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
# Tests create (and drop) a database of their own per test through this server URL, and use
# a key prefix of their own per test in this Redis.
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

# Formatting and lints are part of the suite: a warning fails it. (A toolchain installed
# without the rustfmt or clippy component skips that check, and says so.)
if cargo fmt --version >/dev/null 2>&1; then cargo fmt --check; else echo "rustfmt is not installed: formatting not checked" >&2; fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets --quiet -- -D warnings
else
  echo "clippy is not installed: lints not checked" >&2
fi

cargo nextest run --workspace --no-fail-fast "$@"
# The benchmark at a smoke size: it must keep working, its figures are not judged here.
bash bench/run.sh --smoke
