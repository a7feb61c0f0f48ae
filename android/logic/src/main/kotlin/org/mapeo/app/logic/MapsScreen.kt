// The maps screen's state: the device's map packages (the default first, then by name) with
// their size and zoom range, and map-share offers with their progress, from the `MapLibrary`
// and `MapShares` seams (MapSeams.kt; offers pushed by the core as they change). Sizes read as elsewhere in the app (`formatBytes`).
package org.mapeo.app.logic

/** One map in the list. */
data class MapRow(val mapId: String, val title: String, val detail: String, val isDefault: Boolean)

/** One offer in the list; [accepted]: arriving (the screen offers to stop it, not to accept it). */
data class OfferRow(val shareId: String, val title: String, val progress: String, val fraction: Float, val accepted: Boolean = false)

/** What the maps screen shows. */
data class MapsScreenState(val maps: List<MapRow>, val offers: List<OfferRow>, val empty: String?)

fun mapsScreen(maps: List<MapPackage>, offers: List<MapShareOffer>): MapsScreenState {
    val rows = maps.sortedWith(compareByDescending<MapPackage> { it.isDefault }.thenBy { it.name.lowercase() }.thenBy { it.mapId })
        .map { m ->
            MapRow(
                mapId = m.mapId,
                title = m.name + if (m.isDefault) " (default)" else "",
                detail = "${formatBytes(m.sizeBytes)} · zoom ${m.minZoom}–${m.maxZoom}",
                isDefault = m.isDefault,
            )
        }
    val offerRows = offers.map { o ->
        val fraction = if (o.sizeBytes > 0) (o.receivedBytes.toFloat() / o.sizeBytes).coerceIn(0f, 1f) else 0f
        OfferRow(
            shareId = o.shareId,
            title = "${o.mapName} from ${o.senderName ?: "a coordinator"}",
            progress = if (o.receivedBytes > 0) "${formatBytes(o.receivedBytes)} of ${formatBytes(o.sizeBytes)}" else formatBytes(o.sizeBytes),
            fraction = fraction,
            accepted = o.accepted,
        )
    }
    val empty = if (rows.isEmpty() && offerRows.isEmpty()) "No maps on this phone: import a map file, or ask a coordinator to share one." else null
    return MapsScreenState(rows, offerRows, empty)
}
