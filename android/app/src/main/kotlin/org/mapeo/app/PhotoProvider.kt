// Where the camera app writes a photo: a content:// URI for one file in this app's cache
// (file:// URIs are refused since Android 7). A few lines instead of androidx's FileProvider.
package org.mapeo.app

import android.content.ContentProvider
import android.content.ContentValues
import android.content.Context
import android.database.Cursor
import android.net.Uri
import android.os.ParcelFileDescriptor
import java.io.File
import java.io.FileNotFoundException

class PhotoProvider : ContentProvider() {
    override fun onCreate(): Boolean = true

    override fun openFile(uri: Uri, mode: String): ParcelFileDescriptor {
        val ctx = context ?: throw FileNotFoundException()
        val name = uri.lastPathSegment ?: throw FileNotFoundException()
        // Only plain names inside our folder: nothing a URI could point elsewhere with.
        if (!NAME.matches(name)) throw FileNotFoundException()
        return ParcelFileDescriptor.open(File(folder(ctx), name), ParcelFileDescriptor.parseMode(mode))
    }

    override fun getType(uri: Uri): String = "image/jpeg"
    override fun query(uri: Uri, p: Array<out String>?, s: String?, a: Array<out String>?, o: String?): Cursor? = null
    override fun insert(uri: Uri, values: ContentValues?): Uri? = null
    override fun update(uri: Uri, values: ContentValues?, s: String?, a: Array<out String>?): Int = 0
    override fun delete(uri: Uri, s: String?, a: Array<out String>?): Int = 0

    companion object {
        private const val AUTHORITY = "org.mapeo.app.photos"
        private val NAME = Regex("[a-z0-9-]{1,64}\\.jpg")

        fun folder(context: Context): File = File(context.cacheDir, "camera").apply { mkdirs() }

        /** A new file for the camera to write, and its URI. */
        fun newPhoto(context: Context): Pair<File, Uri> {
            val name = "photo-${System.currentTimeMillis()}.jpg"
            return File(folder(context), name) to Uri.parse("content://$AUTHORITY/$name")
        }
    }
}
