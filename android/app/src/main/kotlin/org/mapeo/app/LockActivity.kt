// The PIN lock screen: shown over any screen while the app is locked (MapeoApp brings it to
// the front), at start and after the chosen time away. Back leaves the app instead of
// revealing the screen under it. When the wrong PINs reach the wipe limit, the PinLock runs
// the wipe during the check; this screen then says how it went.
package org.mapeo.app

import android.os.Build
import android.os.Bundle
import android.text.InputType
import android.view.WindowManager
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import android.window.OnBackInvokedCallback
import android.window.OnBackInvokedDispatcher
import org.mapeo.app.logic.PIN_MAX_DIGITS
import org.mapeo.app.logic.UnlockResult
import org.mapeo.app.logic.lockIntroText
import org.mapeo.app.logic.unlockText

class LockActivity : Screen() {
    override val needsDevice = false

    private lateinit var intro: TextView
    private lateinit var pin: EditText
    private lateinit var unlock: Button
    private lateinit var status: TextView
    private var backCallback: Any? = null

    override fun create(state: Bundle?) {
        // Neither the PIN nor the screen under it in screenshots or the app switcher.
        window.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
        title = "Mapeo is locked"
        val c = column()
        c.label("Mapeo is locked", 22f, bold = true)
        intro = c.label("")
        pin = c.input("PIN", InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_VARIATION_PASSWORD)
        pin.filters = arrayOf(android.text.InputFilter.LengthFilter(PIN_MAX_DIGITS))
        unlock = c.button("Unlock") { check() }
        status = c.label("")
        show(c)
        if (Build.VERSION.SDK_INT >= 33) {
            val cb = OnBackInvokedCallback { moveTaskToBack(true) }
            onBackInvokedDispatcher.registerOnBackInvokedCallback(OnBackInvokedDispatcher.PRIORITY_DEFAULT, cb)
            backCallback = cb
        }
    }

    override fun onResume() {
        super.onResume()
        // Unlocked meanwhile (the PIN turned off, or a wipe that left no PIN): nothing to guard.
        if (!app.pinLock.locked) {
            finish()
            return
        }
        intro.text = lockIntroText(app.pinLock.wipeAfter, app.pinLock.failures)
    }

    private fun check() {
        val typed = pin.text.toString()
        if (typed.isEmpty()) return
        pin.setText("")
        unlock.isEnabled = false
        status.text = "Checking…"
        val lock = app.pinLock
        // Slow on purpose (the PIN's hash), and a wipe, if it comes to that, runs inside it.
        work({ lock.unlock(typed) }) { r ->
            unlock.isEnabled = true
            val result = r.getOrElse { status.text = message(it); return@work }
            status.text = unlockText(result)
            intro.text = lockIntroText(lock.wipeAfter, lock.failures)
            when (result) {
                UnlockResult.Unlocked -> finish()
                UnlockResult.Wiping -> wiped()
                else -> {}
            }
        }
    }

    /** The wrong PINs reached the limit and the lock ran the wipe. */
    private fun wiped() {
        val outcome = app.lastWipe ?: return
        if (afterWipe(outcome)) return
        // Not complete: the limit was reached, so erasing again needs no PIN and no gesture.
        pin.isEnabled = false
        unlock.isEnabled = false
        status.text = "Erasing did not finish."
        (status.parent as? android.view.ViewGroup)?.button("Try erasing again") {
            status.text = "Erasing…"
            work({ app.wipe() }) { r -> r.onSuccess { afterWipe(it) }.onFailure { status.text = message(it) } }
        }
    }

    @Deprecated("Android 13 replaced it with OnBackInvokedCallback; kept for 8 to 12 and without the opt-in")
    @Suppress("DEPRECATION")
    override fun onBackPressed() {
        moveTaskToBack(true)
    }

    override fun onDestroy() {
        if (Build.VERSION.SDK_INT >= 33) {
            (backCallback as? OnBackInvokedCallback)?.let { onBackInvokedDispatcher.unregisterOnBackInvokedCallback(it) }
        }
        super.onDestroy()
    }
}
