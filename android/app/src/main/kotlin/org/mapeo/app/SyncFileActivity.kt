// Sync by file for one project, for devices that never meet: "Save to memory card" (the
// Storage Access Framework's ACTION_CREATE_DOCUMENT), "Share as a file" (the share sheet,
// ACTION_SEND with a SyncFileProvider URI) and "Open a sync file" (ACTION_OPEN_DOCUMENT).
// The core reads and writes paths, so documents are copied through a cache file. Options,
// progress, summaries and errors in words come from android/logic's SyncFile.kt.
package org.mapeo.app

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.text.InputType
import android.widget.EditText
import android.widget.ProgressBar
import android.widget.RadioButton
import android.widget.RadioGroup
import android.widget.TextView
import java.io.File
import org.mapeo.app.logic.SyncFileChoice
import org.mapeo.app.logic.exportSummaryText
import org.mapeo.app.logic.importSummaryText
import org.mapeo.app.logic.syncFileErrorText
import org.mapeo.app.logic.syncFileProgressText
import uniffi.mapeo_ffi.SyncFileListener
import uniffi.mapeo_ffi.SyncFileMedia
import uniffi.mapeo_ffi.SyncFileOptions
import uniffi.mapeo_ffi.SyncFileStage

private const val REQUEST_SAVE = 60
private const val REQUEST_OPEN = 61

class SyncFileActivity : Screen() {
    private lateinit var media: RadioGroup
    private lateinit var limit: EditText
    private lateinit var progress: ProgressBar
    private lateinit var progressText: TextView
    private lateinit var result: TextView
    private var busy = false

    /** Shows the core's progress; called on the working thread, shown on the main one. */
    private val listener = object : SyncFileListener {
        override fun onProgress(stage: SyncFileStage, done: ULong, total: ULong) {
            val text = syncFileProgressText(stage, done, total)
            val percent = if (total == 0uL) 100 else (done.toDouble() * 100 / total.toDouble()).toInt()
            MapeoApp.mainHandler.post {
                progress.progress = percent
                progressText.text = text
            }
        }
    }

    override fun create(state: Bundle?) {
        val c = column()
        c.label("Sync by file", 22f, bold = true)
        c.label(
            "For a device you cannot meet: save this project's data to a memory card or share it as a file, " +
                "and open the file on the other device. Its answer comes back the same way.",
            14f,
        )
        c.label("What to carry", 18f, bold = true)
        media = RadioGroup(this).also { c.addView(it) }
        for ((id, text) in listOf(1 to "Everything, with photos and recordings", 2 to "Photo previews only", 3 to "No photos or recordings")) {
            media.addView(RadioButton(this).apply { this.id = id; this.text = text })
        }
        media.check(1)
        limit = c.input("Size limit in MB (optional)", InputType.TYPE_CLASS_NUMBER)
        val buttons = row().also { c.addView(it) }
        buttons.button("Save to memory card") { save() }
        buttons.button("Share as a file") { share() }
        c.button("Open a sync file") { open() }
        progress = ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal).apply { max = 100 }
        c.addView(progress)
        progressText = c.label("", 14f)
        result = c.label("")
        show(c)
    }

    /** The options chosen, or null (and the limit field says why) when the limit is not a size. */
    private fun options(): SyncFileOptions? {
        val typed = limit.text.toString().trim()
        val megabytes = if (typed.isEmpty()) null else typed.toLongOrNull()
        if (typed.isNotEmpty() && megabytes == null) {
            limit.error = "Not a number"
            return null
        }
        val choice = SyncFileChoice(
            media = when (media.checkedRadioButtonId) {
                2 -> SyncFileMedia.PREVIEWS
                3 -> SyncFileMedia.NONE
                else -> SyncFileMedia.ALL
            },
            maxMegabytes = megabytes,
        )
        choice.problem?.let { limit.error = it }
        return choice.toOptions()
    }

    private fun save() {
        if (busy || options() == null) return
        val pick = Intent(Intent.ACTION_CREATE_DOCUMENT)
            .addCategory(Intent.CATEGORY_OPENABLE)
            .setType(SyncFileProvider.MIME_TYPE)
            .putExtra(Intent.EXTRA_TITLE, "mapeo.mapeosync")
        startActivityForResult(pick, REQUEST_SAVE)
    }

    private fun open() {
        if (busy) return
        val pick = Intent(Intent.ACTION_OPEN_DOCUMENT).addCategory(Intent.CATEGORY_OPENABLE).setType("*/*")
        startActivityForResult(pick, REQUEST_OPEN)
    }

    /** Writes the file into the share folder, then offers it to the share sheet. */
    private fun share() {
        if (busy) return
        val options = options() ?: return
        val projectName = runCatching { project().settings().name }.getOrNull() ?: "mapeo"
        val (file, uri) = SyncFileProvider.newFile(this, projectName)
        perform({ exportSummaryText(project().exportSyncFile(file.path, options, listener)) }) {
            val send = Intent(Intent.ACTION_SEND)
                .setType(SyncFileProvider.MIME_TYPE)
                .putExtra(Intent.EXTRA_STREAM, uri)
                .addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
            startActivity(Intent.createChooser(send, "Share the sync file"))
        }
    }

    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        if (resultCode != RESULT_OK) return
        val uri: Uri = data?.data ?: return
        when (requestCode) {
            REQUEST_SAVE -> {
                val options = options() ?: return
                perform({
                    // The core writes a path: into the cache, then copied to the document.
                    throughCache { tmp ->
                        val summary = exportSummaryText(project().exportSyncFile(tmp.path, options, listener))
                        checkNotNull(contentResolver.openOutputStream(uri)) { "the file could not be written" }.use { out ->
                            tmp.inputStream().use { it.copyTo(out) }
                        }
                        summary
                    }
                }) {}
            }
            REQUEST_OPEN -> perform({
                throughCache { tmp ->
                    checkNotNull(contentResolver.openInputStream(uri)) { "the file could not be opened" }.use { input ->
                        tmp.outputStream().use { input.copyTo(it) }
                    }
                    importSummaryText(project().importSyncFile(tmp.path, listener))
                }
            }) {}
        }
    }

    /** Runs [block] with a new cache file, deleted afterwards whatever happens. */
    private fun <T> throughCache(block: (File) -> T): T {
        val tmp = File.createTempFile("sync-file", ".mapeosync", cacheDir)
        try {
            return block(tmp)
        } finally {
            tmp.delete()
        }
    }

    /** Runs [block] off the main thread, one at a time; shows its summary or its error in words. */
    private fun perform(block: suspend () -> String, then: () -> Unit) {
        busy = true
        result.text = ""
        progress.progress = 0
        work(block) { r ->
            busy = false
            r.onSuccess {
                result.text = it
                then()
            }.onFailure {
                progressText.text = ""
                result.text = syncFileErrorText(it)
            }
        }
    }
}
