#!/usr/bin/env bash
# Runs every check and test in the repository: formatting, lints, all Rust tests, then the
# generated bindings from Kotlin on the JVM (Maven), from Python (pytest) and from Swift (the
# iOS package's bindings and view logic, in the Swift root of scripts/swift-env.sh), and the
# Android app's Kotlin on the JVM (its logic tested, all of it compiled against the Android API).
# This is the README's test command; .ci/run calls it after installing what a machine lacks.
# Needs, besides Rust and a C compiler: a JDK 17+, Maven, python3 with pytest and Pillow
# (PYTHON=... picks another interpreter), and root with debootstrap reachable (the Swift
# root is built on first use, ~4 min).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== benchmarks, quick mode (small sizes, one round; figures printed, never asserted)"
# Every benchmark step runs end to end, so that none breaks unnoticed; a failed step fails
# here. Built in the dev profile from what the tests above compiled (under a minute here).
./scripts/bench.sh --quick

echo "== bindings (Kotlin, Swift, Python) from the host library"
./scripts/bindings.sh

echo "== Kotlin on the JVM (tests/kotlin)"
mvn -B --no-transfer-progress -f tests/kotlin/pom.xml test

echo "== Android app on the JVM (tests/android-jvm): logic tests, app compiled against android-all"
mvn -B --no-transfer-progress -f tests/android-jvm/pom.xml test

echo "== Python (tests/python)"
"${PYTHON:-python3}" -m pytest tests/python

echo "== Swift on Linux (ios/: generated bindings and view logic, XCTest)"
MAPEO_BINDINGS_READY=1 ./scripts/swift-test.sh
