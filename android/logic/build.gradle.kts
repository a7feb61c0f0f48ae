// The app's logic that needs no device, with the generated bindings, on the plain JVM.
// Unit tests load the host build of the native library (./scripts/bindings.sh first).
plugins {
    id("org.jetbrains.kotlin.jvm")
}

val repoRoot = rootDir.parentFile

kotlin {
    jvmToolchain(17)
    sourceSets["main"].kotlin.srcDir(repoRoot.resolve("target/bindings/kotlin"))
}

dependencies {
    implementation("net.java.dev.jna:jna:5.19.1")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.11.0")
    implementation("com.google.zxing:core:3.5.3")
    testImplementation(platform("org.junit:junit-bom:5.14.4"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

tasks.test {
    useJUnitPlatform()
    systemProperty("jna.library.path", repoRoot.resolve("target/debug").path)
}
