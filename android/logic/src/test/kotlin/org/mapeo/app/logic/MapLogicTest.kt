// What the map screen decides without a device: the area asked of the core, the camera for a
// project's observations (across the antimeridian too), the style without a map server,
// category icons through the server seam, and the texts of a patrol.
package org.mapeo.app.logic

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import uniffi.mapeo_ffi.BoundingBox
import uniffi.mapeo_ffi.IconSize
import uniffi.mapeo_ffi.MapeoException

class MapLogicTest {
    @Test
    fun `the visible area is clamped and wrapped into what the core accepts`() {
        assertEquals(BoundingBox(-90.0, -180.0, 90.0, 180.0), visibleBox(-95.0, -400.0, 95.0, 400.0))
        assertEquals(BoundingBox(-18.0, 170.0, -16.0, -170.0), visibleBox(-18.0, 170.0, -16.0, 190.0))
        assertEquals(BoundingBox(1.0, -60.0, 2.0, -59.0), visibleBox(1.0, 300.0, 2.0, 301.0))
        assertEquals(180.0, wrapLongitude(180.0))
        assertEquals(-179.0, wrapLongitude(181.0))
    }

    @Test
    fun `the camera fits every observation and crosses the antimeridian when that is smaller`() {
        assertEquals(CameraTarget.Nothing, cameraFor(emptyList()))
        assertEquals(CameraTarget.Point(-3.0, -60.0, SINGLE_POINT_ZOOM), cameraFor(listOf(-3.0 to -60.0, -3.0 to -60.0)))
        assertEquals(
            CameraTarget.Box(BoundingBox(-4.0, -62.0, -3.0, -60.0)),
            cameraFor(listOf(-3.0 to -60.0, -4.0 to -62.0, -3.5 to -61.0)),
        )
        // Fiji: both sides of 180°.
        assertEquals(
            CameraTarget.Box(BoundingBox(-18.0, 178.0, -16.0, -179.5)),
            cameraFor(listOf(-16.0 to 178.0, -18.0 to -179.5, -17.0 to 179.0)),
        )
        // Two points a metre apart still get a box a street wide.
        val close = cameraFor(listOf(0.0 to 0.0, 0.00001 to 0.00001)) as CameraTarget.Box
        assertTrue(close.box.north - close.box.south >= MIN_CAMERA_SPAN_DEG - 1e-12)
        assertTrue(close.box.east - close.box.west >= MIN_CAMERA_SPAN_DEG - 1e-12)
    }

    @Test
    fun `without a map server, or when it fails, the fallback style shows and no icons are asked for`() = runBlocking {
        val style = mapStyle(null) as MapStyle.Json
        assertTrue(style.json.contains("\"version\":8"))
        assertEquals(emptyList<CategoryIcon>(), categoryIcons("p", emptyList(), null, 2))
        val failing = object : MapServer {
            override suspend fun styleUrl(mapId: String?): String? = throw MapeoException.Network("the local server could not start")
            override suspend fun iconUrl(projectId: String, categoryId: String, size: IconSize, pixelDensity: Int?): String? = null
        }
        assertEquals(MapStyle.Json(FALLBACK_STYLE_JSON), mapStyle(failing))
    }

    @Test
    fun `durations and distances read as a patrol goes`() {
        assertEquals("0:00", formatDuration(-5))
        assertEquals("4:50", formatDuration(290_000))
        assertEquals("1:02:03", formatDuration(3_723_000))
        assertEquals("850 m", formatDistance(850.2))
        assertEquals("2.4 km", formatDistance(2_449.0))
        assertEquals("{\"type\":\"FeatureCollection\",\"features\":[]}", lineGeoJson(listOf(1.0 to 2.0)))
        assertTrue(lineGeoJson(listOf(1.0 to 2.0, 1.5 to 2.5)).contains("[[2.0,1.0],[2.5,1.5]]"))
    }
}

class MapsScreenTest {
    @Test
    fun `maps list the default first then by name and offers show their progress`() {
        val s = mapsScreen(
            listOf(
                MapPackage("b", "river basin", false, 12_345_678, 0, 14),
                MapPackage("a", "Aldea", false, 850_000, 5, 16),
                MapPackage("c", "Territory", true, 1_200_000_000, 0, 12),
            ),
            listOf(MapShareOffer("s1", "Territory 2025", "Ana", 2_000_000, 500_000)),
        )
        assertEquals(listOf("Territory (default)", "Aldea", "river basin"), s.maps.map { it.title })
        assertEquals("1.2 GB · zoom 0–12", s.maps[0].detail)
        assertEquals("850.0 KB · zoom 5–16", s.maps[1].detail)
        assertEquals("Territory 2025 from Ana", s.offers.single().title)
        assertEquals("500.0 KB of 2.0 MB", s.offers.single().progress)
        assertEquals(0.25f, s.offers.single().fraction)
        assertEquals(null, s.empty)
        assertTrue(mapsScreen(emptyList(), emptyList()).empty!!.startsWith("No maps"))
    }
}
