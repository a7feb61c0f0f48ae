// The map's observation layer: the area to ask the core for (from what the map shows), the
// icons each category needs, where the camera goes to show a project's observations, and the
// feed that keeps the points current when the map moves or sync brings observations in.
package org.mapeo.app.logic

import java.util.concurrent.atomic.AtomicReference
import uniffi.mapeo_ffi.BoundingBox
import uniffi.mapeo_ffi.IconSize
import uniffi.mapeo_ffi.MapPoints
import uniffi.mapeo_ffi.ObservationDoc
import uniffi.mapeo_ffi.PresetDoc
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.ProjectChangeListener
import uniffi.mapeo_ffi.TaskHandle

/** The GeoJSON source of the observations, and the layers drawn from it. */
const val POINTS_SOURCE = "mapeo-observations"
const val POINTS_CIRCLE_LAYER = "mapeo-observations-circle"
const val POINTS_ICON_LAYER = "mapeo-observations-icon"

/** Feature properties the core puts on each point (see the bindings' `MapPoints`). */
const val PROP_DOC_ID = "docId"
const val PROP_COLOR = "color"
const val PROP_OPACITY = "opacity"
const val PROP_ICON_ID = "iconId"
const val PROP_CATEGORY_ID = "categoryId"

/** Radius of a point, in dp: big enough to tap with a thumb. */
const val POINT_RADIUS_DP = 9f

/** Icon size asked of the server for a point of [POINT_RADIUS_DP]. */
val POINT_ICON_SIZE: IconSize = IconSize.MEDIUM

/** Zoom used to show a single observation. */
const val SINGLE_POINT_ZOOM = 15.0

/** Smallest span (degrees) of a camera box, so close points do not zoom in to the street. */
const val MIN_CAMERA_SPAN_DEG = 0.005

/** Points asked for one view: the core caps it again. */
const val POINTS_PER_VIEW = 2_000u

/** The image id a category's icon is registered under in the map style. */
fun iconImageId(iconId: String): String = "mapeo-icon-$iconId"

/** A category's icon to load into the style: its image id and where it comes from. */
data class CategoryIcon(val categoryId: String, val imageId: String, val url: String)

/**
 * The icons of project [projectId]'s [presets], to add to the style before drawing points: as
 * PNGs at the screen's [pixelDensity], or as the categories file has them when null (see
 * [MapServer.iconUrl]).
 */
suspend fun categoryIcons(projectId: String, presets: List<PresetDoc>, server: MapServer?, pixelDensity: Int?): List<CategoryIcon> {
    if (server == null) return emptyList()
    return presets.filter { !it.meta.deleted }.mapNotNull { p ->
        val iconId = p.value.iconRef?.docId ?: return@mapNotNull null
        val url = server.iconUrl(projectId, p.meta.docId, POINT_ICON_SIZE, pixelDensity) ?: return@mapNotNull null
        CategoryIcon(p.meta.docId, iconImageId(iconId), url)
    }
}

/**
 * The area to ask the core for, from the map's visible region (which can reach past the poles
 * or wrap around the world when zoomed out): latitudes clamped, longitudes brought into
 * -180..180 (`west > east` when it crosses the antimeridian), the whole world when it spans it.
 */
fun visibleBox(south: Double, west: Double, north: Double, east: Double): BoundingBox {
    val s = south.coerceIn(-90.0, 90.0)
    val n = north.coerceIn(-90.0, 90.0)
    if (east - west >= 360.0 || west.isNaN() || east.isNaN()) return BoundingBox(s, -180.0, n, 180.0)
    return BoundingBox(s, wrapLongitude(west), n, wrapLongitude(east))
}

/** A longitude brought into -180..180 (180 stays 180). */
fun wrapLongitude(lon: Double): Double {
    if (lon in -180.0..180.0) return lon
    val w = ((lon + 180.0) % 360.0 + 360.0) % 360.0 - 180.0
    return if (w == -180.0 && lon > 0) 180.0 else w
}

/** Where the camera goes to show a project's observations. */
sealed interface CameraTarget {
    /** No observation has a place: leave the camera where it is (or on the user). */
    data object Nothing : CameraTarget

    /** One place: centre on it at [zoom]. */
    data class Point(val latitude: Double, val longitude: Double, val zoom: Double) : CameraTarget

    /** Fit this box (`west > east` crosses the antimeridian). */
    data class Box(val box: BoundingBox) : CameraTarget
}

/** The places (latitude, longitude) of [observations], deleted and placeless ones left out. */
fun places(observations: List<ObservationDoc>): List<Pair<Double, Double>> =
    observations.filter { !it.meta.deleted }.mapNotNull { o ->
        val lat = o.value.lat ?: return@mapNotNull null
        val lon = o.value.lon ?: return@mapNotNull null
        lat to lon
    }

/**
 * The camera for [places] (latitude, longitude): the smallest box holding them all — across
 * the antimeridian when that is smaller, as for a project in Fiji or Chukotka — at least
 * [MIN_CAMERA_SPAN_DEG] wide and high.
 */
fun cameraFor(places: List<Pair<Double, Double>>): CameraTarget {
    if (places.isEmpty()) return CameraTarget.Nothing
    val lats = places.map { it.first }
    val lons = places.map { it.second }.sorted().distinct()
    if (lons.size == 1 && lats.min() == lats.max()) {
        return CameraTarget.Point(lats[0], lons[0], SINGLE_POINT_ZOOM)
    }
    // The box is the world minus the widest empty gap between neighbouring longitudes,
    // counting the gap that wraps from the easternmost back to the westernmost.
    var west = lons.first()
    var east = lons.last()
    var widest = 360.0 - (east - west)
    for (i in 1 until lons.size) {
        val gap = lons[i] - lons[i - 1]
        if (gap > widest) {
            widest = gap
            west = lons[i]
            east = lons[i - 1]
        }
    }
    var south = lats.min()
    var north = lats.max()
    if (north - south < MIN_CAMERA_SPAN_DEG) {
        val mid = (north + south) / 2
        south = (mid - MIN_CAMERA_SPAN_DEG / 2).coerceAtLeast(-90.0)
        north = (mid + MIN_CAMERA_SPAN_DEG / 2).coerceAtMost(90.0)
    }
    val span = if (west <= east) east - west else east + 360.0 - west
    if (span < MIN_CAMERA_SPAN_DEG) {
        val grow = (MIN_CAMERA_SPAN_DEG - span) / 2
        west = wrapLongitude(west - grow)
        east = wrapLongitude(east + grow)
    }
    return CameraTarget.Box(BoundingBox(south, west, north, east))
}

/**
 * Keeps the map's points current: [show] asks for the points of the area the map shows, and
 * every change to the project (an observation saved here, or brought by sync) asks again for
 * the last area, with no reload of the screen. [onPoints] runs on the library's listener thread
 * or the caller's: post to the UI thread. [close] stops it.
 */
class MapPointsFeed(
    private val project: Project,
    private val limit: UInt = POINTS_PER_VIEW,
    private val onPoints: (MapPoints) -> Unit,
    private val onError: (Exception) -> Unit = {},
) : AutoCloseable {
    private val area = AtomicReference<BoundingBox?>(null)
    private val handle: TaskHandle = project.subscribeChanges(object : ProjectChangeListener {
        override fun onProjectChanged(generation: ULong) = refresh()
    })

    /** Shows the points of [box] now, and keeps showing that area's points. */
    fun show(box: BoundingBox) {
        area.set(box)
        refresh()
    }

    private fun refresh() {
        val box = area.get() ?: return
        try {
            onPoints(project.mapPoints(box, limit))
        } catch (e: Exception) {
            onError(e)
        }
    }

    override fun close() {
        handle.cancel()
        handle.close()
    }
}
