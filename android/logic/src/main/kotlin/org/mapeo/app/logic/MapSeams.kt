// What the map screen and the maps screen need from the device's local map/media server, its
// map store and map sharing, as small interfaces: the screens depend on these, and
// DeviceMaps.kt implements them over the bindings (`mapStyleUrl`, `iconUrl`, `maps`,
// `importMap`, `removeMap`, `setDefaultMap`, `shareMap`, `acceptMapShare`, `declineMapShare`,
// `mapShares` + `MapShareListener`). The calls that reach the server or a peer suspend: the
// server starts on first use and a share waits for the other device.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.IconSize
import uniffi.mapeo_ffi.MapeoException

/** The style and icons the map loads, from the device's local server on 127.0.0.1. */
interface MapServer {
    /**
     * The style URL of map [mapId], or of the default map when null (the core's own fallback
     * style when no default is chosen); null if the server cannot be reached.
     */
    suspend fun styleUrl(mapId: String? = null): String?

    /**
     * The URL of the icon of category [categoryId] (a preset's doc id) of project [projectId]
     * at [size]: its PNG for [pixelDensity] (1–3; the server draws it from the SVG when the
     * categories file has none), or with no density as the file has it (SVG first, else its smallest
     * PNG); null if the category has no icon.
     */
    suspend fun iconUrl(projectId: String, categoryId: String, size: IconSize, pixelDensity: Int?): String?
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

/** The device's maps: list, import from a file, set the default, remove (blocking: off the main thread). */
interface MapLibrary {
    fun maps(): List<MapPackage>
    fun importMap(path: String): MapPackage
    fun setDefaultMap(mapId: String)
    fun removeMap(mapId: String)
}

/** A map offered to this device, as the maps screen shows it: waiting for an answer, or accepted and arriving. */
data class MapShareOffer(
    val shareId: String,
    val mapName: String,
    val senderName: String?,
    val sizeBytes: Long,
    val receivedBytes: Long,
    /** Accepted: the package is arriving (progress in [receivedBytes]). */
    val accepted: Boolean = false,
)

/** Map offers to this device, and offering a map to a connected device. */
interface MapShares {
    /** The offers now. */
    fun offers(): List<MapShareOffer>

    /**
     * Calls [onChange] with the offers now, then whenever a share changes (an offer arrives,
     * bytes move, a map is installed, a share ends), on a core thread, until closed.
     */
    fun watch(onChange: (List<MapShareOffer>) -> Unit): AutoCloseable

    /** Accepts an offer: the map arrives, is checked, then appears in the device's maps. */
    suspend fun accept(shareId: String)

    /** Declines an offer, or stops one that is arriving: nothing of it is kept. */
    suspend fun decline(shareId: String)

    /** Offers map [mapId] to connected device [deviceId]; returns the share's id. */
    suspend fun share(mapId: String, deviceId: String): String
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

/**
 * The style to load: the server's default map (or the core's fallback style) if the server
 * answers, else the inline fallback so the observations still show.
 */
suspend fun mapStyle(server: MapServer?): MapStyle {
    val url = try {
        server?.styleUrl()
    } catch (e: MapeoException) {
        null
    }
    return url?.let { MapStyle.Url(it) } ?: MapStyle.Json(FALLBACK_STYLE_JSON)
}
