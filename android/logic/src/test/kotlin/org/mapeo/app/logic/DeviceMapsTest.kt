// The map seams as the app wires them (DeviceMaps.kt), against the real library (host build):
// a map imported, listed, made default and its style fetched over HTTP from the local server
// with its tile URLs rewritten to it; a category icon of the real categories file
// (@mapeo/default-config@6.0.0, from npm) fetched by the URL the map asks for, as its SVG and
// as a PNG the server draws at the screen's density; a map shared
// between two devices over 127.0.0.1, its offer pushed to the receiver's screen, accepted and
// in the receiver's library, then a second offer declined.
package org.mapeo.app.logic

import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import java.util.concurrent.CopyOnWriteArrayList
import java.util.zip.ZipFile
import java.util.zip.ZipOutputStream
import java.util.zip.ZipEntry
import javax.imageio.ImageIO
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.InviteOutcome
import uniffi.mapeo_ffi.InviteRole
import uniffi.mapeo_ffi.MapShareState
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.ProjectSettings

private val HTTP_TIMEOUT: Duration = Duration.ofSeconds(30)
private val http: HttpClient = HttpClient.newBuilder().connectTimeout(HTTP_TIMEOUT).build()

private fun fetch(url: String): HttpResponse<ByteArray> =
    http.send(HttpRequest.newBuilder(URI.create(url)).timeout(HTTP_TIMEOUT).build(), HttpResponse.BodyHandlers.ofByteArray())

/** A PNG tile with a pattern (so it is a real, non-trivial image). */
private fun png(size: Int): ByteArray {
    val img = BufferedImage(size, size, BufferedImage.TYPE_INT_RGB)
    for (x in 0 until size) for (y in 0 until size) img.setRGB(x, y, ((x * 3) % 256 shl 16) or ((y * 5) % 256 shl 8) or 40)
    return ByteArrayOutputStream().also { check(ImageIO.write(img, "png", it)) }.toByteArray()
}

/** An SMP named "Territorio" whose style's raster source has one tile, 0/0/0. */
private fun smpWithTile(path: Path, tile: ByteArray) {
    val style = """{"version": 8, "name": "Territorio",
      "sources": {"sat": {"type": "raster", "tiles": ["smp://maps.v1/s/0/{z}/{x}/{y}.png"],
        "minzoom": 0, "maxzoom": 0, "bounds": [-60, -10, -50, 0]}},
      "layers": [{"id": "sat", "type": "raster", "source": "sat"}]}"""
    ZipOutputStream(Files.newOutputStream(path)).use { zip ->
        for ((name, bytes) in listOf("VERSION" to "1.0".toByteArray(), "style.json" to style.toByteArray(), "s/0/0/0/0.png" to tile)) {
            zip.putNextEntry(ZipEntry(name))
            zip.write(bytes)
            zip.closeEntry()
        }
    }
}

class DeviceMapsTest {
    @TempDir
    lateinit var dir: Path

    private suspend fun closeAll(vararg devices: Mapeo) = devices.forEach {
        it.shutdown()
        it.close()
    }

    @Test
    fun `a map file imported on the maps screen becomes the default map the map screen loads with its tiles`() = runBlocking {
        val d = device(dir.resolve("ana"), "Ana")
        try {
            val library = DeviceMapLibrary(d)
            val server = LocalMapServer(d)
            val tile = png(64)
            val file = dir.resolve("territorio.smp")
            smpWithTile(file, tile)

            // No map yet: the core's own fallback style, still from the server.
            val before = mapStyle(server) as MapStyle.Url
            assertTrue(String(fetch(before.url).body()).contains("Mapeo fallback"))

            val imported = library.importMap(file.toString())
            assertEquals("Territorio", imported.name)
            assertTrue(imported.isDefault, "with no default, an imported map becomes it")
            assertEquals(Files.size(file), imported.sizeBytes)
            assertEquals(listOf(imported), library.maps())

            library.setDefaultMap(imported.mapId)
            assertEquals(listOf("Territorio (default)"), mapsScreen(library.maps(), emptyList()).maps.map { it.title })
            val style = mapStyle(server) as MapStyle.Url
            assertTrue(style.url.startsWith("http://127.0.0.1:"), style.url)
            val response = fetch(style.url)
            assertEquals(200, response.statusCode())
            val json = String(response.body())
            assertTrue(json.contains("\"name\":\"Territorio\""), json)
            val template = present(Regex("\"tiles\":\\[\"([^\"]+)\"").find(json)?.groupValues?.get(1), "a tile URL in $json")
            assertTrue(template.startsWith("http://127.0.0.1:"), "tile URL not rewritten to the local server: $template")
            val served = fetch(template.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
            assertEquals(200, served.statusCode())
            assertArrayEquals(tile, served.body())

            library.removeMap(imported.mapId)
            assertTrue(library.maps().isEmpty())
            val bad = dir.resolve("notes.smp")
            Files.writeString(bad, "not a map")
            assertThrows<MapeoException.InvalidInput> { library.importMap(bad.toString()) }
            assertTrue(library.maps().isEmpty())
        } finally {
            closeAll(d)
        }
    }

    @Test
    fun `the map screen fetches a category icon of the real categories file by the url it asks for`() = runBlocking {
        val d = device(dir.resolve("ana"), "Ana")
        try {
            val categoriesFile = defaultCategories()
            val project = d.createProject(ProjectSettings(name = "River watch"))
            project.importCategories(categoriesFile.path)
            val server = LocalMapServer(d)
            val presets = pointPresets(project)
            val icons = categoryIcons(project.projectId(), presets, server, null)
            assertTrue(icons.isNotEmpty(), "no category icon asked for")
            assertEquals(presets.count { it.value.iconRef != null }, icons.size)

            val airstrip = project.categories(null).single { it.name == "Airstrip" }
            val icon = icons.single { it.categoryId == airstrip.docId }
            assertEquals(iconImageId(present(airstrip.iconDocId)), icon.imageId)
            val response = fetch(icon.url)
            assertEquals(200, response.statusCode())
            assertEquals("image/svg+xml", response.headers().firstValue("content-type").orElse(""))
            // Asked as the file has it: the file's SVG, byte for byte.
            val expected = ZipFile(categoriesFile).use { zip ->
                zip.getInputStream(present(zip.getEntry("icons/${airstrip.iconName}.svg"), "the airstrip icon")).readBytes()
            }
            assertArrayEquals(expected, response.body())
            // This file has no PNGs: one asked at a screen density (the map decodes PNG only)
            // is drawn by the server from the SVG, medium (48) at 2x: 96 pixels square.
            val png = categoryIcons(project.projectId(), presets, server, 2).single { it.categoryId == airstrip.docId }
            val drawn = fetch(png.url)
            assertEquals(200, drawn.statusCode())
            assertEquals("image/png", drawn.headers().firstValue("content-type").orElse(""))
            val signature = byteArrayOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte(), 0x0D, 0x0A, 0x1A, 0x0A)
            assertArrayEquals(signature, drawn.body().copyOfRange(0, 8))
            val image = present(ImageIO.read(drawn.body().inputStream()), "a decodable PNG")
            assertEquals(96, image.width)
            assertEquals(96, image.height)
            val opaque = (0 until 96).sumOf { x -> (0 until 96).count { y -> (image.getRGB(x, y) ushr 24) != 0 } }
            assertTrue(opaque > 0, "the drawn icon is blank")
        } finally {
            closeAll(d)
        }
    }

    @Test
    fun `a coordinator shares a map with a fellow member who accepts it then declines a second offer`() = runBlocking {
        val smp = fallbackSmp()
        val a = device(dir.resolve("ana"), "Ana")
        val b = device(dir.resolve("beto"), "Beto")
        try {
            val pa = a.createProject(ProjectSettings(name = "River watch"))
            assertEquals(a.deviceId(), b.connect(a.startListening("127.0.0.1:0")))
            eventually("Ana sees Beto connected") { a.peers().any { it.deviceId == b.deviceId() && it.connected } }
            val outcome = async { a.invite(pa.projectId(), b.deviceId(), InviteRole.MEMBER, null, null) }
            eventually("the invite reaches Beto") { b.pendingInvites().isNotEmpty() }
            b.acceptInvite(b.pendingInvites().first().inviteId)
            assertEquals(InviteOutcome.ACCEPTED, outcome.await())

            val libraryA = DeviceMapLibrary(a)
            val libraryB = DeviceMapLibrary(b)
            val sharesA = DeviceMapShares(a)
            val sharesB = DeviceMapShares(b)
            val map = libraryA.importMap(smp.path)
            // What Beto's maps screen is pushed, in order.
            val pushed = CopyOnWriteArrayList<List<MapShareOffer>>()
            val watch = sharesB.watch { pushed.add(it) }
            eventually("the screen gets the offers at once") { pushed.isNotEmpty() }
            assertTrue(pushed.last().isEmpty())

            val id = sharesA.share(map.mapId, b.deviceId())
            eventually("the offer pushed to Beto's screen") { pushed.last().any { it.shareId == id } }
            val offer = pushed.last().single()
            assertEquals(MapShareOffer(id, "Blank", "Ana", smp.length(), 0, accepted = false), offer)
            assertEquals(offer, sharesB.offers().single())
            val screen = mapsScreen(libraryB.maps(), pushed.last())
            assertEquals("Blank from Ana", screen.offers.single().title)
            assertTrue(screen.maps.isEmpty())

            sharesB.accept(id)
            eventually("the map in Beto's library") { libraryB.maps().any { it.mapId == map.mapId } }
            val installed = libraryB.maps().single()
            assertEquals("Blank", installed.name)
            assertEquals(smp.length(), installed.sizeBytes)
            eventually("the installed map leaves the offers") { pushed.last().isEmpty() }
            // Every push while it was arriving showed it accepted, with bytes never going back.
            val arriving = pushed.mapNotNull { list -> list.singleOrNull { it.shareId == id && it.accepted } }
            assertTrue(arriving.zipWithNext().all { (x, y) -> x.receivedBytes <= y.receivedBytes })
            eventually("Ana's side installed") { a.mapShares().single { it.shareId == id }.state == MapShareState.INSTALLED }

            val second = sharesA.share(map.mapId, b.deviceId())
            eventually("the second offer pushed") { pushed.last().any { it.shareId == second } }
            sharesB.decline(second)
            eventually("the declined offer leaves Beto's screen") { pushed.last().isEmpty() }
            eventually("Ana hears the decline") { a.mapShares().single { it.shareId == second }.state == MapShareState.DECLINED }
            assertEquals(listOf(map.mapId), libraryB.maps().map { it.mapId })
            assertThrows<MapeoException.InvalidInput> { runBlocking { sharesB.accept(second) } }

            watch.close()
            val third = sharesA.share(map.mapId, b.deviceId())
            eventually("a third offer reaches Beto's device") { sharesB.offers().any { it.shareId == third } }
            assertTrue(pushed.none { list -> list.any { it.shareId == third } }, "a closed watch was still pushed to")
        } finally {
            closeAll(a, b)
        }
    }
}
