// Exchange: start/stop, the devices nearby with each one's progress to a truthful "done",
// connecting by address or connection code (typed, or scanned from the other screen's QR
// code with the camera), showing this phone's own code, and each project's sync by file
// (SyncFileActivity).
package org.mapeo.app

import android.content.Intent
import android.graphics.Bitmap
import android.os.Bundle
import android.text.InputType
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.TextView
import java.io.File
import java.net.Inet4Address
import java.net.NetworkInterface
import org.mapeo.app.logic.ExchangeStage
import org.mapeo.app.logic.ExchangeViewState
import org.mapeo.app.logic.Feature
import org.mapeo.app.logic.decodeQr
import org.mapeo.app.logic.parseConnectTarget
import org.mapeo.app.logic.qrMatrix
import org.mapeo.app.logic.qrPayload
import org.mapeo.app.logic.qrPixels
import uniffi.mapeo_ffi.ProjectStatus

/** Pixels per QR module on screen. */
private const val QR_SCALE = 8

/** Long side a scanned photo is decoded at (enough for a QR code filling part of it). */
private const val SCAN_PX = 1600

private const val REQUEST_SCAN = 3

class ExchangeActivity : Screen() {
    private lateinit var headline: TextView
    private lateinit var toggle: android.widget.Button
    private lateinit var devices: LinearLayout
    private lateinit var codeBox: LinearLayout
    private var scanFile: File? = null
    private val listener: (ExchangeViewState) -> Unit = { render(it) }

    override fun create(state: Bundle?) {
        val c = column()
        c.label("Exchange", 22f, bold = true)
        c.label("Phones of your projects on the same Wi-Fi or hotspot find each other. Keep this open, or the notification, until every device says Done.", 14f)
        headline = c.label("", 18f, bold = true)
        toggle = c.button("Start") { toggleExchange() }
        devices = column().also { it.setPadding(0, 0, 0, 0); c.addView(it) }
        c.label("Connect directly", 18f, bold = true)
        c.label("If the other device does not appear: type its address or code, or scan its code.", 14f)
        val target = c.input("192.168.43.1:47380 or MP1…", InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_NO_SUGGESTIONS)
        val buttons = row().also { c.addView(it) }
        buttons.button("Connect") { connect(target.text.toString()) { target.error = it } }
        buttons.button("Scan code") { withPermission(Feature.CAMERA) { ok -> if (ok) scan() } }
        buttons.button("Show my code") { showCode() }
        codeBox = column().also { it.setPadding(0, 0, 0, 0); c.addView(it) }
        c.label("Sync by file", 18f, bold = true)
        c.label("No way to meet? Save a project to a memory card or share it as a file, and open it on the other device.", 14f)
        val fileProjects = column().also { c.addView(it) }
        work({ device.listProjects().filter { it.status == ProjectStatus.JOINED && !it.damaged } }) { r ->
            r.onSuccess { projects ->
                for (p in projects) {
                    fileProjects.button(p.settings.name ?: "Unnamed project") {
                        startActivity(Intent(this, SyncFileActivity::class.java).putExtra(EXTRA_PROJECT, p.projectId))
                    }
                }
            }.onFailure { fileProjects.label(message(it), 14f) }
        }
        show(c)
    }

    override fun onStart() {
        super.onStart()
        if (isFinishing) return
        app.addExchangeListener(listener)
    }

    override fun onStop() {
        app.removeExchangeListener(listener)
        super.onStop()
    }

    private fun toggleExchange() {
        if (app.exchange?.running == true) {
            ExchangeService.stop(this)
            return
        }
        withPermission(Feature.NEARBY_DEVICES) { ok ->
            if (!ok) {
                toast("Without nearby devices, connect by address or code instead")
            }
            // The notification is optional: the exchange runs either way.
            withPermission(Feature.NOTIFICATIONS) { ExchangeService.start(this, discovery = ok) }
        }
    }

    private fun render(s: ExchangeViewState) {
        if (isDestroyed) return
        headline.text = s.headline
        toggle.text = if (s.running) "Stop" else "Start"
        devices.removeAllViews()
        for (d in s.devices) {
            devices.label(d.name, bold = true)
            val p = d.progress
            val percent = p.percent
            if (percent != null && p.stage != ExchangeStage.NOT_CONNECTED) {
                devices.addView(ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal).apply {
                    max = 100
                    progress = percent
                })
            }
            devices.label(p.text, 14f)
        }
    }

    private fun connect(text: String, onError: (String) -> Unit) {
        val target = parseConnectTarget(text).getOrElse { onError(it.message ?: "Not an address or code"); return }
        val exchange = app.exchange ?: return
        if (!exchange.running) {
            ExchangeService.start(this, discovery = false)
        }
        toast("Connecting…")
        work({
            // The service starts listening first; give it a moment if it has just been asked.
            var waited = 0
            while (!exchange.running && waited < 50) { kotlinx.coroutines.delay(100); waited++ }
            exchange.connect(target)
        }) { r -> r.onSuccess { toast("Connected") }.onFailure { toast(message(it)) } }
    }

    // ---- codes -----------------------------------------------------------------------------

    private fun showCode() {
        work({
            val addresses = NetworkInterface.getNetworkInterfaces().toList()
                .filter { it.isUp && !it.isLoopback }
                .flatMap { it.inetAddresses.toList() }
                .filterIsInstance<Inet4Address>()
                .map { it.hostAddress.orEmpty() }
                .filter { it.isNotEmpty() }
            if (addresses.isEmpty()) error("This phone is on no Wi-Fi or hotspot")
            val code = device.connectionCodeFor(addresses.take(4))
            val m = qrMatrix(qrPayload(code))
            val side = m.size * QR_SCALE
            code to Bitmap.createBitmap(qrPixels(m, QR_SCALE), side, side, Bitmap.Config.ARGB_8888)
        }) { r ->
            codeBox.removeAllViews()
            r.onSuccess { (code, bitmap) ->
                codeBox.addView(ImageView(this).apply { setImageBitmap(bitmap); adjustViewBounds = true })
                codeBox.label(code, 18f, bold = true).setTextIsSelectable(true)
                codeBox.label("Start the exchange here, then scan or type this on the other device.", 14f)
            }.onFailure {
                codeBox.label(if (it is uniffi.mapeo_ffi.MapeoException.NotListening) "Start the exchange first" else message(it))
            }
        }
    }

    private fun scan() {
        scanFile = capturePhoto(REQUEST_SCAN)
    }

    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        if (requestCode != REQUEST_SCAN) return
        val file = scanFile ?: return
        scanFile = null
        if (resultCode != RESULT_OK) {
            file.delete()
            return
        }
        work({
            val bitmap = loadBitmap(file.path, SCAN_PX) ?: error("The photo could not be read")
            val pixels = IntArray(bitmap.width * bitmap.height)
            bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
            file.delete()
            decodeQr(pixels, bitmap.width, bitmap.height) ?: error("No code found: hold the phone closer, with the whole code in view")
        }) { r -> r.onSuccess { connect(it) { e -> toast(e) } }.onFailure { toast(message(it)) } }
    }
}
