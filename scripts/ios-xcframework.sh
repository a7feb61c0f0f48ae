#!/usr/bin/env bash
# Builds what the iOS app links, on a Mac with Xcode: the native library (crate mapeo-ffi,
# release, static) for iPhones (aarch64-apple-ios), the Apple-silicon simulator
# (aarch64-apple-ios-sim) and the Intel simulator (x86_64-apple-ios), packed with the
# generated C header and module map into ios/Generated/mapeo_ffiFFI.xcframework, and the
# generated Swift bindings into ios/Generated/MapeoKit/. Then open ios/App (see README.md).
#
#   scripts/ios-xcframework.sh           release build (what the app ships)
#   scripts/ios-xcframework.sh --debug   debug build (faster to build, slower to run)
#
# Needs macOS with Xcode (xcodebuild, lipo) and the three Rust targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
# Not run on this repository's Linux CI: it cannot (no Apple SDK there).
# Written for macOS's own bash 3.2 too (an empty array is expanded with ${a[@]+...}).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "ios-xcframework: $*" >&2; exit 1; }

profile=release
cargo_profile=(--release)
if [[ "${1:-}" == "--debug" ]]; then
    profile=debug
    cargo_profile=()
elif [[ $# -gt 0 ]]; then
    die "usage: $0 [--debug]"
fi

[[ "$(uname -s)" == Darwin ]] || die "needs macOS with Xcode (this is $(uname -s)); on Linux, scripts/swift-test.sh compiles and tests the bindings and view logic"
for tool in xcodebuild lipo xcrun cargo rustup; do
    command -v "$tool" >/dev/null || die "missing $tool"
done
xcrun --sdk iphoneos --show-sdk-path >/dev/null 2>&1 || die "no iOS SDK: install Xcode and run 'sudo xcode-select -s /Applications/Xcode.app'"

device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
installed=$(rustup target list --installed)
missing=()
for t in "$device" "${simulators[@]}"; do
    grep -qx "$t" <<<"$installed" || missing+=("$t")
done
((${#missing[@]} == 0)) || die "missing Rust targets; run: rustup target add ${missing[*]}"

# The Swift bindings and C header come from a host build (UniFFI library mode reads the
# library's metadata; it is the same for every target).
./scripts/bindings.sh ${cargo_profile[@]+"${cargo_profile[@]}"}
gen=target/bindings/swift

# iOS 15 is the app's lowest version (Package.swift); the library is built for the same.
export IPHONEOS_DEPLOYMENT_TARGET=15.0
for t in "$device" "${simulators[@]}"; do
    echo "== cargo build $t ($profile)"
    cargo build --locked ${cargo_profile[@]+"${cargo_profile[@]}"} -p mapeo-ffi --lib --target "$t"
done

out=ios/Generated
work=target/ios-xcframework
rm -rf "$work" "$out/mapeo_ffiFFI.xcframework" "$out/MapeoKit"
# The header and module map go in a folder named after the module, so they cannot collide
# with another xcframework's module.modulemap in an app's build folder.
headers=$work/headers
mkdir -p "$headers/mapeo_ffiFFI" "$work/sim" "$out/MapeoKit"
cp "$gen/mapeo_ffiFFI.h" "$headers/mapeo_ffiFFI/"
cp "$gen/mapeo_ffiFFI.modulemap" "$headers/mapeo_ffiFFI/module.modulemap"
cp "$gen/mapeo_ffi.swift" "$out/MapeoKit/"

# One library per platform: the two simulator architectures become one fat library.
lipo -create \
    "target/aarch64-apple-ios-sim/$profile/libmapeo_ffi.a" \
    "target/x86_64-apple-ios/$profile/libmapeo_ffi.a" \
    -output "$work/sim/libmapeo_ffi.a"

xcodebuild -create-xcframework \
    -library "target/$device/$profile/libmapeo_ffi.a" -headers "$headers" \
    -library "$work/sim/libmapeo_ffi.a" -headers "$headers" \
    -output "$out/mapeo_ffiFFI.xcframework"

echo "ios-xcframework: $out/mapeo_ffiFFI.xcframework and $out/MapeoKit/mapeo_ffi.swift ready"
