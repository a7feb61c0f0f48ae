// What the PIN lock's screens need besides PinLock itself: when the app left and came back
// (counted from its visible screens), whether the lock screen must come up, the words the
// lock and settings screens show, and which of the app's folders the wipe empties.
package org.mapeo.app.logic

import java.io.File

/**
 * Tells the lock when the app goes to the background and comes back, from the screens the
 * app shows; thread-confined (the main thread). One screen hands over to the next before it
 * stops, so the count reaches 0 only when the app left, or for a moment while a screen is
 * recreated (a rotation), which is not leaving: [screenStopped] is told so.
 */
class LockGate(private val lock: () -> PinLock?) {
    private var started = 0
    private var away = false

    /**
     * A screen became visible at [nowMs] (a monotonic clock). Returns whether the lock screen
     * must be shown over it: never over the lock screen itself.
     */
    fun screenStarted(nowMs: Long, isLockScreen: Boolean): Boolean {
        started++
        val l = lock() ?: return false
        if (away) {
            away = false
            l.foregrounded(nowMs)
        }
        return l.locked && !isLockScreen
    }

    /** A screen stopped being visible; [changingConfigurations] when it is only being recreated. */
    fun screenStopped(nowMs: Long, changingConfigurations: Boolean) {
        started = (started - 1).coerceAtLeast(0)
        if (started == 0 && !changingConfigurations && !away) {
            away = true
            lock()?.backgrounded(nowMs)
        }
    }
}

/** The lock screen's line under the PIN field: the attempts left when a wipe is set. */
fun lockIntroText(wipeAfter: Int?, failures: Int): String =
    if (wipeAfter == null) {
        "Type your PIN to open Mapeo."
    } else {
        val left = (wipeAfter - failures).coerceAtLeast(0)
        "Type your PIN to open Mapeo. After $left more wrong ${plural(left, "PIN", "PINs")}, everything on this phone is erased."
    }

/** What the lock (or a settings change asking the current PIN) says after a typed PIN. */
fun unlockText(result: UnlockResult): String = when (result) {
    UnlockResult.Unlocked -> ""
    is UnlockResult.Wrong -> when (val left = result.attemptsLeft) {
        null -> "Wrong PIN. Try again."
        else -> "Wrong PIN. $left ${plural(left, "attempt", "attempts")} left before this phone is erased."
    }
    UnlockResult.Wiping -> "Too many wrong PINs: this phone is being erased."
    UnlockResult.NotCounted -> "The PIN could not be checked (the phone's storage did not answer). Try again."
}

/** A choice of [LOCK_AFTER_MINUTES_CHOICES] in words. */
fun lockAfterText(minutes: Int): String = when (minutes) {
    0 -> "As soon as Mapeo is left"
    else -> "After $minutes ${plural(minutes, "minute", "minutes")} away"
}

/** A choice of [WIPE_AFTER_CHOICES] (null: never) in words. */
fun wipeAfterText(attempts: Int?): String =
    if (attempts == null) "Never erase" else "Erase after $attempts wrong PINs"

/** Said before a wipe limit is turned on. */
fun wipeAfterWarning(attempts: Int): String =
    "If anyone, you included, types a wrong PIN $attempts times in a row, everything on this phone is erased " +
        "at once: projects, observations, photos and this phone's identity. It cannot be undone. " +
        "Only the backup code brings the identity back, and the team gives the data back at the next exchange."

/**
 * The app's folders the wipe empties, inside its cache folder [cacheDir]: the camera's photos
 * (before the core took them in), the sync files offered to other apps, then everything else
 * there. Named apart so a change of where they live shows here and in the test.
 */
fun wipeAppFolders(cacheDir: File): List<File> =
    listOf(File(cacheDir, "camera"), File(cacheDir, "sync-files"), cacheDir)

/** The names of the app's settings files in its `shared_prefs` folder listing [files]. */
fun preferenceNames(files: Array<String>?): List<String> =
    files.orEmpty().filter { it.endsWith(".xml") }.map { it.removeSuffix(".xml") }.sorted()

private fun plural(n: Int, one: String, many: String) = if (n == 1) one else many
