#!/usr/bin/env bash
# Compiles the generated Swift bindings and the iOS app's view logic (ios/, SwiftPM) on Linux
# and runs their XCTest tests against the host build of the native library, inside the
# cached Swift root of scripts/swift-env.sh (Debian trixie's swiftlang; built on first use,
# ~4 min and ~2.6 GB). Must run as root. The SwiftUI app (ios/App) needs Apple's SDK and is
# not compiled here.
#
#   scripts/swift-test.sh                     bindings, fixture, swift test
#   scripts/swift-test.sh --filter NAME       only the tests NAME matches (swift test --filter)
#
# MAPEO_BINDINGS_READY=1 skips scripts/bindings.sh (test-all.sh has just run it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build output stays under .cache/ (git-ignored); the root sees the repository at /repo.
scratch=/repo/.cache/ios-swift-build
fixture=.cache/ios-test/photo.jpg
lib_dir=/repo/target/debug

start=$SECONDS
if [[ "${MAPEO_BINDINGS_READY:-}" != 1 ]]; then
    ./scripts/bindings.sh >/dev/null
fi
gen=target/bindings/swift
[[ -f $gen/mapeo_ffi.swift && -f $gen/mapeo_ffiFFI.h && -f $gen/mapeo_ffiFFI.modulemap ]] ||
    { echo "swift-test: $gen lacks the generated Swift bindings" >&2; exit 1; }
[[ -f target/debug/libmapeo_ffi.so ]] || { echo "swift-test: no target/debug/libmapeo_ffi.so" >&2; exit 1; }

# The package's generated targets (ios/Generated is git-ignored). SwiftPM wants the module
# map of a system library named module.modulemap. A file is copied only when it changed, so
# SwiftPM does not compile the unchanged bindings again.
mkdir -p ios/Generated/mapeo_ffiFFI ios/Generated/MapeoKit
update() { cmp -s "$1" "$2" || cp "$1" "$2"; }
update "$gen/mapeo_ffiFFI.h" ios/Generated/mapeo_ffiFFI/mapeo_ffiFFI.h
update "$gen/mapeo_ffiFFI.modulemap" ios/Generated/mapeo_ffiFFI/module.modulemap
update "$gen/mapeo_ffi.swift" ios/Generated/MapeoKit/mapeo_ffi.swift

# The photo of the two-device test: a real 1000x750 JPEG written by Pillow on this machine
# (the Swift root has no image encoder, and Foundation on Linux has none). The test checks
# the core's 400x300 thumbnail of it by reading the JPEG's own frame header.
mkdir -p "$(dirname "$fixture")"
pil_python=
for p in "${PYTHON:-python3}" /usr/bin/python3; do
    if "$p" -c "import PIL" 2>/dev/null; then pil_python=$p; break; fi
done
[[ -n $pil_python ]] || { echo "swift-test: no python3 with Pillow (Debian: apt-get install python3-pil)" >&2; exit 1; }
"$pil_python" - "$fixture" <<'PY'
import sys
from PIL import Image
w, h = 1000, 750
img = Image.new("RGB", (w, h))
img.putdata([(x % 256, y % 256, (x + y) % 256) for y in range(h) for x in range(w)])
img.save(sys.argv[1], "JPEG", quality=85)
PY

# The map of the maps tests: the real fallback SMP (@comapeo/fallback-smp@1.0.0) from npm, in
# the temp-folder cache the Rust, Python and Kotlin tests share.
smp=.cache/ios-test/fallback.smp
smp_cache=${TMPDIR:-/tmp}/mapeo-tests-fallback-smp-1.0.0/comapeo-fallback-map.smp
if [[ ! -f $smp_cache ]]; then
    command -v npm >/dev/null || { echo "swift-test: npm is needed to fetch @comapeo/fallback-smp" >&2; exit 1; }
    fetch_dir=$(mktemp -d)
    (cd "$fetch_dir" && npm pack @comapeo/fallback-smp@1.0.0 --silent >/dev/null &&
        tar xzf comapeo-fallback-smp-1.0.0.tgz package/dist/comapeo-fallback-map.smp)
    mkdir -p "$(dirname "$smp_cache")"
    mv "$fetch_dir/package/dist/comapeo-fallback-map.smp" "$smp_cache"
    rm -rf "$fetch_dir"
fi
cp "$smp_cache" "$smp"

echo "== Swift root (scripts/swift-env.sh ensure)"
scripts/swift-env.sh ensure

echo "== swift test ios/ (in the root, against $lib_dir/libmapeo_ffi.so)"
# -L: where the linker finds -lmapeo_ffi (named in Package.swift); -rpath: where the test
# binary finds the .so when it runs. XCTest only: Swift Testing would end with "0 tests".
scripts/swift-env.sh run -- env MAPEO_TEST_JPEG="/repo/$fixture" MAPEO_TEST_SMP="/repo/$smp" \
    swift test --package-path /repo/ios --scratch-path "$scratch" --disable-swift-testing \
    -Xlinker -L"$lib_dir" -Xlinker -rpath -Xlinker "$lib_dir" "$@"
echo "swift-test: done in $((SECONDS - start)) s"
