// The emergency wipe as the app runs it: the deliberate gesture that asks for it (press and
// hold, then type a word; cancellable until the wipe starts) and the steps, in their order:
// the core's wipe first (its keys destroyed makes the data unreadable at once), then the
// app's own copy of the root key, then the app's files (camera and sync-file caches, lock
// settings). The screens render the state; they decide nothing.
package org.mapeo.app.logic

import java.io.File
import java.text.Normalizer
import uniffi.mapeo_ffi.Mapeo

/** How long the wipe button must be held before the confirmation word is asked. */
const val WIPE_HOLD_MS: Long = 3_000

/** The word typed to confirm, in English; a translation passes its own to [WipeGesture]. */
const val DEFAULT_WIPE_WORD = "WIPE"

/** Where the wipe gesture is. */
sealed interface WipeState {
    /** Nothing under way: the button is shown. */
    data object Idle : WipeState

    /** The button is held; [progress] goes from 0 to 1 over [WIPE_HOLD_MS]. */
    data class Holding(val startedAtMs: Long, val progress: Float) : WipeState

    /** Held long enough: the word is being typed; [canWipe] once it matches. */
    data class Confirm(val typed: String, val canWipe: Boolean) : WipeState

    /** The steps are running; no longer cancellable (the keys may already be gone). */
    data object Wiping : WipeState

    /** Everything is gone: the app returns to its first run. */
    data object Wiped : WipeState

    /** Some step failed; the others ran anyway. [failed] names them. */
    data class Failed(val failed: List<WipeStep>) : WipeState
}

/**
 * The gesture's state machine. Times come from the caller (a monotonic clock on the phone),
 * so it is tested without waiting. Thread-confined (the main thread).
 */
class WipeGesture(val confirmWord: String = DEFAULT_WIPE_WORD, private val holdMs: Long = WIPE_HOLD_MS) {
    init {
        require(confirmWord.isNotBlank()) { "empty confirmation word" }
        require(holdMs > 0) { "hold time must be positive" }
    }

    var state: WipeState = WipeState.Idle
        private set

    /** The button went down. */
    fun press(nowMs: Long): WipeState {
        if (state == WipeState.Idle || state is WipeState.Failed) state = WipeState.Holding(nowMs, 0f)
        return state
    }

    /** Time passed while held: progress, and the confirmation once held long enough. */
    fun tick(nowMs: Long): WipeState {
        val s = state as? WipeState.Holding ?: return state
        val held = (nowMs - s.startedAtMs).coerceAtLeast(0)
        state = if (held >= holdMs) WipeState.Confirm("", false) else s.copy(progress = held.toFloat() / holdMs)
        return state
    }

    /** The button came up: letting go before the end cancels. */
    fun release(nowMs: Long): WipeState {
        tick(nowMs)
        if (state is WipeState.Holding) state = WipeState.Idle
        return state
    }

    /** The confirmation field changed. */
    fun type(text: String): WipeState {
        if (state is WipeState.Confirm) state = WipeState.Confirm(text, matches(text))
        return state
    }

    /** "Wipe now": true (and [WipeState.Wiping]) only when the word was typed. */
    fun confirm(): Boolean {
        val s = state as? WipeState.Confirm ?: return false
        if (!s.canWipe) return false
        state = WipeState.Wiping
        return true
    }

    /** Back to the start from any step before the wipe runs. */
    fun cancel(): WipeState {
        if (state != WipeState.Wiping) state = WipeState.Idle
        return state
    }

    /** The steps ended. */
    fun finished(outcome: WipeOutcome): WipeState {
        if (state == WipeState.Wiping) state = if (outcome.complete) WipeState.Wiped else WipeState.Failed(outcome.failed)
        return state
    }

    private fun matches(text: String): Boolean =
        normal(text).equals(normal(confirmWord), ignoreCase = true)

    private fun normal(s: String) = Normalizer.normalize(s.trim(), Normalizer.Form.NFC)
}

/** What the screen says for [state]; [word] is the confirmation word to type. */
fun wipeText(state: WipeState, word: String = DEFAULT_WIPE_WORD): String = when (state) {
    WipeState.Idle -> "Hold the button for ${WIPE_HOLD_MS / 1000} seconds to erase everything on this phone."
    is WipeState.Holding -> "Keep holding… let go to cancel."
    is WipeState.Confirm -> "Type $word to erase this phone's projects, observations, photos and identity. This cannot be undone."
    WipeState.Wiping -> "Erasing…"
    WipeState.Wiped -> "This phone was erased."
    is WipeState.Failed -> "Erasing did not finish (${state.failed.joinToString { it.label }}). Try again, or uninstall the app."
}

/** A step of the wipe, in the order they run. */
enum class WipeStep(val label: String) {
    /** The core's wipe (or, if it fails, deleting the data folder outright). */
    DEVICE_DATA("device data"),

    /** The app's own copy of the root key (Keystore-wrapped). */
    ROOT_KEY("root key"),

    /** The app's caches and settings. */
    APP_FILES("app files"),
}

/** Which steps failed; none when complete. */
data class WipeOutcome(val failed: List<WipeStep>) {
    val complete: Boolean get() = failed.isEmpty()
}

/** Where the app keeps its root key (the app's KeyVault; tests use memory). */
interface RootKeyKeeper {
    /** Whether a key is kept: false means the app is at its first run. */
    fun hasKey(): Boolean

    /** Forgets the key for good; done (on disk) when it returns. */
    fun delete()
}

/**
 * The app's wipe over the real device. [device] gives the open device, opening it if needed
 * (null when it cannot be: no key); [dataDir] is the core's data folder, deleted outright
 * only when the core's wipe fails; [appFiles] are deleted with everything in them;
 * [forgetSettings] clears the app's own settings (the PIN lock's among them).
 */
class DeviceWipe(
    private val device: () -> Mapeo?,
    private val dataDir: File,
    private val keys: RootKeyKeeper,
    private val appFiles: List<File>,
    private val forgetSettings: () -> Unit,
) {
    /** Runs every step in order; a failed step does not stop the next. Call it off the main thread. */
    suspend fun run(): WipeOutcome {
        val failed = mutableListOf<WipeStep>()
        val coreWiped = runCatching { checkNotNull(device()) { "no device" }.wipe() }.isSuccess
        if (!coreWiped) {
            // Removing the files is what is left, but deleted files can be read back from
            // flash: only the core's destroyed keys make them unreadable, so it still failed.
            deleteTree(dataDir)
            failed += WipeStep.DEVICE_DATA
        }
        if (runCatching { keys.delete() }.isFailure || keys.hasKey()) failed += WipeStep.ROOT_KEY
        val filesGone = appFiles.map { deleteTree(it) }.all { it }
        if (!filesGone || runCatching { forgetSettings() }.isFailure) failed += WipeStep.APP_FILES
        return WipeOutcome(failed.distinct())
    }

    private fun deleteTree(f: File): Boolean = !f.exists() || f.deleteRecursively()
}
