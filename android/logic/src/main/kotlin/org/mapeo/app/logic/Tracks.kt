// Tracks on the map and in their detail: a GeoJSON line per track for the map's track layer,
// and the distance, duration and observations a track's detail shows (distance and duration
// measured by the core, the same on every device).
package org.mapeo.app.logic

import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.util.Locale
import uniffi.mapeo_ffi.TrackDoc
import uniffi.mapeo_ffi.trackDistanceMetres
import uniffi.mapeo_ffi.trackDurationMs

/** The GeoJSON source of the tracks, and its line layer. */
const val TRACKS_SOURCE = "mapeo-tracks"
const val TRACKS_LAYER = "mapeo-tracks-line"

/** The source and layer of the patrol being recorded. */
const val PATROL_SOURCE = "mapeo-patrol"
const val PATROL_LAYER = "mapeo-patrol-line"

/** Colour and width of track lines. */
const val TRACK_COLOR = "#E4572E"
const val TRACK_WIDTH_DP = 3f

/** A GeoJSON FeatureCollection with one LineString per track ([PROP_DOC_ID] set). */
fun tracksGeoJson(tracks: List<TrackDoc>): String = tracks
    .filter { !it.meta.deleted && it.value.locations.size >= 2 }
    .joinToString(",", "{\"type\":\"FeatureCollection\",\"features\":[", "]}") { t ->
        lineFeature(t.meta.docId, t.value.locations.map { it.coords.latitude to it.coords.longitude })
    }

/** A FeatureCollection with the one line [points] ([latitude, longitude] pairs) draws. */
fun lineGeoJson(points: List<Pair<Double, Double>>): String =
    if (points.size < 2) "{\"type\":\"FeatureCollection\",\"features\":[]}"
    else "{\"type\":\"FeatureCollection\",\"features\":[${lineFeature("patrol", points)}]}"

private fun lineFeature(id: String, points: List<Pair<Double, Double>>): String {
    // Ids are hex; numbers are plain doubles: nothing here needs escaping.
    val coords = points.joinToString(",") { (lat, lon) -> "[$lon,$lat]" }
    return "{\"type\":\"Feature\",\"id\":\"$id\",\"properties\":{\"$PROP_DOC_ID\":\"$id\"}," +
        "\"geometry\":{\"type\":\"LineString\",\"coordinates\":[$coords]}}"
}

/** What a track's detail shows. */
data class TrackDetail(
    val title: String,
    val distance: String,
    val duration: String,
    val observationIds: List<String>,
    val notes: String?,
)

fun trackDetail(
    track: TrackDoc,
    zone: ZoneId = ZoneId.systemDefault(),
    locale: Locale = Locale.getDefault(),
): TrackDetail {
    val points = track.value.locations
    val started = points.firstOrNull()?.timestamp ?: track.meta.createdAt
    val date = DateTimeFormatter.ofPattern("d MMM yyyy, HH:mm", locale).withZone(zone).format(Instant.ofEpochMilli(started))
    return TrackDetail(
        title = "Patrol · $date",
        distance = formatDistance(trackDistanceMetres(points)),
        duration = formatDuration(trackDurationMs(points)),
        observationIds = track.value.observationRefs.map { it.docId },
        notes = (track.value.tags[NOTES_TAG] as? uniffi.mapeo_ffi.TagValue.Text)?.value,
    )
}
