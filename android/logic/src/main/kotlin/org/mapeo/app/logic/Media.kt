// The bindings' attachment files and blob policy, as the app's logic sees them.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.AttachmentVariant
import uniffi.mapeo_ffi.BlobPolicy
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.archiveBlobPolicy
import uniffi.mapeo_ffi.previewsOnlyBlobPolicy

/** Photo files of [project], from where the core keeps them. */
fun photoFiles(project: Project): PhotoFiles = PhotoFiles { attachment, size ->
    val variant = when (size) {
        PhotoSize.THUMBNAIL -> AttachmentVariant.THUMBNAIL
        PhotoSize.PREVIEW -> AttachmentVariant.PREVIEW
        PhotoSize.ORIGINAL -> AttachmentVariant.ORIGINAL
    }
    runCatching { project.attachmentPath(attachment, variant) }.getOrNull()
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
