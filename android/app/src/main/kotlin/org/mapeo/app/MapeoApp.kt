// The application: loads the native library, opens the device with the root key from the
// keystore, and pauses networking when no screen is visible and no exchange runs.
package org.mapeo.app

import android.app.Activity
import android.app.Application
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.util.Log
import java.io.File
import java.util.concurrent.Executor
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import org.mapeo.app.logic.DeviceMapLibrary
import org.mapeo.app.logic.DeviceMapShares
import org.mapeo.app.logic.ExchangeController
import org.mapeo.app.logic.ExchangeViewState
import org.mapeo.app.logic.LocalMapServer
import org.mapeo.app.logic.MapLibrary
import org.mapeo.app.logic.MapServer
import org.mapeo.app.logic.MapShares
import org.mapeo.app.logic.NetworkAction
import org.mapeo.app.logic.NetworkLifecycle
import uniffi.mapeo_ffi.Mapeo

class MapeoApp : Application() {
    /** Work that outlives a screen (pause/resume, the exchange). */
    val scope = CoroutineScope(SupervisorJob() + Main)
    lateinit var keys: KeyVault
        private set

    /** The device, once the root key exists (after the first run). */
    @Volatile
    var device: Mapeo? = null
        private set

    /** The exchange, shared by the Exchange screen and the foreground service. */
    @Volatile
    var exchange: ExchangeController? = null
        private set

    /**
     * The local map/media server, the device's maps and map sharing, over the bindings
     * (DeviceMaps.kt): null until the device is open.
     */
    @Volatile
    var mapServer: MapServer? = null
        private set

    @Volatile
    var mapLibrary: MapLibrary? = null
        private set

    @Volatile
    var mapShares: MapShares? = null
        private set

    private val stateListeners = mutableSetOf<(ExchangeViewState) -> Unit>()
    private val lifecycle = NetworkLifecycle()

    override fun onCreate() {
        super.onCreate()
        // Runs JNI_OnLoad: the core's logs go to logcat (tag "mapeo"). JNA loads the same
        // library again for the calls themselves.
        System.loadLibrary("mapeo_ffi")
        keys = KeyVault(this)
        registerActivityLifecycleCallbacks(object : ActivityLifecycleCallbacks {
            override fun onActivityStarted(activity: Activity) = applyAction(lifecycle.screenStarted())
            override fun onActivityStopped(activity: Activity) = applyAction(lifecycle.screenStopped())
            override fun onActivityCreated(activity: Activity, state: Bundle?) {}
            override fun onActivityResumed(activity: Activity) {}
            override fun onActivityPaused(activity: Activity) {}
            override fun onActivitySaveInstanceState(activity: Activity, state: Bundle) {}
            override fun onActivityDestroyed(activity: Activity) {}
        })
    }

    /** Where the core keeps this device's data (never backed up: the backup code is the backup). */
    val mapeoDir: File get() = File(noBackupFilesDir, "mapeo")

    /** Opens the device with [rootKey] (blocking: call off the main thread). */
    fun openDevice(rootKey: ByteArray): Mapeo {
        device?.let { return it }
        val d = Mapeo.open(mapeoDir.path, rootKey)
        mapServer = LocalMapServer(d)
        mapLibrary = DeviceMapLibrary(d)
        mapShares = DeviceMapShares(d)
        device = d
        exchange = ExchangeController(d) { state ->
            val listeners = synchronized(stateListeners) { stateListeners.toList() }
            listeners.forEach { l -> mainHandler.post { l(state) } }
        }
        return d
    }

    /** Calls [listener] on the main thread with each exchange state until removed. */
    fun addExchangeListener(listener: (ExchangeViewState) -> Unit) {
        synchronized(stateListeners) { stateListeners += listener }
        exchange?.state()?.let(listener)
    }

    fun removeExchangeListener(listener: (ExchangeViewState) -> Unit) {
        synchronized(stateListeners) { stateListeners -= listener }
    }

    /** The exchange service started or stopped. */
    fun exchangeRunning(running: Boolean) = applyAction(if (running) lifecycle.exchangeStarted() else lifecycle.exchangeStopped())

    private fun applyAction(action: NetworkAction) {
        val d = device ?: return
        when (action) {
            NetworkAction.PAUSE -> scope.launch(Dispatchers.IO) { runCatching { d.pause() }.onFailure { Log.w(TAG, "pause failed", it) } }
            NetworkAction.RESUME -> scope.launch(Dispatchers.IO) { runCatching { d.resume() }.onFailure { Log.w(TAG, "resume failed", it) } }
            NetworkAction.NONE -> {}
        }
    }

    companion object {
        const val TAG = "mapeo-app"
        val mainHandler = Handler(Looper.getMainLooper())

        /** The main thread as a coroutine dispatcher, without kotlinx-coroutines-android. */
        val Main: CoroutineDispatcher = Executor { mainHandler.post(it) }.asCoroutineDispatcher()
    }
}
