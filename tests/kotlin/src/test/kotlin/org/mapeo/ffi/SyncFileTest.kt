// Sync by file through the generated Kotlin bindings: two members of one project, never
// syncing over the network after the invite, exchange an observation with a photo by file
// alone; the importer's listener sees the progress; a tampered file is refused with the typed
// error and changes nothing.
package org.mapeo.ffi

import java.awt.image.BufferedImage
import java.io.File
import java.nio.file.Path
import java.util.Collections
import javax.imageio.ImageIO
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.AttachmentVariant
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.InviteOutcome
import uniffi.mapeo_ffi.InviteRole
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.SyncFileListener
import uniffi.mapeo_ffi.SyncFileMedia
import uniffi.mapeo_ffi.SyncFileOptions
import uniffi.mapeo_ffi.SyncFileStage
import uniffi.mapeo_ffi.TagValue
import uniffi.mapeo_ffi.archiveBlobPolicy
import uniffi.mapeo_ffi.generateRootKey

/** Longest any wait in these tests may take. */
private val WAIT = 30.seconds

/** One progress report. */
private data class Progress(val stage: SyncFileStage, val done: ULong, val total: ULong)

/** Records every progress report; called from the thread doing the work. */
private class ProgressRecorder : SyncFileListener {
    val calls: MutableList<Progress> = Collections.synchronizedList(mutableListOf())
    fun snapshot(): List<Progress> = synchronized(calls) { calls.toList() }
    override fun onProgress(stage: SyncFileStage, done: ULong, total: ULong) {
        calls.add(Progress(stage, done, total))
    }
}

private fun notes(text: String) = Observation(
    lat = -3.4653,
    lon = -62.2159,
    tags = mapOf("notes" to TagValue.Text(text)),
)

class SyncFileTest {
    @TempDir
    lateinit var dirA: Path

    @TempDir
    lateinit var dirB: Path

    private lateinit var a: Mapeo
    private lateinit var b: Mapeo

    @BeforeEach
    fun open() {
        a = Mapeo.open(dirA.resolve("a").toString(), generateRootKey())
        b = Mapeo.open(dirB.resolve("b").toString(), generateRootKey())
        a.setDeviceInfo(DeviceInfo("Ana", DeviceType.MOBILE))
        b.setDeviceInfo(DeviceInfo("Bo", DeviceType.TABLET))
    }

    @AfterEach
    fun close() {
        // `shutdown()` first: `close()` alone frees the handles while the devices' background
        // work may still write in their folders, which JUnit is about to delete.
        runBlocking { listOf(a, b).forEach { it.shutdown() } }
        a.close()
        b.close()
    }

    /**
     * [a] creates a project and invites [b] over 127.0.0.1 (port 0); [b] accepts; then both
     * disconnect, never having started data sync: from here on only files carry data.
     */
    private fun membersApart(): Pair<Project, Project> = runBlocking {
        val pa = a.createProject(ProjectSettings(name = "River watch"))
        assertEquals(a.deviceId(), b.connect(a.startListening("127.0.0.1:0")))
        withTimeout(WAIT) {
            while (a.peers().none { it.deviceId == b.deviceId() && it.connected }) delay(20.milliseconds)
        }
        val outcome = async { a.invite(pa.projectId(), b.deviceId(), InviteRole.MEMBER, null, null) }
        val invite = withTimeout(WAIT) {
            while (b.pendingInvites().isEmpty()) delay(20.milliseconds)
            b.pendingInvites().first()
        }
        val pb = b.acceptInvite(invite.inviteId)
        assertEquals(InviteOutcome.ACCEPTED, outcome.await())
        b.disconnectAll()
        a.disconnectAll()
        a.stopListening()
        pa to pb
    }

    @Test
    fun `a member takes in an observation and its photo from a sync file and a tampered file changes nothing`() {
        val (pa, pb) = membersApart()
        pb.setBlobPolicy(archiveBlobPolicy())

        // A records an observation with a real JPEG and writes a sync file with all media.
        val photoFile = dirA.resolve("IMG_0001.jpg").toFile()
        val image = BufferedImage(800, 600, BufferedImage.TYPE_INT_RGB)
        for (y in 0 until 600) for (x in 0 until 800) image.setRGB(x, y, (x % 256 shl 16) or (y % 256))
        check(ImageIO.write(image, "jpg", photoFile)) { "no JPEG writer in this JVM" }
        val photo = pa.addAttachmentFromPath(photoFile.path)
        val created = pa.createObservation(notes("dredge upriver").copy(attachments = listOf(photo)))
        val file = dirA.resolve("river.mapeosync").toString()
        val writing = ProgressRecorder()
        val written = pa.exportSyncFile(file, SyncFileOptions(SyncFileMedia.ALL, null, null), writing)
        assertTrue(written.entries > 0uL, "$written")
        assertEquals(3uL, written.mediaFiles, "original, preview and thumbnail: $written")
        assertEquals(emptyList<Any>(), written.leftOut)
        assertEquals(File(file).length().toULong(), written.fileBytes)
        assertTrue(writing.snapshot().any { it.stage == SyncFileStage.WRITING_MEDIA }, "${writing.snapshot()}")

        // B, never synced, has nothing of it; then imports the file with a listener.
        assertEquals(emptyList<Any>(), pb.listObservations(Query()))
        val copy = dirB.resolve("from-card.mapeosync").toFile()
        File(file).copyTo(copy)
        val reading = ProgressRecorder()
        val imported = pb.importSyncFile(copy.path, reading)
        assertEquals(written.entries, imported.entriesInFile)
        assertTrue(imported.entriesAdded > 0uL, "$imported")
        assertEquals(3uL, imported.mediaAdded, "$imported")
        val seen = reading.snapshot()
        assertTrue(seen.any { it.stage == SyncFileStage.CHECKING }, "$seen")
        val last = seen.last { it.stage == SyncFileStage.IMPORTING }
        assertEquals(last.total, last.done, "the import's progress ends complete: $seen")
        assertTrue(seen.all { it.done <= it.total }, "$seen")

        assertEquals(listOf(created), pb.listObservations(Query()))
        val original = pb.attachmentBytes(photo, AttachmentVariant.ORIGINAL)
            ?: throw AssertionError("the original photo did not arrive")
        assertArrayEquals(photoFile.readBytes(), original)
        assertNotNull(pb.attachmentBytes(photo, AttachmentVariant.THUMBNAIL))

        // One flipped byte in a later file: refused with the typed error, B unchanged.
        pa.createObservation(notes("sacred site"))
        val second = dirB.resolve("second.mapeosync").toFile()
        pa.exportSyncFile(second.path, SyncFileOptions(SyncFileMedia.NONE, null, null), null)
        val bytes = second.readBytes()
        bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 1).toByte()
        second.writeBytes(bytes)
        assertThrows<MapeoException.InvalidInput> { pb.importSyncFile(second.path, null) }
        assertEquals(listOf(created), pb.listObservations(Query()))
    }
}
