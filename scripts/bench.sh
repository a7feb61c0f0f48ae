#!/usr/bin/env bash
# Runs every benchmark (core/benches: store, sync, blobs, tiles, map_share, sync_file) and
# prints their figures. Figures are printed, never asserted; a benchmark step that fails (a
# panic, a peer that does not sync) fails the script.
#
#   scripts/bench.sh          full sizes, optimized build (`cargo bench`: the first run builds
#                             every dependency optimized, about 8 CPU-minutes)
#   scripts/bench.sh --quick  small sizes and one round, built in the dev profile the tests
#                             already built (no optimized build): runs every step end to end
#                             in about a minute. The README's test command (scripts/test-all.sh)
#                             runs this, so that the benchmarks cannot break unnoticed; its
#                             figures show every step works, not how fast (unoptimized code).
#
# Sizes can be picked one by one in either mode: MAPEO_BENCH_N (store), MAPEO_BENCH_SYNC_NS
# (sync, e.g. 1000,10000), MAPEO_BENCH_ROUNDS (sync, blobs), MAPEO_BENCH_VIDEO_MB (blobs),
# MAPEO_BENCH_TILES_MB and MAPEO_BENCH_TILE_READS (tiles), MAPEO_BENCH_SYNC_FILE_N and
# MAPEO_BENCH_SYNC_FILE_PHOTOS (sync_file).
set -euo pipefail
cd "$(dirname "$0")/.."
# The full run builds mapeo-core's benchmarks alone; the quick one with `--workspace`, so that
# dependencies have the features the whole workspace asks for, as `cargo test --workspace`
# built them, and the quick mode reuses what the tests compiled.
build=(-p mapeo-core)
case "${1:-}" in
--quick)
    export MAPEO_BENCH_QUICK=1
    build=(--workspace --profile dev)
    ;;
"") ;;
*)
    echo "usage: scripts/bench.sh [--quick]" >&2
    exit 2
    ;;
esac
for bench in store sync blobs tiles map_share sync_file; do
    cargo bench --bench "$bench" --locked "${build[@]}"
done
