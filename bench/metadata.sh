#!/usr/bin/env bash
# The metadata family's benchmark, one kind at a time: FILES generated artifacts (copybooks of
# about FIELDS fields; manifests of 40 workloads; FileMan exports of 10 files; layout tables of
# 10 records; FastAPI modules of 30 routes and 10 models) read by intake (--dry-run, one
# process) and by a straightforward Python extractor of the same records
# (bench/reference/cobol_extract.py, bench/reference/artifacts.py), then ingested into a fresh
# database twice (a first load, then an unchanged re-run). Prints the times and the rates.
#
#   bash bench/metadata.sh [KIND] [FILES] [FIELDS]   default cobol, 100 files (of 2,000 fields)
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-cobol}
files=${2:-100}
fields=${3:-2000}
bash scripts/services.sh
# The Python reference reads manifests with PyYAML, as a straightforward extractor would.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin intake
intake="$target/release/intake"
dir="$target/bench-metadata/$kind"
rm -rf "$dir"
if [ "$kind" = cobol ]; then
  python3 bench/reference/generate_copybooks.py "$dir" "$files" "$fields"
  extract() { python3 bench/reference/cobol_extract.py "$dir"; }
else
  python3 bench/reference/artifacts.py generate "$kind" "$dir" "$files"
  extract() { python3 bench/reference/artifacts.py extract "$kind" "$dir"; }
fi

server=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database="${server%/*}/intake_bench_metadata"
psql "$server" -q -c "DROP DATABASE IF EXISTS intake_bench_metadata" -c "CREATE DATABASE intake_bench_metadata"
DATABASE_URL=$database "$intake" migrate up >/dev/null

seconds() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
elapsed() { calc "round($2 - $1, 3)"; }

start=$(seconds)
python_records=$(extract)
python_s=$(elapsed "$start" "$(seconds)")

run() {
  local started report
  started=$(seconds)
  report=$(DATABASE_URL=$database "$intake" metadata ingest --kind "$kind" --source "$dir" --json "$@")
  echo "$(elapsed "$started" "$(seconds)") $(echo "$report" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["records_seen"], r["changes"]["inserted"], r["changes"]["updated"])')"
}
read -r dry_s records _ _ <<<"$(run --dry-run)"
read -r first_s _ inserted _ <<<"$(run)"
read -r again_s _ again_inserted again_updated <<<"$(run)"

rate() { calc "int($1 / $2)"; }
echo "$kind: $files files, $records records (the Python extractor: $python_records)"
echo "  parse and extract (--dry-run): intake ${dry_s}s, Python ${python_s}s, ratio $(calc "round($python_s / $dry_s, 1)")x"
echo "  first load:  ${first_s}s, $(rate "$records" "$first_s") records/s ($inserted inserted)"
echo "  re-ingest:   ${again_s}s, $(rate "$records" "$again_s") records/s ($again_inserted inserted, $again_updated updated)"
