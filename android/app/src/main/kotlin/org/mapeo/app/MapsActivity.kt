// The device's maps: import a map package from the phone's storage, set the default, remove;
// and map-share offers from a coordinator with their progress, to accept or decline. Works
// over the MapLibrary and MapShares seams (MapeoApp, over the bindings): the core pushes
// offers and their progress while the screen is visible, and an installed map appears in
// the list without polling.
package org.mapeo.app

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.widget.LinearLayout
import java.io.File
import org.mapeo.app.logic.MapShareOffer
import org.mapeo.app.logic.MapsScreenState
import org.mapeo.app.logic.mapsScreen

class MapsActivity : Screen() {
    private lateinit var box: LinearLayout

    /** The offers as last pushed by the core (main thread only). */
    private var offers: List<MapShareOffer> = emptyList()
    private var watching: AutoCloseable? = null

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
        // Each push (an offer, progress, a map installed, a share ended) reloads the list:
        // the core throttles them, and the maps read is a small local query.
        watching = app.mapShares?.watch { now -> MapeoApp.mainHandler.post { offers = now; load() } }
        load()
    }

    override fun onStop() {
        watching?.close()
        watching = null
        super.onStop()
    }

    private fun load() {
        val library = app.mapLibrary
        if (library == null) {
            box.removeAllViews()
            box.label("Offline maps open once this phone has a device.")
            return
        }
        val shown = offers
        work({ mapsScreen(library.maps(), shown) }) { r ->
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
            if (offer.accepted) {
                actions.button("Stop") { act { app.mapShares?.decline(offer.shareId) } }
            } else {
                actions.button("Accept") { act { app.mapShares?.accept(offer.shareId) } }
                actions.button("Decline") { act { app.mapShares?.decline(offer.shareId) } }
            }
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

    private fun act(block: suspend () -> Unit) {
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
