#!/usr/bin/env bash
# Proves this Linux machine can build and test Swift against a Rust library the way the iOS
# bindings will: builds tests/swift-smoke/native (a throwaway C-ABI cdylib) with the host's
# cargo, makes or reuses the cached Swift root (scripts/swift-env.sh), then runs the
# tests/swift-smoke package's XCTest tests (sync, errors, strings, async) inside it against the
# host-built .so. Must run as root. Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build output stays under .cache/ (git-ignored): the cdylib's own target folder, and SwiftPM's
# scratch folder instead of tests/swift-smoke/.build.
native_target=.cache/swift-smoke/native-target
swift_scratch=/repo/.cache/swift-smoke/swift-build
# The library's folder as the Swift root sees it (the repository is bind-mounted at /repo).
lib_dir=/repo/$native_target/debug

start=$SECONDS
echo "== cargo build (host): tests/swift-smoke/native"
cargo build --locked --manifest-path tests/swift-smoke/native/Cargo.toml --target-dir "$native_target"
t_cargo=$((SECONDS - start))

echo "== Swift root (scripts/swift-env.sh ensure)"
t=$SECONDS
scripts/swift-env.sh ensure
t_root=$((SECONDS - t))

echo "== swift test (in the root)"
t=$SECONDS
# -L: where the linker finds -lmapeo_swift_smoke (named in Package.swift); -rpath: where the
# test binary finds the .so when it runs. Swift Testing is off: the tests are XCTest, and its
# empty "0 tests" line would otherwise close the output.
scripts/swift-env.sh run -- swift test \
    --package-path /repo/tests/swift-smoke --scratch-path "$swift_scratch" --disable-swift-testing \
    -Xlinker -L"$lib_dir" -Xlinker -rpath -Xlinker "$lib_dir"
t_swift=$((SECONDS - t))

echo "swift-smoke timings: cargo build ${t_cargo} s, Swift root ${t_root} s, swift test ${t_swift} s, total $((SECONDS - start)) s"
