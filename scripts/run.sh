#!/usr/bin/env bash
# Build Ketang, seed the demo data and serve it (default http://127.0.0.1:8080).
# Extra arguments are passed to `ketang serve`, e.g.: bash scripts/run.sh --config ketang.toml
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

bash scripts/setup.sh

export OPENBLAS_NUM_THREADS=1
export KETANG_MODELS=${KETANG_MODELS:-$REPO/data/models}

echo "run: cargo build --release"
cargo build --release

echo "run: seeding demo data (idempotent)"
target/release/ketang demo

echo "run: starting ketang serve $*"
exec target/release/ketang serve "$@"
