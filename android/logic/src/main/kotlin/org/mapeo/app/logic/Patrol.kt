// Recording a patrol, as the foreground service drives it: GPS readings turned into the
// core's track points (the core filters them and writes each kept one to disk at once, so a
// killed app resumes its patrol), the notification's line, and what the recording screen shows.
package org.mapeo.app.logic

import java.util.Locale
import uniffi.mapeo_ffi.Coords
import uniffi.mapeo_ffi.PatrolRecording
import uniffi.mapeo_ffi.PatrolSummary
import uniffi.mapeo_ffi.PositionOutcome
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.TagValue
import uniffi.mapeo_ffi.TrackDoc
import uniffi.mapeo_ffi.TrackPoint

/** How often the service asks the GPS for a reading, ms: the core merges closer ones anyway. */
const val PATROL_GPS_INTERVAL_MS = 2_000L

/** Smallest move (m) the GPS reports during a patrol; the core's own threshold is larger. */
const val PATROL_GPS_MIN_METRES = 2f

/** How often the notification's elapsed time and distance are refreshed, ms. */
const val PATROL_NOTIFICATION_INTERVAL_MS = 1_000L

/** The core's point for a GPS reading. */
fun trackPoint(fix: LocationFix): TrackPoint = TrackPoint(
    timestamp = fix.timeMs,
    mocked = fix.mocked,
    coords = Coords(latitude = fix.latitude, longitude = fix.longitude, altitude = fix.altitude, accuracy = fix.accuracyMeters),
)

/**
 * The patrol under way in a project: resumed if the app was killed while recording, else
 * started. One per project; the service holds it while it runs.
 */
class PatrolSession private constructor(private val recording: PatrolRecording) : AutoCloseable {
    /** Gives the core a reading; a reading the phone reports as invalid is dropped here. */
    fun offer(fix: LocationFix): PositionOutcome? = try {
        recording.addPosition(trackPoint(fix))
    } catch (e: uniffi.mapeo_ffi.MapeoException.InvalidInput) {
        null
    }

    fun summary(): PatrolSummary = recording.summary()

    /** The line walked so far, as [latitude, longitude] pairs for drawing. */
    fun line(): List<Pair<Double, Double>> = recording.points().map { it.coords.latitude to it.coords.longitude }

    /** Saves the patrol as a track (with [notes] if any); fails if it has under two points. */
    fun save(notes: String?): TrackDoc {
        val tags = if (notes.isNullOrBlank()) emptyMap() else mapOf(NOTES_TAG to TagValue.Text(notes.trim()))
        return recording.save(tags)
    }

    /** Ends the patrol without a track. */
    fun discard() = recording.discard()

    override fun close() = recording.close()

    companion object {
        /** The patrol under way in [project], if the app was killed while recording one. */
        fun resume(project: Project): PatrolSession? = project.resumePatrol()?.let(::PatrolSession)

        /** The patrol under way, or a new one. */
        fun resumeOrStart(project: Project): PatrolSession = resume(project) ?: PatrolSession(project.startPatrol())
    }
}

/** "1:02:03" or "12:05": hours only when there are any. */
fun formatDuration(ms: Long): String {
    val s = (ms.coerceAtLeast(0) / 1000)
    val (h, m, sec) = Triple(s / 3600, (s % 3600) / 60, s % 60)
    return if (h > 0) String.format(Locale.ROOT, "%d:%02d:%02d", h, m, sec) else String.format(Locale.ROOT, "%d:%02d", m, sec)
}

/** "850 m" under a kilometre, else "2.4 km" (one decimal). */
fun formatDistance(metres: Double): String =
    if (metres < 1000) "${Math.round(metres.coerceAtLeast(0.0))} m" else String.format(Locale.ROOT, "%.1f km", metres / 1000)

/** The notification's line while recording: time since the start and distance walked. */
fun patrolNotificationText(summary: PatrolSummary, nowMs: Long): String =
    "${formatDuration(nowMs - summary.startedAt)} · ${formatDistance(summary.distanceMetres)}"
