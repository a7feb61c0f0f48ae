// The bindings' attachment files and blob policy, as the app's logic sees them.
package org.mapeo.app.logic

import kotlinx.coroutines.runBlocking
import uniffi.mapeo_ffi.AttachmentVariant
import uniffi.mapeo_ffi.BlobPolicy
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.archiveBlobPolicy
import uniffi.mapeo_ffi.previewsOnlyBlobPolicy

/**
 * Photo files of [project] as URLs of [device]'s local server, which decrypts them as it
 * serves (media are encrypted on the phone: there is no file to open). A size not on this
 * phone has none. Starts the server on first use and waits for it: call off the main thread.
 */
fun photoFiles(device: Mapeo, project: Project): PhotoFiles {
    val projectId = project.projectId()
    return PhotoFiles { attachment, size ->
        val variant = when (size) {
            PhotoSize.THUMBNAIL -> AttachmentVariant.THUMBNAIL
            PhotoSize.PREVIEW -> AttachmentVariant.PREVIEW
            PhotoSize.ORIGINAL -> AttachmentVariant.ORIGINAL
        }
        runCatching {
            if (project.hasAttachmentFile(attachment, variant)) {
                runBlocking { device.attachmentUrl(projectId, attachment, variant) }
            } else {
                null
            }
        }.getOrNull()
    }
}

/** Whether [policy] keeps everything (the "archive device" switch is on). */
fun isArchive(policy: BlobPolicy): Boolean = policy == archiveBlobPolicy()

/** The policy for the "archive device" switch. */
fun policyFor(archive: Boolean): BlobPolicy = if (archive) archiveBlobPolicy() else previewsOnlyBlobPolicy()

/** What the settings screen says under the switch. */
fun policyText(policy: BlobPolicy): String = when {
    isArchive(policy) -> "This phone keeps every photo, audio and video at full size (uses more space)."
    policy == previewsOnlyBlobPolicy() -> "This phone keeps photos of others at preview size; full-size files stay on archive devices."
    else -> "This phone keeps only some media sizes."
}
