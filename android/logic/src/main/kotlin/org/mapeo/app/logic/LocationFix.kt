// GPS fixes as the new-observation screen uses them: which of the readings that keep coming
// is the best one, how it is described (accuracy, age), and the metadata stored with it.
// Readings come from LocationManager (GPS works with no network); nothing here needs a phone.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.Coords
import uniffi.mapeo_ffi.ObservationMetadata
import uniffi.mapeo_ffi.Position
import uniffi.mapeo_ffi.PositionProvider

/** One location reading. */
data class LocationFix(
    val latitude: Double,
    val longitude: Double,
    /** Horizontal accuracy in metres (68% radius), if the provider gave one. */
    val accuracyMeters: Double?,
    val altitude: Double? = null,
    /** When it was read, ms since the epoch. */
    val timeMs: Long,
    /** `gps`, `network`, `fused`… */
    val provider: String,
    val mocked: Boolean = false,
) {
    /** The metadata stored with an observation placed at this fix. */
    fun toMetadata(providers: PositionProvider? = null): ObservationMetadata = ObservationMetadata(
        manualLocation = false,
        position = Position(
            timestamp = timeMs,
            mocked = mocked,
            coords = Coords(latitude = latitude, longitude = longitude, altitude = altitude, accuracy = accuracyMeters),
        ),
        positionProvider = providers,
    )
}

/** A reading older than this loses to any newer one, however accurate it was. */
const val FIX_STALE_MS = 60_000L

/** Accuracy (m) at or under which a fix is called good. */
const val GOOD_ACCURACY_M = 10.0

/** Accuracy (m) at or under which a fix is called fair; worse is poor. */
const val FAIR_ACCURACY_M = 50.0

/** How much to trust a fix. */
enum class FixQuality { GOOD, FAIR, POOR, UNKNOWN }

fun quality(fix: LocationFix): FixQuality {
    val a = fix.accuracyMeters ?: return FixQuality.UNKNOWN
    return when {
        a <= GOOD_ACCURACY_M -> FixQuality.GOOD
        a <= FAIR_ACCURACY_M -> FixQuality.FAIR
        else -> FixQuality.POOR
    }
}

/** Whether [candidate] should replace [current] as the fix shown and saved. */
fun isBetterFix(candidate: LocationFix, current: LocationFix?): Boolean {
    if (current == null) return true
    val newer = candidate.timeMs - current.timeMs
    if (newer > FIX_STALE_MS) return true
    if (newer < -FIX_STALE_MS) return false
    val ca = candidate.accuracyMeters ?: Double.MAX_VALUE
    val cu = current.accuracyMeters ?: Double.MAX_VALUE
    // As accurate or better and not older: take it (the phone moved, or the fix settled).
    return ca < cu || (ca <= cu && newer >= 0)
}

/** Keeps the best fix of the readings that keep coming. Not thread-safe: use on one thread. */
class FixTracker {
    var best: LocationFix? = null
        private set

    /** Offers a reading; true if it became the best. */
    fun offer(fix: LocationFix): Boolean {
        if (!fix.latitude.isFinite() || !fix.longitude.isFinite() ||
            fix.latitude !in -90.0..90.0 || fix.longitude !in -180.0..180.0
        ) {
            return false
        }
        if (!isBetterFix(fix, best)) return false
        best = fix
        return true
    }
}

/** The line shown under the map pin: "±8 m · good · 5 s ago", or what is missing. */
fun describeFix(fix: LocationFix?, nowMs: Long, gpsEnabled: Boolean): String {
    if (fix == null) return if (gpsEnabled) "Looking for GPS… (outdoors, with a view of the sky, is fastest)" else "GPS is off: turn on location in the phone's settings"
    val accuracy = fix.accuracyMeters?.let { "±${Math.round(it)} m" } ?: "accuracy unknown"
    val q = when (quality(fix)) {
        FixQuality.GOOD -> "good"
        FixQuality.FAIR -> "fair"
        FixQuality.POOR -> "poor"
        FixQuality.UNKNOWN -> null
    }
    val age = ((nowMs - fix.timeMs).coerceAtLeast(0) / 1000).let { s ->
        when {
            s < 2 -> "now"
            s < 120 -> "$s s ago"
            else -> "${s / 60} min ago"
        }
    }
    val mocked = if (fix.mocked) " · from a mock location app" else ""
    return listOfNotNull(accuracy, q, age).joinToString(" · ") + mocked
}

/** Coordinates as shown: 5 decimals (about a metre). */
fun formatCoordinates(lat: Double, lon: Double): String =
    String.format(java.util.Locale.ROOT, "%.5f, %.5f", lat, lon)
