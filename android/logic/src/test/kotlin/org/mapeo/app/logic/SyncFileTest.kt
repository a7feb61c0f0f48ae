package org.mapeo.app.logic

import java.io.File
import java.nio.file.Path
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.SyncFileListener
import uniffi.mapeo_ffi.SyncFileMedia
import uniffi.mapeo_ffi.SyncFileOptions
import uniffi.mapeo_ffi.SyncFileStage

/** A mono 8 kHz 16-bit PCM WAV recording of [samples] samples. */
private fun wav(samples: Int): ByteArray {
    val data = samples * 2
    val out = java.nio.ByteBuffer.allocate(44 + data).order(java.nio.ByteOrder.LITTLE_ENDIAN)
    out.put("RIFF".toByteArray()).putInt(36 + data).put("WAVEfmt ".toByteArray())
    out.putInt(16).putShort(1).putShort(1).putInt(8000).putInt(16000).putShort(2).putShort(16)
    out.put("data".toByteArray()).putInt(data)
    for (i in 0 until samples) out.putShort(((i * 7) % 4000 - 2000).toShort())
    return out.array()
}

class SyncFileTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var a: Mapeo

    @BeforeEach
    fun open() {
        a = device(dir.resolve("ana"), "Ana")
    }

    @AfterEach
    fun close() {
        a.close()
    }

    @Test
    fun `the choices become options and a size limit that is not a size is refused`() {
        assertEquals(
            SyncFileOptions(SyncFileMedia.PREVIEWS, 500_000_000uL, "/cache/office.have"),
            SyncFileChoice(SyncFileMedia.PREVIEWS, 500, "/cache/office.have").toOptions(),
        )
        assertEquals(SyncFileOptions(SyncFileMedia.ALL, null, null), SyncFileChoice().toOptions())
        assertNull(SyncFileChoice(maxMegabytes = 0).toOptions())
        assertEquals("The size limit must be at least 1 MB.", SyncFileChoice(maxMegabytes = -5).problem)
        assertNull(SyncFileChoice(maxMegabytes = Long.MAX_VALUE).toOptions())
    }

    @Test
    fun `a file saved under a size limit says what was left out and a damaged one is explained`() {
        val project = a.createProject(ProjectSettings(name = "Río Negro"))
        val photo = project.addAttachmentFromBytes(jpeg(400, 300), "dredge.jpg")
        val recording = project.addAttachmentFromBytes(wav(1_500_000), "voice-note.wav")
        project.createObservation(Observation(lat = -3.1, lon = -60.0, attachments = listOf(photo, recording)))
        val lines = mutableListOf<String>()
        val listener = object : SyncFileListener {
            override fun onProgress(stage: SyncFileStage, done: ULong, total: ULong) {
                synchronized(lines) { lines += syncFileProgressText(stage, done, total) }
            }
        }

        // The recording is larger than the limit: left out, and the summary says so.
        val file = dir.resolve("card.mapeosync").toString()
        val options = present(SyncFileChoice(SyncFileMedia.ALL, maxMegabytes = 1).toOptions())
        val written = project.exportSyncFile(file, options, listener)
        assertEquals(listOf(recording.hash), written.leftOut.map { it.hash }, "$written")
        val summary = exportSummaryText(written)
        assertTrue(summary.startsWith("Saved "), summary)
        assertTrue(
            summary.contains("Left out to fit the size limit: ${written.leftOut.size} media file"),
            summary,
        )
        assertTrue(lines.any { it.startsWith("Writing observations and settings… ") }, "$lines")

        // Taking in one's own file adds nothing, in words; the progress ends at 100%.
        lines.clear()
        val again = project.importSyncFile(file, listener)
        assertEquals("Nothing new: this device already had everything in the file.", importSummaryText(again))
        assertEquals("Taking in the data… 100%", lines.last())

        // A damaged file: the typed refusal, explained, and nothing changed.
        val bytes = File(file).readBytes()
        bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 1).toByte()
        File(file).writeBytes(bytes)
        val refused = assertThrows<MapeoException.InvalidInput> { project.importSyncFile(file, null) }
        assertTrue(syncFileErrorText(refused).endsWith("Nothing was changed."), syncFileErrorText(refused))
        assertEquals(1, project.listObservations(Query()).size)
    }
}
