// Offline maps and the local server through the generated Kotlin bindings: an SMP generated
// here (a real PNG tile) is imported, listed, chosen as default and removed; its style and
// tile, a photo's files and a category's icon are fetched over HTTP on 127.0.0.1 with
// java.net.http, byte for byte; a wrong secret gets 404.
package org.mapeo.ffi

import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import java.util.zip.ZipEntry
import java.util.zip.ZipOutputStream
import javax.imageio.ImageIO
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.AttachmentVariant
import uniffi.mapeo_ffi.IconSize
import uniffi.mapeo_ffi.MapFormat
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.generateRootKey

private val TIMEOUT: Duration = Duration.ofSeconds(30)

private fun png(width: Int, height: Int, seed: Int): ByteArray {
    val img = BufferedImage(width, height, BufferedImage.TYPE_INT_RGB)
    for (x in 0 until width) for (y in 0 until height) {
        img.setRGB(x, y, ((x * 3 + seed) % 256 shl 16) or ((y * 5) % 256 shl 8) or (seed % 256))
    }
    return ByteArrayOutputStream().also { ImageIO.write(img, "png", it) }.toByteArray()
}

private const val STYLE = """{"version": 8, "name": "Territorio",
  "sources": {"sat": {"type": "raster", "tiles": ["smp://maps.v1/s/0/{z}/{x}/{y}.png"],
    "minzoom": 0, "maxzoom": 0, "bounds": [-60, -10, -50, 0]}},
  "layers": [{"id": "sat", "type": "raster", "source": "sat"}]}"""

/** An SMP with one raster tile at 0/0/0. */
private fun smp(path: Path, tile: ByteArray) {
    ZipOutputStream(Files.newOutputStream(path)).use { zip ->
        for ((name, bytes) in listOf(
            "VERSION" to "1.0".toByteArray(),
            "style.json" to STYLE.toByteArray(),
            "s/0/0/0/0.png" to tile,
        )) {
            zip.putNextEntry(ZipEntry(name))
            zip.write(bytes)
            zip.closeEntry()
        }
    }
}

/** A categories folder (the `.comapeocat` layout) whose one category has an SVG icon. */
private fun categories(dir: Path, svg: String) {
    val files = mapOf(
        "metadata.json" to """{"name": "Test", "version": "1.0.0"}""",
        "defaults.json" to """{"point": ["water"], "line": [], "area": []}""",
        "presets.json" to """{"water": {"name": "Water", "geometry": ["point"],
            "tags": {"type": "water"}, "fields": [], "icon": "drop"}}""",
        "fields.json" to "{}",
        "icons/drop.svg" to svg,
    )
    for ((name, text) in files) {
        val p = dir.resolve(name)
        Files.createDirectories(p.parent)
        Files.writeString(p, text)
    }
}

private val http: HttpClient = HttpClient.newBuilder().connectTimeout(TIMEOUT).build()

private fun fetch(url: String, vararg headers: Pair<String, String>): HttpResponse<ByteArray> {
    val request = HttpRequest.newBuilder(URI.create(url)).timeout(TIMEOUT)
    headers.forEach { (k, v) -> request.header(k, v) }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray())
}

class MapsTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `an imported map is served by url and removed`() = runBlocking {
        val mapeo = Mapeo.open(dir.resolve("device").toString(), generateRootKey())
        val tile = png(64, 64, 3)
        val file = dir.resolve("territorio.smp")
        smp(file, tile)
        val info = mapeo.importMap(file.toString())
        assertEquals("Territorio", info.name)
        assertEquals(MapFormat.SMP, info.format)
        assertEquals(Files.size(file).toULong(), info.size)
        assertEquals(listOf(info.id), mapeo.maps().map { it.id })
        assertTrue(info.isDefault, "with no default, an imported map becomes it")
        mapeo.setDefaultMap(null)
        assertFalse(mapeo.maps().single().isDefault)

        val fallback = String(fetch(mapeo.mapStyleUrl(null)).body())
        assertTrue(fallback.contains("Mapeo fallback"), fallback)
        mapeo.setDefaultMap(info.id)
        assertTrue(mapeo.maps().single().isDefault)
        val styleUrl = mapeo.mapStyleUrl(null)
        val style = fetch(styleUrl)
        assertEquals(200, style.statusCode())
        assertEquals("application/json", style.headers().firstValue("content-type").get())
        val text = String(style.body())
        assertTrue(text.contains("Territorio"), text)
        assertEquals(text, String(fetch(mapeo.mapStyleUrl(info.id)).body()))
        val template = Regex("\"tiles\":\\[\"([^\"]+)\"").find(text)?.groupValues?.get(1)
        assertNotNull(template, text)
        assertTrue(template!!.startsWith("http://127.0.0.1:"), template)
        val served = fetch(template.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
        assertEquals(200, served.statusCode())
        assertArrayEquals(tile, served.body())
        assertEquals("image/png", served.headers().firstValue("content-type").get())
        assertEquals(404, fetch(template.replace("{z}", "1").replace("{x}", "0").replace("{y}", "0")).statusCode())
        val secret = URI.create(styleUrl).path.split("/")[1]
        assertEquals(404, fetch(styleUrl.replace(secret, "0".repeat(secret.length))).statusCode())

        mapeo.removeMap(info.id)
        assertTrue(mapeo.maps().isEmpty())
        val bad = dir.resolve("notes.smp")
        Files.writeString(bad, "not a map")
        assertThrows<MapeoException.InvalidInput> { mapeo.importMap(bad.toString()) }
        assertTrue(mapeo.maps().isEmpty())
        mapeo.shutdown()
        mapeo.close()
    }

    @Test
    fun `photo files and category icons are fetched by url`() = runBlocking {
        val mapeo = Mapeo.open(dir.resolve("device").toString(), generateRootKey())
        val project = mapeo.createProject(ProjectSettings(name = "River watch"))
        val photo = png(900, 500, 7)
        val attachment = project.addAttachmentFromBytes(photo, "river.png")
        val pid = project.projectId()
        for (variant in AttachmentVariant.values()) {
            val response = fetch(mapeo.attachmentUrl(pid, attachment, variant))
            assertEquals(200, response.statusCode(), variant.toString())
            val local = project.attachmentBytes(attachment, variant)!!
            assertArrayEquals(local, response.body(), variant.toString())
        }
        val original = mapeo.attachmentUrl(pid, attachment, AttachmentVariant.ORIGINAL)
        assertArrayEquals(photo, fetch(original).body())
        val part = fetch(original, "Range" to "bytes=10-19")
        assertEquals(206, part.statusCode())
        assertArrayEquals(photo.copyOfRange(10, 20), part.body())

        val svg = """<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>"""
        categories(dir.resolve("categories"), svg)
        project.importCategories(dir.resolve("categories").toString())
        val water = project.categories(null).single { it.name == "Water" }
        val iconUrl = mapeo.iconUrl(pid, water.docId, IconSize.MEDIUM, null)
        val icon = fetch(iconUrl!!)
        assertEquals(200, icon.statusCode())
        assertEquals("image/svg+xml", icon.headers().firstValue("content-type").get())
        assertEquals(svg, String(icon.body()))
        mapeo.shutdown()
        mapeo.close()
    }
}
