#!/usr/bin/env bash
# Runs the benchmarks and prints their figures. MAPEO_BENCH_N=10000 for a quick run;
# MAPEO_BENCH_VIDEO_MB=50 for a smaller video in the blob benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p mapeo-core --bench store --locked
cargo bench -p mapeo-core --bench sync --locked
cargo bench -p mapeo-core --bench blobs --locked
