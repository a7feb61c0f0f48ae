// When the device's networking runs: paused while the app is in the background, unless an
// exchange is under way (then the foreground service keeps it alive and visible).
package org.mapeo.app.logic

/** What to do with the device's networking after a change. */
enum class NetworkAction { PAUSE, RESUME, NONE }

/** Tracks visible screens and the exchange; thread-confined (the main thread). */
class NetworkLifecycle {
    private var started = 0
    private var exchanging = false
    private var paused = false

    val isPaused: Boolean get() = paused

    /** A screen became visible. */
    fun screenStarted(): NetworkAction { started++; return settle() }

    /** A screen stopped being visible. */
    fun screenStopped(): NetworkAction { started = (started - 1).coerceAtLeast(0); return settle() }

    fun exchangeStarted(): NetworkAction { exchanging = true; return settle() }

    fun exchangeStopped(): NetworkAction { exchanging = false; return settle() }

    private fun settle(): NetworkAction {
        val shouldPause = started == 0 && !exchanging
        return when {
            shouldPause && !paused -> { paused = true; NetworkAction.PAUSE }
            !shouldPause && paused -> { paused = false; NetworkAction.RESUME }
            else -> NetworkAction.NONE
        }
    }
}
