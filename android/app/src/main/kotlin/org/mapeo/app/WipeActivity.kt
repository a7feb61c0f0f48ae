// The emergency wipe screen, reached from Settings: hold the button for 3 seconds (progress
// shown; letting go early cancels), then type the word and erase. The gesture and the steps
// are the logic's (Wipe.kt) and the app runs them (MapeoApp.wipe); this file is the view.
package org.mapeo.app

import android.annotation.SuppressLint
import android.os.Build
import android.os.Bundle
import android.os.SystemClock
import android.text.Editable
import android.text.InputType
import android.text.TextWatcher
import android.view.MotionEvent
import android.view.View
import android.view.WindowManager
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.TextView
import android.window.OnBackInvokedCallback
import android.window.OnBackInvokedDispatcher
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.launch
import org.mapeo.app.logic.WipeOutcome
import org.mapeo.app.logic.WipeState
import org.mapeo.app.logic.wipeText

class WipeActivity : Screen() {
    // After the wipe the device is gone: this screen must not send to the start then.
    override val needsDevice = false

    private val gesture get() = app.wipeGesture
    private lateinit var text: TextView
    private lateinit var holdPart: LinearLayout
    private lateinit var holdButton: Button
    private lateinit var holdProgress: ProgressBar
    private lateinit var confirmPart: LinearLayout
    private lateinit var word: EditText
    private lateinit var erase: Button
    private lateinit var spinner: ProgressBar
    private var backCallback: Any? = null

    private val ticker = object : Runnable {
        override fun run() {
            val s = gesture.tick(SystemClock.uptimeMillis())
            render(s)
            if (s is WipeState.Holding) MapeoApp.mainHandler.postDelayed(this, TICK_MS)
        }
    }

    override fun create(state: Bundle?) {
        title = "Emergency wipe"
        // A new visit starts from the button, unless a wipe is running (the screen was recreated).
        if (gesture.state != WipeState.Wiping) gesture.cancel()
        val c = column()
        c.label("Emergency wipe", 22f, bold = true)
        c.label(
            "Erases this phone's projects, observations, photos and identity at once. The backup code restores " +
                "the identity; the team gives its data back at the next exchange.",
            14f,
        )
        text = c.label("", bold = true)

        holdPart = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }.also { c.addView(it) }
        holdProgress = ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal).apply { max = PROGRESS_MAX }
        holdPart.addView(holdProgress)
        holdButton = holdPart.button("Hold to erase this phone") {}
        holdButton.setOnTouchListener(::onHoldTouch)

        confirmPart = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }.also { c.addView(it) }
        word = confirmPart.input(
            gesture.confirmWord,
            InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_CAP_CHARACTERS or InputType.TYPE_TEXT_FLAG_NO_SUGGESTIONS,
        )
        word.addTextChangedListener(object : TextWatcher {
            override fun beforeTextChanged(s: CharSequence?, start: Int, count: Int, after: Int) {}
            override fun onTextChanged(s: CharSequence?, start: Int, before: Int, count: Int) {}
            override fun afterTextChanged(s: Editable?) = render(gesture.type(s?.toString().orEmpty()))
        })
        erase = confirmPart.button("Erase this phone now") {
            if (gesture.confirm()) runWipe(app.startWipe())
        }
        confirmPart.button("Cancel") { render(gesture.cancel()) }

        spinner = ProgressBar(this).also { c.addView(it) }
        show(c)
        if (Build.VERSION.SDK_INT >= 33) {
            // Back does nothing while the wipe runs (needs the manifest's opt-in to apply;
            // without it onBackPressed below does the same).
            val cb = OnBackInvokedCallback { if (gesture.state != WipeState.Wiping) finish() }
            onBackInvokedDispatcher.registerOnBackInvokedCallback(OnBackInvokedDispatcher.PRIORITY_DEFAULT, cb)
            backCallback = cb
        }
        render(gesture.state)
        if (gesture.state == WipeState.Wiping) app.wipeUnderWay?.let(::runWipe)
    }

    @SuppressLint("ClickableViewAccessibility")
    private fun onHoldTouch(v: View, e: MotionEvent): Boolean {
        when (e.actionMasked) {
            MotionEvent.ACTION_DOWN -> {
                // The scroll view must not take the touch over (that would cancel the hold).
                v.parent?.requestDisallowInterceptTouchEvent(true)
                render(gesture.press(SystemClock.uptimeMillis()))
                MapeoApp.mainHandler.removeCallbacks(ticker)
                MapeoApp.mainHandler.postDelayed(ticker, TICK_MS)
            }
            MotionEvent.ACTION_UP, MotionEvent.ACTION_CANCEL -> {
                MapeoApp.mainHandler.removeCallbacks(ticker)
                render(gesture.release(SystemClock.uptimeMillis()))
                if (e.actionMasked == MotionEvent.ACTION_UP) v.performClick()
            }
        }
        return true
    }

    /** Waits for the app's wipe (started now, or already under way when the screen was recreated). */
    private fun runWipe(job: Deferred<WipeOutcome>) {
        render(WipeState.Wiping)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        scope.launch {
            val outcome = job.await()
            window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
            val s = gesture.finished(outcome)
            render(s)
            if (s == WipeState.Wiped) {
                gesture.cancel()
                afterWipe(outcome)
            }
        }
    }

    private fun render(s: WipeState) {
        text.text = wipeText(s, gesture.confirmWord)
        holdPart.visibility = if (s == WipeState.Idle || s is WipeState.Holding || s is WipeState.Failed) View.VISIBLE else View.GONE
        holdProgress.progress = if (s is WipeState.Holding) (s.progress * PROGRESS_MAX).toInt() else 0
        holdButton.text = if (s is WipeState.Holding) "Keep holding…" else "Hold to erase this phone"
        confirmPart.visibility = if (s is WipeState.Confirm) View.VISIBLE else View.GONE
        if (s is WipeState.Confirm) {
            erase.isEnabled = s.canWipe
        } else if (word.text.isNotEmpty()) {
            // Typed words do not carry over to the next gesture (the watcher ignores this).
            word.setText("")
        }
        spinner.visibility = if (s == WipeState.Wiping) View.VISIBLE else View.GONE
    }

    override fun onPause() {
        // Leaving mid-hold is letting go.
        MapeoApp.mainHandler.removeCallbacks(ticker)
        if (gesture.state is WipeState.Holding) render(gesture.release(SystemClock.uptimeMillis()))
        super.onPause()
    }

    @Deprecated("Android 13 replaced it with OnBackInvokedCallback; kept for 8 to 12 and without the opt-in")
    @Suppress("DEPRECATION")
    override fun onBackPressed() {
        if (gesture.state == WipeState.Wiping) return
        super.onBackPressed()
    }

    override fun onDestroy() {
        MapeoApp.mainHandler.removeCallbacks(ticker)
        if (Build.VERSION.SDK_INT >= 33) {
            (backCallback as? OnBackInvokedCallback)?.let { onBackInvokedDispatcher.unregisterOnBackInvokedCallback(it) }
        }
        super.onDestroy()
    }

    private companion object {
        const val TICK_MS = 50L
        const val PROGRESS_MAX = 1000
    }
}
