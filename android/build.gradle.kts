// Versions for every module. Kotlin matches tests/android-jvm (Maven), which compiles the
// same sources in CI.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.4.21" apply false
    id("org.jetbrains.kotlin.jvm") version "2.4.21" apply false
}
