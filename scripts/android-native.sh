#!/usr/bin/env bash
# Builds the native library (crate mapeo-ffi) for Android with cargo-ndk, for the ABIs the app
# ships: arm64-v8a (phones), armeabi-v7a (old phones) and x86_64 (emulators), into
# android/app/src/main/jniLibs/<abi>/libmapeo_ffi.so; then generates the Kotlin bindings from
# the arm64 library into target/bindings/kotlin, where the app's Gradle build reads them.
# Build output only: jniLibs and the bindings are git-ignored.
#
#   ./scripts/android-native.sh            release build (what the app ships)
#   ./scripts/android-native.sh --debug    debug build (faster to build, large and slow)
#
# Needs: rustup, the Android NDK (ANDROID_NDK_HOME, or ANDROID_HOME/ndk/<version> as Android
# Studio's SDK Manager installs it) and cargo-ndk (`cargo install cargo-ndk`). The Rust
# targets are added with rustup when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest Android the app runs on (minSdk in android/app/build.gradle.kts).
MIN_SDK=26
ABIS=(arm64-v8a armeabi-v7a x86_64)
TARGETS=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)
OUT=android/app/src/main/jniLibs

profile=release
cargo_profile=(--release)
if [[ "${1:-}" == "--debug" ]]; then
    profile=debug
    cargo_profile=()
elif [[ -n "${1:-}" ]]; then
    echo "usage: $0 [--debug]" >&2
    exit 2
fi

fail() {
    echo "android-native.sh: $*" >&2
    exit 1
}

command -v cargo >/dev/null || fail "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v rustup >/dev/null || fail "rustup not found: the Android targets are added with rustup"
cargo ndk --version >/dev/null 2>&1 ||
    fail "cargo-ndk not found: install it with 'cargo install cargo-ndk'"

# The NDK: as given, else the newest one Android Studio installed.
if [[ -z "${ANDROID_NDK_HOME:-}" ]]; then
    sdk="${ANDROID_HOME:-${ANDROID_SDK_ROOT:-}}"
    if [[ -n "$sdk" && -d "$sdk/ndk" ]]; then
        newest=$(find "$sdk/ndk" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n 1)
        [[ -n "$newest" ]] && export ANDROID_NDK_HOME="$newest"
    fi
fi
[[ -n "${ANDROID_NDK_HOME:-}" && -d "${ANDROID_NDK_HOME}" ]] ||
    fail "Android NDK not found: set ANDROID_NDK_HOME, or install the NDK with Android Studio's SDK Manager (SDK Tools > NDK (Side by side)) and set ANDROID_HOME"
[[ -f "$ANDROID_NDK_HOME/source.properties" ]] ||
    fail "ANDROID_NDK_HOME=$ANDROID_NDK_HOME does not look like an NDK (no source.properties)"

installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

abi_args=()
for abi in "${ABIS[@]}"; do abi_args+=(-t "$abi"); done
mkdir -p "$OUT"
# cargo-ndk sets the NDK's linker and sysroot per target and copies each .so into
# $OUT/<abi>/. The app loads the library as "mapeo_ffi" (System.loadLibrary and JNA).
cargo ndk "${abi_args[@]}" --platform "$MIN_SDK" -o "$OUT" \
    build --locked ${cargo_profile[@]+"${cargo_profile[@]}"} -p mapeo-ffi

for abi in "${ABIS[@]}"; do
    [[ -f "$OUT/$abi/libmapeo_ffi.so" ]] || fail "missing $OUT/$abi/libmapeo_ffi.so after the build"
done

# Bindings come from a built library (UniFFI library mode); every ABI's has the same
# interface, so the host's uniffi-bindgen reads the arm64 one.
cargo build --locked -p mapeo-uniffi-bindgen
rm -rf target/bindings/kotlin target/bindings/android-tmp
target/debug/uniffi-bindgen generate --library "target/aarch64-linux-android/$profile/libmapeo_ffi.so" \
    --no-format --language kotlin --out-dir target/bindings/android-tmp
mkdir -p target/bindings/kotlin
mv target/bindings/android-tmp/uniffi target/bindings/kotlin/
rm -rf target/bindings/android-tmp

echo "native libraries ($profile):"
find "$OUT" -name '*.so' -exec ls -l {} \;
echo "Kotlin bindings: target/bindings/kotlin"
