// What every screen shares: views built in code (no layouts, no R class), work off the main
// thread with results back on it, the device and project, and asking for permissions with
// the explanations and decisions from the logic module.
package org.mapeo.app

import android.app.Activity
import android.app.AlertDialog
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Typeface
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.provider.MediaStore
import android.provider.Settings
import android.text.InputType
import android.util.TypedValue
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import android.widget.Toast
import java.io.File
import kotlin.coroutines.cancellation.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.mapeo.app.logic.Feature
import org.mapeo.app.logic.PermissionDecision
import org.mapeo.app.logic.WipeOutcome
import org.mapeo.app.logic.WipeState
import org.mapeo.app.logic.decidePermission
import org.mapeo.app.logic.permissionsFor
import org.mapeo.app.logic.wipeText
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Project

/** Intent extra: the project a screen is about. */
const val EXTRA_PROJECT = "org.mapeo.app.PROJECT"

/** Intent extra: the observation a screen is about. */
const val EXTRA_OBSERVATION = "org.mapeo.app.OBSERVATION"

/** Intent extras: a point placed on the map for a new observation (`manualLocation`). */
const val EXTRA_PLACED_LAT = "org.mapeo.app.PLACED_LAT"
const val EXTRA_PLACED_LON = "org.mapeo.app.PLACED_LON"

/** How long a read from the core's local server (a photo) may take. */
const val LOCAL_HTTP_TIMEOUT_MS = 10_000

/** Intent extra: the track a screen is about. */
const val EXTRA_TRACK = "org.mapeo.app.TRACK"

abstract class Screen : Activity() {
    val app: MapeoApp get() = application as MapeoApp

    /** Work of this screen; cancelled when it is destroyed. */
    val scope = CoroutineScope(SupervisorJob() + MapeoApp.Main)

    /** The open device; screens after the first run only. */
    val device: Mapeo get() = checkNotNull(app.device) { "device not open" }

    /** The project named in the intent. */
    fun project(): Project = device.openProject(checkNotNull(intent.getStringExtra(EXTRA_PROJECT)))

    /** Whether this screen needs the open device (all but the first run and the launcher). */
    open val needsDevice: Boolean = true

    /** The screen's onCreate, once the device is open. */
    abstract fun create(state: Bundle?)

    final override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        if (needsDevice && app.device == null) {
            // The process was restarted on this screen: open the device first.
            startActivity(Intent(this, StartActivity::class.java))
            finish()
            return
        }
        create(savedInstanceState)
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    /** Runs [block] on a background thread, then [done] on the main thread (unless the screen went). */
    fun <T> work(block: suspend () -> T, done: (Result<T>) -> Unit): Job = scope.launch {
        val result = try {
            Result.success(withContext(Dispatchers.IO) { block() })
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            Result.failure(e)
        }
        done(result)
    }

    /** What to tell the user about a failure (the core's messages hold no personal data). */
    fun message(e: Throwable): String = when (e) {
        is MapeoException.WrongDevice -> "A different device answered: check the code"
        is MapeoException.Network -> "Could not reach the device: are you on the same Wi-Fi or hotspot?"
        is MapeoException.NotAllowed -> "Only coordinators can do this"
        is MapeoException.AwaitingOwnEntries -> "This phone's earlier records have not come back yet: exchange with a member first"
        is MapeoException -> e.message ?: "Something went wrong"
        else -> e.message ?: "Something went wrong"
    }

    fun toast(text: String) = Toast.makeText(this, text, Toast.LENGTH_LONG).show()

    /**
     * After a wipe ([MapeoApp.wipe]): complete, the app starts over at its first run with
     * every earlier screen gone; otherwise says which steps failed and returns false.
     */
    fun afterWipe(outcome: WipeOutcome): Boolean {
        if (!outcome.complete) {
            AlertDialog.Builder(this).setMessage(wipeText(WipeState.Failed(outcome.failed))).setPositiveButton("OK", null).show()
            return false
        }
        toast(wipeText(WipeState.Wiped))
        startActivity(Intent(this, FirstRunActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_CLEAR_TASK or Intent.FLAG_ACTIVITY_NEW_TASK))
        finish()
        return true
    }

    /**
     * Asks the camera app for a full-size photo into a new file of [PhotoProvider]; the
     * result comes to onActivityResult with [requestCode]. Returns the file, or null (and
     * says so) when the phone has no camera app.
     */
    fun capturePhoto(requestCode: Int): File? {
        val (file, uri) = PhotoProvider.newPhoto(this)
        val intent = Intent(MediaStore.ACTION_IMAGE_CAPTURE)
            .putExtra(MediaStore.EXTRA_OUTPUT, uri)
            .addFlags(Intent.FLAG_GRANT_WRITE_URI_PERMISSION or Intent.FLAG_GRANT_READ_URI_PERMISSION)
        if (intent.resolveActivity(packageManager) == null) {
            toast("No camera app on this phone")
            return null
        }
        startActivityForResult(intent, requestCode)
        return file
    }

    // ---- views in code ---------------------------------------------------------------------

    fun dp(n: Int): Int = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, n.toFloat(), resources.displayMetrics).toInt()

    fun column(): LinearLayout = LinearLayout(this).apply {
        orientation = LinearLayout.VERTICAL
        setPadding(dp(16), dp(16), dp(16), dp(16))
    }

    fun row(): LinearLayout = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }

    /** Shows [content] scrolling. */
    fun show(content: View) {
        setContentView(ScrollView(this).apply { addView(content) })
    }

    fun ViewGroup.label(text: String, sizeSp: Float = 16f, bold: Boolean = false): TextView = TextView(this@Screen).also {
        it.text = text
        it.setTextSize(TypedValue.COMPLEX_UNIT_SP, sizeSp)
        if (bold) it.setTypeface(it.typeface, Typeface.BOLD)
        it.setPadding(0, dp(4), 0, dp(4))
        addView(it)
    }

    fun ViewGroup.button(text: String, onClick: () -> Unit): Button = Button(this@Screen).also {
        it.text = text
        it.setOnClickListener { onClick() }
        addView(it)
    }

    fun ViewGroup.input(hint: String, type: Int = InputType.TYPE_CLASS_TEXT): EditText = EditText(this@Screen).also {
        it.hint = hint
        it.inputType = type
        addView(it)
    }

    fun confirm(title: String, text: String, yes: String, action: () -> Unit) {
        AlertDialog.Builder(this).setTitle(title).setMessage(text)
            .setPositiveButton(yes) { _, _ -> action() }
            .setNegativeButton("Cancel", null)
            .show()
    }

    /** A picture from [path] no larger than about [maxPx] on its long side (decode off the main thread). */
    fun loadBitmap(path: String, maxPx: Int): Bitmap? {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeFile(path, bounds)
        var sample = 1
        while (maxOf(bounds.outWidth, bounds.outHeight) / (sample * 2) >= maxPx) sample *= 2
        return BitmapFactory.decodeFile(path, BitmapFactory.Options().apply { inSampleSize = sample })
    }

    /**
     * A picture from the core's local server at [url] (a photo: sealed on the phone, decrypted
     * as served) no larger than about [maxPx] on its long side; null if it cannot be had. Blocks:
     * call off the main thread.
     */
    fun loadBitmapFromUrl(url: String, maxPx: Int): Bitmap? {
        val bytes = runCatching {
            val connection = java.net.URL(url).openConnection() as java.net.HttpURLConnection
            connection.connectTimeout = LOCAL_HTTP_TIMEOUT_MS
            connection.readTimeout = LOCAL_HTTP_TIMEOUT_MS
            try {
                if (connection.responseCode != 200) null else connection.inputStream.use { it.readBytes() }
            } finally {
                connection.disconnect()
            }
        }.getOrNull() ?: return null
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeByteArray(bytes, 0, bytes.size, bounds)
        var sample = 1
        while (maxOf(bounds.outWidth, bounds.outHeight) / (sample * 2) >= maxPx) sample *= 2
        return BitmapFactory.decodeByteArray(bytes, 0, bytes.size, BitmapFactory.Options().apply { inSampleSize = sample })
    }

    // ---- permissions -----------------------------------------------------------------------

    private var pendingPermission: ((Boolean) -> Unit)? = null

    /** Calls [then] with true once [feature] may be used (asking, explaining first), else false. */
    fun withPermission(feature: Feature, then: (Boolean) -> Unit) {
        val needed = permissionsFor(feature, Build.VERSION.SDK_INT)
        val granted = needed.filter { checkSelfPermission(it) == PackageManager.PERMISSION_GRANTED }.toSet()
        val prefs = getSharedPreferences("mapeo-permissions", MODE_PRIVATE)
        val asked = prefs.getStringSet("asked", emptySet()).orEmpty()
        when (val d = decidePermission(feature, Build.VERSION.SDK_INT, granted, asked) { shouldShowRequestPermissionRationale(it) }) {
            PermissionDecision.Go -> then(true)
            PermissionDecision.GoWithout -> then(false)
            is PermissionDecision.OpenSettings -> AlertDialog.Builder(this)
                .setMessage(d.explanation + "\n\nAllow it in the app's settings.")
                .setPositiveButton("Open settings") { _, _ ->
                    startActivity(Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", packageName, null)))
                }
                .setNegativeButton("Not now") { _, _ -> then(false) }
                .show()
            is PermissionDecision.Ask -> {
                val ask = {
                    prefs.edit().putStringSet("asked", asked + d.permissions).apply()
                    pendingPermission = then
                    requestPermissions(d.permissions.toTypedArray(), REQUEST_PERMISSIONS)
                }
                if (d.explainFirst) {
                    AlertDialog.Builder(this).setMessage(d.explanation)
                        .setPositiveButton("Continue") { _, _ -> ask() }
                        .setNegativeButton("Not now") { _, _ -> then(false) }
                        .show()
                } else {
                    ask()
                }
            }
        }
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (requestCode != REQUEST_PERMISSIONS) return
        val callback = pendingPermission ?: return
        pendingPermission = null
        val fine = permissions.indexOf(android.Manifest.permission.ACCESS_FINE_LOCATION)
        // Location: fine is what counts (coarse may be granted alone).
        val ok = if (fine >= 0) grantResults.getOrNull(fine) == PackageManager.PERMISSION_GRANTED
        else grantResults.isNotEmpty() && grantResults.all { it == PackageManager.PERMISSION_GRANTED }
        callback(ok)
    }

    companion object {
        const val REQUEST_PERMISSIONS = 1
    }
}
