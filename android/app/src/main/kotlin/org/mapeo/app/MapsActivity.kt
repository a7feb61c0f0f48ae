// The device's maps: import a map package from the phone's storage, set the default, remove;
// and map-share offers from a coordinator with their progress, to accept or decline. Works
// over the MapLibrary and MapShares seams (MapeoApp), which the app implements over the
// bindings of the map store and map sharing.
package org.mapeo.app

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.widget.LinearLayout
import java.io.File
import org.mapeo.app.logic.MapsScreenState
import org.mapeo.app.logic.mapsScreen

/** How often offers in progress are read again, ms. */
private const val OFFERS_REFRESH_MS = 1_000L

class MapsActivity : Screen() {
    private lateinit var box: LinearLayout

    private val refresh = object : Runnable {
        override fun run() {
            load()
            MapeoApp.mainHandler.postDelayed(this, OFFERS_REFRESH_MS)
        }
    }

    override fun create(state: Bundle?) {
        val c = column()
        c.label("Maps on this phone", 22f, bold = true)
        c.button("Import a map file") {
            val pick = Intent(Intent.ACTION_OPEN_DOCUMENT).addCategory(Intent.CATEGORY_OPENABLE).setType("*/*")
            startActivityForResult(pick, REQUEST_IMPORT)
        }
        box = column().also { it.setPadding(0, dp(8), 0, 0); c.addView(it) }
        show(c)
    }

    override fun onStart() {
        super.onStart()
        MapeoApp.mainHandler.post(refresh)
    }

    override fun onStop() {
        MapeoApp.mainHandler.removeCallbacks(refresh)
        super.onStop()
    }

    private fun load() {
        val library = app.mapLibrary
        val shares = app.mapShares
        if (library == null) {
            box.removeAllViews()
            box.label("Offline maps need the map server, which this build does not have yet.")
            return
        }
        work({ mapsScreen(library.maps(), shares?.offers().orEmpty()) }) { r ->
            r.onSuccess(::showState).onFailure { toast(message(it)) }
        }
    }

    private fun showState(s: MapsScreenState) {
        box.removeAllViews()
        s.empty?.let { box.label(it) }
        for (offer in s.offers) {
            box.label(offer.title, bold = true)
            box.label(offer.progress, 14f)
            val actions = row().also { box.addView(it) }
            actions.button("Accept") { act { app.mapShares?.accept(offer.shareId) } }
            actions.button("Decline") { act { app.mapShares?.decline(offer.shareId) } }
        }
        for (map in s.maps) {
            box.label(map.title, bold = true)
            box.label(map.detail, 14f)
            val actions = row().also { box.addView(it) }
            if (!map.isDefault) actions.button("Use as default") { act { app.mapLibrary?.setDefaultMap(map.mapId) } }
            actions.button("Remove") {
                confirm("Remove this map?", map.title, "Remove") { act { app.mapLibrary?.removeMap(map.mapId) } }
            }
        }
    }

    private fun act(block: () -> Unit) {
        work({ block() }) { r -> r.exceptionOrNull()?.let { toast(message(it)) }; load() }
    }

    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        if (requestCode != REQUEST_IMPORT || resultCode != RESULT_OK) return
        val uri: Uri = data?.data ?: return
        val library = app.mapLibrary ?: return
        toast("Importing the map…")
        // The core imports from a path: copy the picked document to the cache first.
        work({
            val tmp = File.createTempFile("map-import", ".pkg", cacheDir)
            try {
                checkNotNull(contentResolver.openInputStream(uri)) { "the file could not be opened" }.use { input ->
                    tmp.outputStream().use { input.copyTo(it) }
                }
                library.importMap(tmp.path)
            } finally {
                tmp.delete()
            }
        }) { r -> r.onSuccess { toast("Map imported: ${it.name}") }.onFailure { toast(message(it)) }; load() }
    }

    companion object {
        private const val REQUEST_IMPORT = 40
    }
}
