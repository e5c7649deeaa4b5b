#!/usr/bin/env bash
# Install what is missing, then run Ketang's whole check: rustfmt, clippy, cargo test.
# Extra arguments go to `cargo test`, e.g.: bash scripts/test.sh -p ketang-face
# Plain `cargo test` (not nextest): integration tests share one throw-away PostgreSQL
# cluster per test binary, which nextest's process-per-test model would defeat.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

# Safety net: stop any PostgreSQL left running from a ketang-pg-* temp dir.
# Tests should stop their own clusters; this only catches crashes and aborts.
stop_stray_postgres() {
  local proc pid comm args f tmp=${TMPDIR:-/tmp}
  local -A found=()
  # Postmasters whose command line names a ketang-pg- temp dir (-D, -k) ...
  for proc in /proc/[0-9]*; do
    comm=$(cat "$proc/comm" 2>/dev/null) || continue
    [[ $comm == postgres ]] || continue
    args=$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null) || continue
    [[ $args == *ketang-pg-* ]] && found[${proc#/proc/}]=1
  done
  # ... and those started with PGDATA (found through their postmaster.pid).
  for f in "$tmp"/ketang-pg-*/postmaster.pid "$tmp"/ketang-pg-*/*/postmaster.pid; do
    [[ -f $f ]] || continue
    pid=$(head -n 1 "$f" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ ]] || continue
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] && found[$pid]=1
  done
  ((${#found[@]} > 0)) || return 0
  local pids=("${!found[@]}")
  echo "test: stopping ${#pids[@]} stray postgres process(es) from ketang-pg-* dirs: ${pids[*]}"
  kill -QUIT "${pids[@]}" 2>/dev/null || true # immediate shutdown
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "${pids[@]}" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
trap stop_stray_postgres EXIT

bash scripts/setup.sh

export OPENBLAS_NUM_THREADS=1
export KETANG_MODELS=${KETANG_MODELS:-$REPO/data/models}
export KETANG_TEST_IMAGES=$REPO/data/test_images
# Debian installs PostgreSQL's server binaries (initdb, pg_ctl, postgres) off PATH.
if [[ -d /usr/lib/postgresql/15/bin ]]; then
  export PATH=/usr/lib/postgresql/15/bin:$PATH
fi

status=0
summary=()
step() {
  local name=$1 rc=0
  shift
  printf '\n==> %s\n' "$*"
  "$@" || rc=$?
  if ((rc == 0)); then
    summary+=("$name ok")
  else
    summary+=("$name FAILED (exit $rc)")
    ((status != 0)) || status=$rc
  fi
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
# shellcheck disable=SC2317 # called through step
run_tests() { cargo test --workspace "$@" 2>&1 | tee "$log"; return "${PIPESTATUS[0]}"; }
step test run_tests "$@"

stop_stray_postgres
printf '\n==> summary\n'
printf '  %s\n' "${summary[@]}"
# One closing line with the totals of every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' "$log"
rm -f "$log"
exit "$status"
