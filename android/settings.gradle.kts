// The Mapeo Android app. Open this folder in Android Studio.
//
// Before the first build: ./scripts/android-native.sh (from the repository root) builds the
// native library for every ABI with cargo-ndk into app/src/main/jniLibs and generates the
// Kotlin bindings into ../target/bindings/kotlin (both build output, never committed).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "mapeo-android"
// :logic is plain Kotlin on the JVM (no android.*): view state, validation, progress text,
// permission decisions. Its unit tests run against the host build of the native library.
include(":logic")
// :app is the Android application: activities, the exchange service, the keystore.
include(":app")
