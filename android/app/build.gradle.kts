// The Android application. Views are built in code (no layouts, no androidx, no R class):
// a small APK for cheap phones, and every source also compiles on the plain JVM against
// the framework jar in CI (tests/android-jvm).
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.mapeo.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.mapeo.app"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            // What scripts/android-native.sh builds.
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            isShrinkResources = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    // One APK per ABI keeps what a phone downloads small.
    splits {
        abi {
            isEnable = true
            reset()
            include("arm64-v8a", "armeabi-v7a", "x86_64")
            isUniversalApk = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    buildFeatures {
        buildConfig = false
    }
    // jniLibs come from scripts/android-native.sh: src/main/jniLibs/<abi>/libmapeo_ffi.so.
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The logic module carries the generated bindings; on Android JNA comes as its AAR
    // (classes plus libjnidispatch.so for each ABI) instead of the JVM jar.
    implementation(project(":logic")) {
        exclude(group = "net.java.dev.jna", module = "jna")
    }
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.11.0")
    // The map (MapLibre Native, OpenGL ES renderer). The same version is compiled against in
    // tests/android-jvm/app/pom.xml (maplibre.version).
    implementation("org.maplibre.gl:android-sdk:13.7.1")
}
