// The map and patrols through the app's logic and the real library (host build): the map's
// points styled by category and refreshed when sync over 127.0.0.1 brings an observation in;
// a patrol whose app is closed mid-walk resumed from disk and saved as a track with its
// distance, duration and the observation made during it; a point placed on the map.
package org.mapeo.app.logic

import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.AssignableRole
import uniffi.mapeo_ffi.BoundingBox
import uniffi.mapeo_ffi.DocRef
import uniffi.mapeo_ffi.Geometry
import uniffi.mapeo_ffi.MapPoints
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.PositionOutcome
import uniffi.mapeo_ffi.Preset
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.generateRootKey

class MapAndPatrolTest {
    @TempDir
    lateinit var dir: Path

    private val world = BoundingBox(-90.0, -180.0, 90.0, 180.0)

    @Test
    fun `the map shows points in their category colour and refreshes when sync brings one in`() = runBlocking {
        val a = device(dir.resolve("ana"), "Ana")
        val b = device(dir.resolve("beto"), "Beto")
        try {
            val pa = a.createProject(ProjectSettings(name = "River watch"))
            val pb = b.joinProject(a.joinDetails(pa.projectId()))
            pa.assignRole(b.deviceId(), AssignableRole.MEMBER)
            val shown = CopyOnWriteArrayList<MapPoints>()
            val feed = MapPointsFeed(pb, onPoints = { shown.add(it) })
            feed.show(world)
            assertEquals(0u, shown.last().count)

            val address = a.startListening("127.0.0.1:0")
            assertEquals(a.deviceId(), b.connect(address))
            a.startSync(pa.projectId())
            b.startSync(pa.projectId())

            val mining = pa.createPreset(Preset(name = "Mining", geometry = listOf(Geometry.POINT), color = "#E4572E"))
            val seen = pa.createObservation(
                Observation(lat = -3.46, lon = -62.21, presetRef = DocRef(mining.meta.docId, mining.meta.versionId)),
            )
            eventually("the point synced to Beto is on his map without a reload") { shown.last().count == 1u }
            val json = shown.last().geojson
            assertTrue(json.contains("\"docId\":\"${seen.meta.docId}\""), json)
            assertTrue(json.contains("\"color\":\"#E4572E\""), json)
            assertTrue(json.contains("\"categoryName\":\"Mining\""), json)

            // The map moved away: the area it shows now has no point, and stays current.
            feed.show(BoundingBox(10.0, 10.0, 11.0, 11.0))
            assertEquals(0u, shown.last().count)
            pa.createObservation(Observation(lat = 10.5, lon = 10.5))
            eventually("a new point in the shown area arrives") { shown.last().count == 1u }
            feed.close()

            assertEquals(CameraTarget.Box(BoundingBox(-3.46, -62.21, 10.5, 10.5)), cameraFor(places(pb.listObservations(Query()))))
        } finally {
            a.shutdown()
            b.shutdown()
            a.close()
            b.close()
        }
    }

    @Test
    fun `a patrol whose app is closed mid walk resumes from disk and is saved with its distance and observation`() = runBlocking {
        val key = generateRootKey()
        val folder = dir.resolve("phone").toString()
        var phone = Mapeo.open(folder, key)
        val projectId = phone.createProject(ProjectSettings(name = "Patrols")).projectId()
        var project = phone.openProject(projectId)
        assertNull(PatrolSession.resume(project))
        val session = PatrolSession.resumeOrStart(project)
        val t0 = 1_735_689_600_000L
        fun fix(i: Int, accuracy: Double = 4.0) =
            LocationFix(-3.0 + i * 0.0001, -60.0, accuracy, null, t0 + i * 10_000L, "gps")
        for (i in 0 until 30) {
            assertEquals(PositionOutcome.RECORDED, session.offer(fix(i)))
            if (i == 10) project.createObservation(Observation(lat = -2.999, lon = -60.0))
        }
        assertEquals(PositionOutcome.DROPPED_INACCURATE, session.offer(fix(30, accuracy = 300.0)))
        assertNull(session.offer(fix(31).copy(latitude = 95.0)), "an impossible reading is dropped")
        val before = session.summary()
        assertEquals("4:50 · 322 m", patrolNotificationText(before, before.startedAt + 290_000))
        assertThrows<MapeoException.Patrol> { project.startPatrol() }

        // The app is closed with the patrol under way (no save, no discard).
        session.close()
        project.close()
        phone.shutdown()
        phone.close()

        phone = Mapeo.open(folder, key)
        project = phone.openProject(projectId)
        val resumed = present(PatrolSession.resume(project), "the patrol under way")
        assertEquals(before, resumed.summary())
        assertEquals((0 until 30).map { -3.0 + it * 0.0001 to -60.0 }, resumed.line())
        val track = resumed.save("north ridge")
        assertNull(PatrolSession.resume(project), "saving ends the recording")

        val detail = trackDetail(track)
        assertEquals("322 m", detail.distance)
        assertEquals("4:50", detail.duration)
        assertEquals("north ridge", detail.notes)
        assertEquals(1, detail.observationIds.size)
        assertEquals(project.listObservations(Query()).single().meta.docId, detail.observationIds.single())
        val lines = tracksGeoJson(project.listTracks(Query()))
        assertTrue(lines.contains("\"LineString\""), lines)
        assertTrue(lines.contains("[-60.0,-3.0]"), lines)
        phone.shutdown()
        phone.close()
    }

    @Test
    fun `an observation placed on the map is saved there and marked as placed by hand`() {
        val phone = device(dir.resolve("phone"), "Ana")
        try {
            val project = phone.createProject(ProjectSettings(name = "Placed"))
            val preset = project.createPreset(Preset(name = "Sacred site", geometry = listOf(Geometry.POINT)))
            val fix = LocationFix(-3.0, -60.0, 6.0, null, 1_735_689_600_000L, "gps")
            val draft = newDraft(project, preset).copy(fix = fix, placed = -3.1 to -60.2)
            val saved = save(project, draft).getOrThrow()
            assertEquals(-3.1, saved.value.lat)
            assertEquals(-60.2, saved.value.lon)
            assertEquals(true, saved.value.metadata?.manualLocation)
            assertEquals(-3.0, saved.value.metadata?.position?.coords?.latitude, "the phone's own fix is kept")

            val atFix = save(project, newDraft(project, preset).copy(fix = fix)).getOrThrow()
            assertEquals(-3.0, atFix.value.lat)
            assertFalse(atFix.value.metadata?.manualLocation ?: true)
        } finally {
            phone.close()
        }
    }
}
