// First run: name this phone and create its root key (kept with the Android Keystore), or
// restore an identity from its backup code.
package org.mapeo.app

import android.content.Intent
import android.os.Bundle
import android.text.InputType
import org.mapeo.app.logic.checkDeviceName
import org.mapeo.app.logic.restoreFromBackupCode
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.generateRootKey

class FirstRunActivity : Screen() {
    override val needsDevice = false

    override fun create(state: Bundle?) {
        val c = column()
        c.label("Welcome to Mapeo", 22f, bold = true)
        c.label("Give this phone a name. Others in your projects will see it.")
        val name = c.input("Name, e.g. Ana's phone", InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_CAP_WORDS)
        c.label("Restoring a phone? Type the backup code you wrote down (otherwise leave it empty).")
        val code = c.input("Backup code (optional)", InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_CAP_CHARACTERS or InputType.TYPE_TEXT_FLAG_NO_SUGGESTIONS)
        val status = c.label("")
        c.button("Start") {
            val checked = checkDeviceName(name.text.toString())
            val typed = code.text.toString()
            checked.onFailure { name.error = it.message; return@button }
            val key = if (typed.isBlank()) generateRootKey() else restoreFromBackupCode(typed).getOrElse {
                code.error = it.message
                return@button
            }
            status.text = "Setting up…"
            work({
                app.keys.store(key)
                val d = app.openDevice(key)
                d.setDeviceInfo(DeviceInfo(checked.getOrThrow(), DeviceType.MOBILE))
            }) { r ->
                r.onSuccess {
                    startActivity(Intent(this, ProjectsActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_CLEAR_TASK or Intent.FLAG_ACTIVITY_NEW_TASK))
                    finish()
                }.onFailure { status.text = message(it) }
            }
        }
        show(c)
    }
}
