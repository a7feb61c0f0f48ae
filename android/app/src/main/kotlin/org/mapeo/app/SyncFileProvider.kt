// The sync file being shared: a content:// URI for one file in this app's cache, readable by
// the app the person picks in the share sheet (ACTION_SEND). Like PhotoProvider, a few lines
// instead of androidx's FileProvider; it also answers the name and size share targets ask.
package org.mapeo.app

import android.content.ContentProvider
import android.content.ContentValues
import android.content.Context
import android.database.Cursor
import android.database.MatrixCursor
import android.net.Uri
import android.os.ParcelFileDescriptor
import android.provider.OpenableColumns
import java.io.File
import java.io.FileNotFoundException

class SyncFileProvider : ContentProvider() {
    override fun onCreate(): Boolean = true

    /** The file a URI names, only a plain name inside our folder: nothing a URI could point elsewhere with. */
    private fun file(uri: Uri): File {
        val ctx = context ?: throw FileNotFoundException()
        val name = uri.lastPathSegment ?: throw FileNotFoundException()
        if (!NAME.matches(name)) throw FileNotFoundException()
        return File(folder(ctx), name)
    }

    override fun openFile(uri: Uri, mode: String): ParcelFileDescriptor {
        // Read only: a share target has no business changing the file.
        if (mode != "r") throw FileNotFoundException()
        return ParcelFileDescriptor.open(file(uri), ParcelFileDescriptor.MODE_READ_ONLY)
    }

    override fun getType(uri: Uri): String = MIME_TYPE

    override fun query(uri: Uri, p: Array<out String>?, s: String?, a: Array<out String>?, o: String?): Cursor? {
        val f = runCatching { file(uri) }.getOrNull() ?: return null
        return MatrixCursor(arrayOf(OpenableColumns.DISPLAY_NAME, OpenableColumns.SIZE)).apply {
            addRow(arrayOf<Any>(f.name, f.length()))
        }
    }

    override fun insert(uri: Uri, values: ContentValues?): Uri? = null
    override fun update(uri: Uri, values: ContentValues?, s: String?, a: Array<out String>?): Int = 0
    override fun delete(uri: Uri, s: String?, a: Array<out String>?): Int = 0

    companion object {
        private const val AUTHORITY = "org.mapeo.app.syncfiles"
        private val NAME = Regex("[a-z0-9-]{1,64}\\.mapeosync")

        /** What a sync file is to other apps: bytes to carry, not to open. */
        const val MIME_TYPE = "application/octet-stream"

        /** Where files to share are written; emptied before each new one. */
        fun folder(context: Context): File = File(context.cacheDir, "sync-files").apply { mkdirs() }

        /** A new file to share (older ones removed: one at a time is enough), and its URI. */
        fun newFile(context: Context, project: String): Pair<File, Uri> {
            folder(context).listFiles()?.forEach { it.delete() }
            val slug = project.lowercase().replace(Regex("[^a-z0-9]+"), "-").trim('-').take(40).ifEmpty { "mapeo" }
            val name = "$slug-${System.currentTimeMillis()}.mapeosync"
            return File(folder(context), name) to Uri.parse("content://$AUTHORITY/$name")
        }
    }
}
