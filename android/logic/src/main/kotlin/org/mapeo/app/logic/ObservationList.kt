// The observation list: newest first, a title from the category, a line of notes, and which
// file of the first photo to show as its thumbnail (the smallest one on this device, by its
// URL on the local server).
package org.mapeo.app.logic

import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.util.Locale
import uniffi.mapeo_ffi.Attachment
import uniffi.mapeo_ffi.AttachmentKind
import uniffi.mapeo_ffi.ObservationDoc
import uniffi.mapeo_ffi.PresetDoc
import uniffi.mapeo_ffi.TagValue

/** The sizes a photo is kept in, smallest first. */
enum class PhotoSize { THUMBNAIL, PREVIEW, ORIGINAL }

/** Where a photo's file of one size loads from (a URL), or null (not made or not arrived). */
fun interface PhotoFiles {
    fun url(attachment: Attachment, size: PhotoSize): String?
}

/** One row of the list. */
data class ObservationRow(
    val docId: String,
    val title: String,
    val subtitle: String,
    /** The URL of a file to show small, or null for the category's placeholder. */
    val thumbnailUrl: String?,
    val photoCount: Int,
    val createdAt: Long,
)

/** Characters of notes shown in a row. */
const val ROW_NOTES_CHARS = 80

/** Newest first; equal times in a fixed order (by id) so the list never jumps. */
val NEWEST_FIRST: Comparator<ObservationDoc> =
    compareByDescending<ObservationDoc> { it.meta.createdAt }.thenBy { it.meta.docId }

/** The URL to show [photo] in a list: the thumbnail, else the preview, else the original. */
fun thumbnailUrl(photo: Attachment, files: PhotoFiles): String? =
    PhotoSize.entries.firstNotNullOfOrNull { files.url(photo, it) }

/** The URL to show [photo] full screen: the original, else the preview, else the thumbnail. */
fun fullUrl(photo: Attachment, files: PhotoFiles): String? =
    PhotoSize.entries.reversed().firstNotNullOfOrNull { files.url(photo, it) }

/** Rows for [observations] (deleted ones left out), newest first. */
fun observationRows(
    observations: List<ObservationDoc>,
    presets: List<PresetDoc>,
    files: PhotoFiles,
    zone: ZoneId = ZoneId.systemDefault(),
    locale: Locale = Locale.getDefault(),
): List<ObservationRow> {
    val names = presets.associate { it.meta.docId to it.value.name }
    val dates = DateTimeFormatter.ofPattern("d MMM yyyy, HH:mm", locale).withZone(zone)
    return observations.filter { !it.meta.deleted }.sortedWith(NEWEST_FIRST).map { doc ->
        val photos = doc.value.attachments.filter { it.kind == AttachmentKind.PHOTO }
        val notes = (doc.value.tags[NOTES_TAG] as? TagValue.Text)?.value?.trim().orEmpty()
        val when_ = dates.format(Instant.ofEpochMilli(doc.meta.createdAt))
        ObservationRow(
            docId = doc.meta.docId,
            title = doc.value.presetRef?.let { names[it.docId] } ?: "Observation",
            subtitle = if (notes.isEmpty()) when_ else "$when_ · ${notes.take(ROW_NOTES_CHARS)}" + if (notes.length > ROW_NOTES_CHARS) "…" else "",
            // The first photo that has any file here: a photo still on its way shows none.
            thumbnailUrl = photos.firstNotNullOfOrNull { thumbnailUrl(it, files) },
            photoCount = photos.size,
            createdAt = doc.meta.createdAt,
        )
    }
}
