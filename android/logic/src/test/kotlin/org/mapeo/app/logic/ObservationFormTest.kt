// The observation form against a real project: categories and their questions, validation,
// saving, editing (answers read back, category changed), deleting, the list and thumbnails.
package org.mapeo.app.logic

import java.io.File
import java.nio.file.Path
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.DocRef
import uniffi.mapeo_ffi.Field
import uniffi.mapeo_ffi.FieldDoc
import uniffi.mapeo_ffi.FieldOption
import uniffi.mapeo_ffi.FieldType
import uniffi.mapeo_ffi.Geometry
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.Preset
import uniffi.mapeo_ffi.PresetDoc
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.TagPrimitive
import uniffi.mapeo_ffi.TagValue

class ObservationFormTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var device: Mapeo
    private lateinit var project: Project
    private lateinit var count: FieldDoc
    private lateinit var kind: FieldDoc
    private lateinit var seen: FieldDoc
    private lateinit var mining: PresetDoc
    private lateinit var wildlife: PresetDoc

    private val fix = LocationFix(-3.4653, -62.2159, accuracyMeters = 6.0, altitude = 40.0, timeMs = 1_700_000_000_000, provider = "gps")

    private fun ref(doc: FieldDoc) = DocRef(doc.meta.docId, doc.meta.versionId)

    @BeforeEach
    fun open() {
        device = device(dir.resolve("d"), "Ana")
        project = device.createProject(ProjectSettings(name = "River watch"))
        count = project.createField(Field(tagKey = "count", fieldType = FieldType.NUMBER, label = "How many?"))
        kind = project.createField(
            Field(
                tagKey = "kind", fieldType = FieldType.SELECT_ONE, label = "Kind",
                options = listOf(FieldOption("Dredge", TagPrimitive.Text("dredge")), FieldOption("Pit", TagPrimitive.Text("pit"))),
            ),
        )
        seen = project.createField(
            Field(
                tagKey = "seen", fieldType = FieldType.SELECT_MULTIPLE, label = "Seen",
                options = listOf(FieldOption("Jaguar", TagPrimitive.Text("jaguar")), FieldOption("Tapir", TagPrimitive.Text("tapir"))),
            ),
        )
        mining = project.createPreset(
            Preset(
                name = "Mining", geometry = listOf(Geometry.POINT),
                tags = mapOf("type" to TagValue.Text("mining")),
                addTags = mapOf("source" to TagValue.Text("field")),
                fieldRefs = listOf(ref(kind), ref(count)),
            ),
        )
        wildlife = project.createPreset(
            Preset(name = "animal sighting", geometry = listOf(Geometry.POINT), tags = mapOf("type" to TagValue.Text("animal")), fieldRefs = listOf(ref(seen))),
        )
        // A line-only category is not offered for a point.
        project.createPreset(Preset(name = "River", geometry = listOf(Geometry.LINE), tags = mapOf("type" to TagValue.Text("river"))))
    }

    @AfterEach
    fun close() = device.close()

    @Test
    fun `categories for a point, by name, with their questions in order`() {
        assertEquals(listOf("animal sighting", "Mining"), pointPresets(project).map { it.value.name })
        assertEquals(listOf("kind", "count"), presetFields(project, mining).map { it.value.tagKey })
    }

    @Test
    fun `each bad answer gets its own message and nothing is saved`() {
        val draft = newDraft(project, mining)
            .answer("count", Answer.Typed("a dozen"))
            .answer("kind", Answer.Chosen(setOf(5)))
        val errors = draft.validate()
        assertEquals(setOf(null, "count", "kind"), errors.map { it.tagKey }.toSet(), "$errors")
        assertTrue(errors.single { it.tagKey == null }.message.contains("GPS"))
        assertTrue(save(project, draft).isFailure)
        assertEquals(0, project.listObservations(Query()).size)
        assertEquals(listOf(FormError(null, "Choose a category")), ObservationDraft(fix = fix).validate())
        assertTrue(newDraft(project, mining).answer("count", Answer.Typed("1e999")).copy(fix = fix).validate().any { it.tagKey == "count" })
    }

    @Test
    fun `a filled form becomes the observation the core stores, and reads back for editing`() {
        val draft = newDraft(project, mining)
            .answer("count", Answer.Typed("3,5"))
            .answer("kind", Answer.Chosen(setOf(1)))
            .copy(notes = "  oil on the water ", fix = fix)
        assertEquals(emptyList<FormError>(), draft.validate())
        val saved = save(project, draft).getOrThrow()
        val stored = project.getObservation(saved.meta.docId)
        assertEquals(-3.4653, stored.value.lat)
        assertEquals(6.0, stored.value.metadata?.position?.coords?.accuracy)
        assertEquals(mining.meta.docId, stored.value.presetRef?.docId)
        assertEquals(
            mapOf(
                "type" to TagValue.Text("mining"),
                "source" to TagValue.Text("field"),
                "count" to TagValue.Number(3.5),
                "kind" to TagValue.Text("pit"),
                "notes" to TagValue.Text("oil on the water"),
            ),
            stored.value.tags,
        )

        val edit = editDraft(project, stored)
        assertEquals(Answer.Typed("3.5"), edit.answers["count"])
        assertEquals(Answer.Chosen(setOf(1)), edit.answers["kind"])
        assertEquals("oil on the water", edit.notes)
        assertNull(edit.fix)
        assertEquals(emptyList<FormError>(), edit.validate(), "an edit keeps its location")

        // Change the category: the old one's tags and answers go, the place stays.
        val changed = edit.withPreset(wildlife, presetFields(project, wildlife)).answer("seen", Answer.Chosen(setOf(1, 0)))
        val updated = save(project, changed).getOrThrow()
        assertEquals(saved.meta.docId, updated.meta.docId)
        assertEquals(listOf(saved.meta.versionId), updated.meta.links)
        val now = project.getObservation(saved.meta.docId).value
        assertEquals(-3.4653, now.lat)
        assertEquals(
            mapOf(
                "type" to TagValue.Text("animal"),
                "seen" to TagValue.ListOf(listOf(TagPrimitive.Text("jaguar"), TagPrimitive.Text("tapir"))),
                "notes" to TagValue.Text("oil on the water"),
            ),
            now.tags,
        )
    }

    @Test
    fun `the list shows newest first with the category name and the smallest photo file`() {
        val photo = project.addAttachmentFromBytes(jpeg(1600, 1200), "camera.jpg")
        val first = save(project, newDraft(project, mining).copy(fix = fix, notes = "first")).getOrThrow()
        Thread.sleep(5)
        val second = save(project, newDraft(project, wildlife).copy(fix = fix, attachments = listOf(photo))).getOrThrow()
        val rows = observationRows(project.listObservations(Query()), pointPresets(project), photoFiles(device, project))
        assertEquals(listOf(second.meta.docId, first.meta.docId), rows.map { it.docId })
        assertEquals(listOf("animal sighting", "Mining"), rows.map { it.title })
        assertTrue(rows[1].subtitle.endsWith("· first"), rows[1].subtitle)
        assertNull(rows[1].thumbnailUrl)
        // Loaded from the local server, decrypted as served: the photos are sealed on disk.
        val thumb = served(present(rows[0].thumbnailUrl))
        val original = served(present(fullUrl(photo, photoFiles(device, project))))
        assertEquals(listOf(0xFF, 0xD8, 0xFF).map { it.toByte() }, thumb.take(3), "a JPEG")
        assertTrue(thumb.size < original.size, "the list would load the big file")

        project.deleteObservation(first.meta.docId)
        val afterDelete = observationRows(project.listObservations(Query(includeDeleted = true)), pointPresets(project), photoFiles(device, project))
        assertEquals(listOf(second.meta.docId), afterDelete.map { it.docId })
        assertFalse(afterDelete.any { it.docId == first.meta.docId })
    }

    @Test
    fun `ties in time keep a fixed order`() {
        val docs = listOf("b", "a", "c").map { id ->
            project.createObservation(Observation(lat = 1.0, lon = 1.0)).let { d -> d.copy(meta = d.meta.copy(docId = id, createdAt = 5)) }
        }
        assertEquals(listOf("a", "b", "c"), docs.sortedWith(NEWEST_FIRST).map { it.meta.docId })
    }
}
