// What the map screen needs from the local map/media server and the map store, as small
// interfaces the app implements over the bindings (`mapStyleUrl`, `iconUrl`, `maps`,
// `importMap`, `removeMap`, `setDefaultMap`, `shareMap`, `acceptMapShare`, `declineMapShare`,
// `mapShares` + `MapShareListener`). Those bindings arrive with the server and map-share work;
// until they are wired, the map falls back to a style with no base map (the observations still
// show on top) and category colours without icons.
package org.mapeo.app.logic

/** The style and icons the map loads, from the device's local server. */
interface MapServer {
    /** The style URL of map [mapId], or of the default map when null; null if none is served. */
    fun styleUrl(mapId: String? = null): String?

    /** The URL of a category's icon at [sizePx] device pixels, or null if it has none. */
    fun iconUrl(categoryId: String, sizePx: Int): String?
}

/** A map package on this device, as the maps screen lists it. */
data class MapPackage(
    val mapId: String,
    val name: String,
    val isDefault: Boolean,
    val sizeBytes: Long,
    val minZoom: Int,
    val maxZoom: Int,
)

/** The device's maps: list, import from a file, set the default, remove. */
interface MapLibrary {
    fun maps(): List<MapPackage>
    fun importMap(path: String): MapPackage
    fun setDefaultMap(mapId: String)
    fun removeMap(mapId: String)
}

/** A map offered by a coordinator, as the maps screen shows it. */
data class MapShareOffer(
    val shareId: String,
    val mapName: String,
    val senderName: String?,
    val sizeBytes: Long,
    val receivedBytes: Long,
)

/** Map offers to this device, and offering a map to a connected device. */
interface MapShares {
    fun offers(): List<MapShareOffer>
    fun accept(shareId: String)
    fun decline(shareId: String)
    fun share(mapId: String, deviceId: String): String
}

/** How the map view loads its style. */
sealed interface MapStyle {
    /** From the local server. */
    data class Url(val url: String) : MapStyle

    /** Inline JSON: the fallback when no map is served. */
    data class Json(val json: String) : MapStyle
}

/** Background colour of the fallback style: a neutral land colour, so points stand out. */
const val FALLBACK_BACKGROUND = "#EFE9DC"

/** A MapLibre style (version 8) with only a background: the observations go on top of it. */
val FALLBACK_STYLE_JSON: String =
    """{"version":8,"name":"Mapeo (no map)","sources":{},"layers":[{"id":"background","type":"background","paint":{"background-color":"$FALLBACK_BACKGROUND"}}]}"""

/** The style to load: the server's default map if there is one, else the fallback. */
fun mapStyle(server: MapServer?): MapStyle =
    server?.styleUrl()?.let { MapStyle.Url(it) } ?: MapStyle.Json(FALLBACK_STYLE_JSON)
