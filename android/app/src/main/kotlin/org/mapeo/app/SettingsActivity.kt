// Settings: this phone's name, whether it keeps the archive (every photo at full size, audio
// and video: the blob policy), and its backup code.
package org.mapeo.app

import android.os.Bundle
import android.view.WindowManager
import android.widget.Switch
import android.widget.TextView
import org.mapeo.app.logic.backupCodeLines
import org.mapeo.app.logic.checkDeviceName
import org.mapeo.app.logic.isArchive
import org.mapeo.app.logic.policyFor
import org.mapeo.app.logic.policyText
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
}
