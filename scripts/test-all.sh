#!/usr/bin/env bash
# Runs every check and test in the repository: formatting, lints, then all tests.
# This is the README's test command; .ci/run calls it after installing what a machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

# Benchmarks are type-checked by clippy --all-targets above; scripts/bench.sh runs them.
