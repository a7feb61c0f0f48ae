// Sync by file as the app shows it: "Save to memory card / share as a file" and "Open a sync
// file". What the person chose becomes the bindings' SyncFileOptions; the core's progress,
// results and refusals become the words on screen. The app side (document pickers, share
// sheet, copying through a cache file) is in android/app's SyncFileActivity.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.SyncFileExport
import uniffi.mapeo_ffi.SyncFileImport
import uniffi.mapeo_ffi.SyncFileMedia
import uniffi.mapeo_ffi.SyncFileOptions
import uniffi.mapeo_ffi.SyncFileStage

/** Bytes in a megabyte as people (and memory card labels) count them. */
private const val MEGABYTE = 1_000_000L

/**
 * What the person chose on the "Save to memory card" screen: which media to carry, a size
 * limit in megabytes (null: none), and a have-file or sync file from the other device to
 * answer (a path in the app's cache; null: everything).
 */
data class SyncFileChoice(
    val media: SyncFileMedia = SyncFileMedia.ALL,
    val maxMegabytes: Long? = null,
    val answerTo: String? = null,
) {
    /**
     * The bindings' options, or null with [problem] set when the size limit is not a size
     * (zero or negative).
     */
    fun toOptions(): SyncFileOptions? {
        if (problem != null) return null
        return SyncFileOptions(media, maxMegabytes?.let { (it * MEGABYTE).toULong() }, answerTo)
    }

    /** Why this choice cannot be written, in words for the person; null when it can. */
    val problem: String?
        get() = when {
            maxMegabytes != null && maxMegabytes <= 0 -> "The size limit must be at least 1 MB."
            maxMegabytes != null && maxMegabytes > Long.MAX_VALUE / MEGABYTE -> "The size limit is too large."
            else -> null
        }
}

/** The progress line under the bar: what is happening, and how far (entries or bytes). */
fun syncFileProgressText(stage: SyncFileStage, done: ULong, total: ULong): String {
    val percent = if (total == 0uL) 100 else (done.toDouble() * 100 / total.toDouble()).toInt().coerceIn(0, 100)
    return when (stage) {
        SyncFileStage.WRITING_ENTRIES -> "Writing observations and settings… $done of $total"
        SyncFileStage.WRITING_MEDIA ->
            "Writing photos and recordings… ${formatBytes(done.toLong())} of ${formatBytes(total.toLong())}"
        SyncFileStage.CHECKING -> "Checking the file… $percent%"
        SyncFileStage.IMPORTING -> "Taking in the data… $percent%"
    }
}

/** What a saved file holds, and what the size limit left out (largest first). */
fun exportSummaryText(e: SyncFileExport): String {
    val lines = mutableListOf(
        "Saved ${formatBytes(e.fileBytes.toLong())}: ${plural(e.entries.toLong(), "entry", "entries")}, " +
            "${plural(e.mediaFiles.toLong(), "media file")} (${formatBytes(e.mediaBytes.toLong())}).",
    )
    if (e.leftOut.isNotEmpty()) {
        val bytes = e.leftOut.sumOf { it.size.toLong() }
        lines += "Left out to fit the size limit: ${plural(e.leftOut.size.toLong(), "media file")} " +
            "(${formatBytes(bytes)}). They go with a later file or the next sync."
    }
    return lines.joinToString("\n")
}

/** What an import took in. */
fun importSummaryText(i: SyncFileImport): String =
    if (i.entriesAdded == 0uL && i.mediaAdded == 0uL) {
        "Nothing new: this device already had everything in the file."
    } else {
        "Took in ${plural(i.entriesAdded.toLong(), "new entry", "new entries")} " +
            "(of ${i.entriesInFile} in the file) and ${plural(i.mediaAdded.toLong(), "new media file")}."
    }

/** The words for a refused or failed save or import; a refused file changed nothing. */
fun syncFileErrorText(e: Throwable): String = when (e) {
    is MapeoException.InvalidInput ->
        "This file cannot be used: it is damaged, cut short, of another project or not a sync file. " +
            "Nothing was changed."
    is MapeoException.Storage ->
        "The file could not be read or written. Is the memory card full or removed? " +
            "Opening the same file again completes an interrupted import."
    is MapeoException -> "Sync by file failed: ${e.message ?: "unknown error"}"
    else -> "The file could not be read or written."
}

/** "1 entry", "3 entries": for nouns whose plural is not noun + s. */
private fun plural(n: Long, one: String, many: String): String = if (n == 1L) "1 $one" else "$n $many"
