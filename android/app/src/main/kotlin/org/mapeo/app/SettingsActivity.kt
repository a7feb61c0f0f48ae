// Settings: this phone's name, whether it keeps the archive (every photo at full size, audio
// and video: the blob policy), its backup code, the PIN lock and the emergency wipe.
package org.mapeo.app

import android.app.AlertDialog
import android.content.Intent
import android.graphics.Color
import android.os.Bundle
import android.text.InputType
import android.view.WindowManager
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.Switch
import android.widget.TextView
import org.mapeo.app.logic.LOCK_AFTER_MINUTES_CHOICES
import org.mapeo.app.logic.UnlockResult
import org.mapeo.app.logic.WIPE_AFTER_CHOICES
import org.mapeo.app.logic.backupCodeLines
import org.mapeo.app.logic.checkDeviceName
import org.mapeo.app.logic.checkNewPin
import org.mapeo.app.logic.isArchive
import org.mapeo.app.logic.lockAfterText
import org.mapeo.app.logic.policyFor
import org.mapeo.app.logic.policyText
import org.mapeo.app.logic.unlockText
import org.mapeo.app.logic.wipeAfterText
import org.mapeo.app.logic.wipeAfterWarning
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.backupCode

class SettingsActivity : Screen() {
    override fun create(state: Bundle?) {
        val c = column()
        c.label("Settings", 22f, bold = true)
        c.label("This phone's name", bold = true)
        val name = c.input("Name")
        c.button("Save name") {
            val n = checkDeviceName(name.text.toString()).getOrElse { name.error = it.message; return@button }
            work({ device.setDeviceInfo(DeviceInfo(n, device.deviceInfo()?.deviceType ?: DeviceType.MOBILE)) }) { r ->
                r.onSuccess { toast("Saved") }.onFailure { toast(message(it)) }
            }
        }
        val archive = Switch(this).apply { text = "Archive device" }.also { c.addView(it) }
        val policy: TextView = c.label("", 14f)
        c.label("Backup code", bold = true)
        c.label("Write it on paper and keep it safe. With it, this phone's identity can be restored on another phone. Anyone who has it can act as this phone.", 14f)
        val codeText = c.label("", 20f, bold = true)
        c.button("Show backup code") {
            confirm("Show the backup code?", "Make sure no one else can see the screen.", "Show") {
                // No screenshots or app-switcher previews while it is shown.
                window.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
                work({ backupCode(checkNotNull(app.keys.load())) }) { r ->
                    r.onSuccess { codeText.text = backupCodeLines(it).joinToString("\n") }.onFailure { toast(message(it)) }
                }
            }
        }
        c.label("PIN lock", bold = true)
        pinPart = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }.also { c.addView(it) }
        showPinPart()
        c.label("Emergency wipe", bold = true)
        c.label(
            "Erases this phone's projects, observations, photos and identity at once. The backup code restores " +
                "the identity; the team gives its data back at the next exchange.",
            14f,
        )
        c.button("Emergency wipe") { startActivity(Intent(this, WipeActivity::class.java)) }.setTextColor(Color.RED)
        show(c)

        work({ device.deviceInfo()?.name to device.blobPolicy() }) { r ->
            val (current, p) = r.getOrElse { toast(message(it)); return@work }
            name.setText(current.orEmpty())
            archive.isChecked = isArchive(p)
            policy.text = policyText(p)
            archive.setOnCheckedChangeListener { _, on ->
                val next = policyFor(on)
                work({ device.setBlobPolicy(next) }) { res ->
                    res.onSuccess { policy.text = policyText(next) }.onFailure { toast(message(it)); archive.isChecked = !on }
                }
            }
        }
    }

    private lateinit var pinPart: LinearLayout

    /** The PIN lock's part of the screen, as the lock now is. */
    private fun showPinPart() {
        val lock = app.pinLock
        val p = pinPart
        p.removeAllViews()
        if (!lock.enabled) {
            p.label("Off. With a PIN, Mapeo asks for it when it opens and after some time away.", 14f)
            p.button("Set a PIN") {
                pinDialog("Set a PIN", listOf("New PIN", "New PIN again")) { (a, b) ->
                    when {
                        checkNewPin(a).isFailure -> toast(checkNewPin(a).exceptionOrNull()?.message.orEmpty())
                        a != b -> toast("The two PINs are not the same")
                        else -> work({ lock.enable(a).getOrThrow() }) { r ->
                            r.onSuccess { toast("PIN set"); showPinPart() }.onFailure { toast(message(it)) }
                        }
                    }
                }
            }
            return
        }
        p.label("On.", 14f)
        p.button("Ask for the PIN: ${lockAfterText(lock.lockAfterMinutes).lowercase()}") {
            val choices = LOCK_AFTER_MINUTES_CHOICES
            AlertDialog.Builder(this).setTitle("Ask for the PIN")
                .setSingleChoiceItems(choices.map(::lockAfterText).toTypedArray(), choices.indexOf(lock.lockAfterMinutes)) { d, i ->
                    d.dismiss()
                    work({ lock.setLockAfterMinutes(choices[i]).getOrThrow() }) { r ->
                        r.onSuccess { showPinPart() }.onFailure { toast(message(it)) }
                    }
                }
                .setNegativeButton("Cancel", null)
                .show()
        }
        p.button(wipeAfterText(lock.wipeAfter)) {
            val choices: List<Int?> = listOf(null) + WIPE_AFTER_CHOICES
            AlertDialog.Builder(this).setTitle("After wrong PINs")
                .setSingleChoiceItems(choices.map(::wipeAfterText).toTypedArray(), choices.indexOf(lock.wipeAfter)) { d, i ->
                    d.dismiss()
                    val n = choices[i]
                    val save = {
                        work({ lock.setWipeAfter(n).getOrThrow() }) { r ->
                            r.onSuccess { showPinPart() }.onFailure { toast(message(it)) }
                        }
                    }
                    if (n == null) save() else confirm("Erase after $n wrong PINs?", wipeAfterWarning(n), "Turn on") { save() }
                }
                .setNegativeButton("Cancel", null)
                .show()
        }
        if (lock.wipeAfter != null) {
            p.label("Warning: ${lock.wipeAfter} wrong PINs in a row erase everything on this phone.", 14f).setTextColor(Color.RED)
        }
        p.button("Change PIN") {
            pinDialog("Change PIN", listOf("Current PIN", "New PIN", "New PIN again")) { (old, a, b) ->
                if (a != b) {
                    toast("The two new PINs are not the same")
                    return@pinDialog
                }
                work({ lock.change(old, a).getOrThrow() }) { r ->
                    r.onSuccess { checked(it, "PIN changed") }.onFailure { toast(message(it)) }
                }
            }
        }
        p.button("Turn off the PIN lock") {
            pinDialog("Turn off the PIN lock", listOf("Current PIN")) { (old) ->
                work({ lock.disable(old) }) { r ->
                    r.onSuccess { checked(it, "PIN lock turned off") }.onFailure { toast(message(it)) }
                }
            }
        }
    }

    /** After a change that asked the current PIN: a wrong one counts toward the wipe like at the lock. */
    private fun checked(result: UnlockResult, done: String) {
        when (result) {
            UnlockResult.Unlocked -> toast(done)
            UnlockResult.Wiping -> app.lastWipe?.let { if (afterWipe(it)) return }
            else -> toast(unlockText(result))
        }
        showPinPart()
    }

    /** A dialog asking PINs, one field per hint; [ok] gets what was typed, in order. */
    private fun pinDialog(title: String, hints: List<String>, ok: (List<String>) -> Unit) {
        val c = column()
        val fields: List<EditText> = hints.map { c.input(it, InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_VARIATION_PASSWORD) }
        // The PINs typed are not for screenshots.
        window.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
        AlertDialog.Builder(this).setTitle(title).setView(c)
            .setPositiveButton("OK") { _, _ -> ok(fields.map { it.text.toString() }) }
            .setNegativeButton("Cancel", null)
            .show()
    }
}
