#!/usr/bin/env bash
# Runs the benchmarks and prints their figures. MAPEO_BENCH_N=10000 for a quick run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p mapeo-core --bench store --locked
cargo bench -p mapeo-core --bench sync --locked
