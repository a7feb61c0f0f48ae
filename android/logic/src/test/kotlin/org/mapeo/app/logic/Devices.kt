// Test support: real devices (the host build of the native library) in temporary folders,
// bounded waits, and a real JPEG for photo tests.
package org.mapeo.app.logic

import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.nio.file.Path
import javax.imageio.ImageIO
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout
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
