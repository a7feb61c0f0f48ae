// The launcher: opens the device with the stored root key, or sends to the first run.
package org.mapeo.app

import android.content.Intent
import android.os.Bundle

class StartActivity : Screen() {
    override val needsDevice = false

    override fun create(state: Bundle?) {
        show(column().apply { label("Opening…") })
        if (!app.keys.hasKey()) {
            startActivity(Intent(this, FirstRunActivity::class.java))
            finish()
            return
        }
        work({ app.openDevice(checkNotNull(app.keys.load())) }) { r ->
            r.onSuccess {
                startActivity(Intent(this, ProjectsActivity::class.java))
                finish()
            }.onFailure { e ->
                show(column().apply {
                    label("Mapeo could not open this phone's data: ${message(e)}", bold = true)
                    label("If the phone's secure storage was reset, restore with your backup code.")
                    button("Restore from backup code") {
                        startActivity(Intent(this@StartActivity, FirstRunActivity::class.java))
                    }
                })
            }
        }
    }
}
