#!/usr/bin/env bash
# Builds the native library (crate mapeo-ffi) for this machine and generates its Kotlin, Swift
# and Python bindings from it (UniFFI library mode), with the workspace's own uniffi-bindgen so
# generator and library are the same UniFFI version. Generated code is build output, never
# committed: everything lands under target/ (git-ignored).
#
#   ./scripts/bindings.sh            debug build  -> target/bindings/{kotlin,swift,python}
#   ./scripts/bindings.sh --release  release build (what apps ship)
#
# target/bindings/python also gets a copy of the library, where the generated module loads it
# from; the Kotlin tests point JNA at target/<profile>/ (jna.library.path).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
# A plain word, not an array: macOS's bash 3.2 treats an empty array as unset under `set -u`.
cargo_profile=""
if [[ "${1:-}" == "--release" ]]; then
    profile=release
    cargo_profile=--release
fi

# One cargo invocation for both packages: the same feature set as the workspace build, so
# nothing is compiled twice.
# shellcheck disable=SC2086 # empty or one word, split on purpose
cargo build --locked $cargo_profile -p mapeo-ffi -p mapeo-uniffi-bindgen

case "$(uname -s)" in
    Darwin) lib="target/$profile/libmapeo_ffi.dylib" ;;
    *) lib="target/$profile/libmapeo_ffi.so" ;;
esac
out=target/bindings
rm -rf "$out"
mkdir -p "$out"

# --no-format: the output must not depend on which formatters (ktlint, swiftformat) exist here.
"target/$profile/uniffi-bindgen" generate --library "$lib" --no-format \
    --language kotlin --language swift --language python --out-dir "$out/tmp"
mkdir -p "$out/kotlin" "$out/swift" "$out/python"
# Kotlin sources keep their package folders; Swift and Python are flat files.
mv "$out/tmp/uniffi" "$out/kotlin/"
mv "$out/tmp"/*.swift "$out/tmp"/*.h "$out/tmp"/*.modulemap "$out/swift/"
mv "$out/tmp"/*.py "$out/python/"
rmdir "$out/tmp"
cp "$lib" "$out/python/"

echo "bindings from $lib:"
find "$out" -type f | sort
