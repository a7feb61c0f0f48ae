// The application: loads the native library, opens the device with the root key from the
// keystore, pauses networking when no screen is visible and no exchange runs, holds the PIN
// lock (shown over any screen while locked), and runs the emergency wipe.
package org.mapeo.app

import android.app.Activity
import android.app.Application
import android.content.Intent
import android.content.SharedPreferences
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.os.SystemClock
import android.util.Log
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executor
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.mapeo.app.logic.DeviceMapLibrary
import org.mapeo.app.logic.DeviceMapShares
import org.mapeo.app.logic.DeviceWipe
import org.mapeo.app.logic.ExchangeController
import org.mapeo.app.logic.ExchangeViewState
import org.mapeo.app.logic.LocalMapServer
import org.mapeo.app.logic.LockGate
import org.mapeo.app.logic.LockStore
import org.mapeo.app.logic.MapLibrary
import org.mapeo.app.logic.MapServer
import org.mapeo.app.logic.MapShares
import org.mapeo.app.logic.NetworkAction
import org.mapeo.app.logic.NetworkLifecycle
import org.mapeo.app.logic.PinLock
import org.mapeo.app.logic.WipeGesture
import org.mapeo.app.logic.WipeOutcome
import org.mapeo.app.logic.preferenceNames
import org.mapeo.app.logic.wipeAppFolders
import org.maplibre.android.MapLibre
import org.maplibre.android.offline.OfflineManager
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

    @Volatile
    private var lock: PinLock? = null

    /** The PIN lock (off until a PIN is set); a fresh one after each complete wipe. */
    val pinLock: PinLock get() = checkNotNull(lock)

    private val lockGate = LockGate { lock }

    /**
     * The wipe screen's gesture: here so a rotation or leaving the screen keeps where it is
     * (a wipe under way goes on without its screen).
     */
    val wipeGesture = WipeGesture()

    /** The wipe started from the wipe screen while it runs (main thread only). */
    private var wiping: Deferred<WipeOutcome>? = null

    /** The last wipe's outcome, also the one the PIN lock started. */
    @Volatile
    var lastWipe: WipeOutcome? = null
        private set

    /** The device the wipe let go of, kept until a wipe completes so a retry wipes the same one. */
    private var wipedDevice: Mapeo? = null
    private val wipeLock = Any()

    override fun onCreate() {
        super.onCreate()
        // Runs JNI_OnLoad: the core's logs go to logcat (tag "mapeo"). JNA loads the same
        // library again for the calls themselves.
        System.loadLibrary("mapeo_ffi")
        keys = KeyVault(this)
        lock = newPinLock()
        registerActivityLifecycleCallbacks(object : ActivityLifecycleCallbacks {
            override fun onActivityStarted(activity: Activity) {
                applyAction(lifecycle.screenStarted())
                // elapsedRealtime: the time away counts while the phone sleeps.
                if (lockGate.screenStarted(SystemClock.elapsedRealtime(), activity is LockActivity)) {
                    // Brought to the front if it is already in the task, so one lock screen
                    // stays however many screens start under it.
                    activity.startActivity(Intent(activity, LockActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_REORDER_TO_FRONT))
                }
            }

            override fun onActivityStopped(activity: Activity) {
                applyAction(lifecycle.screenStopped())
                lockGate.screenStopped(SystemClock.elapsedRealtime(), activity.isChangingConfigurations)
            }

            override fun onActivityCreated(activity: Activity, state: Bundle?) {}
            override fun onActivityResumed(activity: Activity) {}
            override fun onActivityPaused(activity: Activity) {}
            override fun onActivitySaveInstanceState(activity: Activity, state: Bundle) {}
            override fun onActivityDestroyed(activity: Activity) {}
        })
    }

    /** Where the core keeps this device's data (never backed up: the backup code is the backup). */
    val mapeoDir: File get() = File(noBackupFilesDir, "mapeo")

    /**
     * Opens the device with [rootKey] (blocking: call off the main thread). Waits for a wipe
     * under way, and refuses once a wipe erased the key or did not finish: opening with a key
     * read before the wipe would bring the erased identity back into the emptied folder, and
     * a wipe cut short still holds the folder until it is erased again.
     */
    fun openDevice(rootKey: ByteArray): Mapeo {
        synchronized(wipeLock) {
            device?.let { return it }
            check(wipedDevice == null) { "this phone's erasing did not finish: erase it again from Settings" }
            check(keys.load()?.contentEquals(rootKey) == true) { "this phone was erased" }
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
    }

    private fun newPinLock() = PinLock(PrefsLockStore(getSharedPreferences(LOCK_PREFS, MODE_PRIVATE)), onWipe = { wipe() })

    /** The wipe screen's last wipe (finished or not), for a recreated screen to wait for. */
    val wipeUnderWay: Deferred<WipeOutcome>? get() = wiping

    /**
     * The emergency wipe from the wipe screen: started once, in the app's scope so it finishes
     * without its screen; a second call while it runs returns the same one. Main thread.
     */
    fun startWipe(): Deferred<WipeOutcome> =
        wiping?.takeIf { it.isActive } ?: scope.async(Dispatchers.IO) { wipe() }.also { wiping = it }

    /**
     * Lets go of the device and runs the wipe's steps (logic's `DeviceWipe`); blocking, off the
     * main thread. The PIN lock calls it on its own thread when the wrong attempts reach the
     * limit. Complete, the app is at its first run with a fresh PIN lock (off).
     */
    fun wipe(): WipeOutcome = synchronized(wipeLock) {
        val released = letGoOfDevice()
        val outcome = runBlocking {
            DeviceWipe(
                // Not open (the lock asked before the device opened): open it to wipe it.
                device = { released ?: keys.load()?.let { key -> Mapeo.open(mapeoDir.path, key).also { wipedDevice = it } } },
                dataDir = mapeoDir,
                keys = keys,
                appFiles = wipeAppFolders(cacheDir),
                // MapLibre's cache is the app's too: it keeps the tiles the map screen showed,
                // a picture of the territory, outside the core's folder.
                forgetSettings = {
                    val mapCache = runCatching { clearMapCache() }
                    forgetSettings()
                    mapCache.getOrThrow()
                },
            ).run()
        }
        if (outcome.complete) {
            wipedDevice = null
            lock = newPinLock()
        }
        lastWipe = outcome
        outcome
    }

    /**
     * Stops everything that writes through the device (a patrol recording, an exchange) and
     * forgets it and the seams over it, so nothing reaches it while the wipe closes it.
     */
    private fun letGoOfDevice(): Mapeo? {
        stopService(Intent(this, PatrolService::class.java))
        stopService(Intent(this, ExchangeService::class.java))
        val ex = exchange
        exchange = null
        mapServer = null
        mapLibrary = null
        mapShares = null
        device?.let { wipedDevice = it }
        device = null
        if (ex != null) {
            runBlocking { runCatching { ex.stop() }.onFailure { Log.w(TAG, "exchange stop before the wipe failed", it) } }
            mainHandler.post { exchangeRunning(false) }
        }
        return wipedDevice
    }

    /** Empties and deletes every settings file of the app (the PIN lock's, the patrol's, the keys'). */
    private fun forgetSettings() {
        for (name in preferenceNames(File(applicationInfo.dataDir, "shared_prefs").list())) {
            check(getSharedPreferences(name, MODE_PRIVATE).edit().clear().commit()) { "could not clear settings" }
            deleteSharedPreferences(name)
        }
    }

    /**
     * Resets MapLibre's database (its ambient cache of tiles and styles, in the app's files, not
     * its caches). Blocking, off the main thread: MapLibre answers on the main thread, waited for
     * at most [MAP_CACHE_WAIT_SECONDS]. Throws if it failed or did not answer in time.
     */
    private fun clearMapCache() {
        val answered = CountDownLatch(1)
        val failure = AtomicReference<String?>(null)
        mainHandler.post {
            runCatching {
                MapLibre.getInstance(this)
                OfflineManager.getInstance(this).resetDatabase(object : OfflineManager.FileSourceCallback {
                    override fun onSuccess() = answered.countDown()

                    override fun onError(message: String) {
                        failure.set(message)
                        answered.countDown()
                    }
                })
            }.onFailure {
                failure.set(it.message ?: it.javaClass.simpleName)
                answered.countDown()
            }
        }
        check(answered.await(MAP_CACHE_WAIT_SECONDS, TimeUnit.SECONDS)) { "the map cache was not cleared in time" }
        failure.get()?.let { throw IllegalStateException("the map cache was not cleared: $it") }
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
        private const val LOCK_PREFS = "mapeo-lock"

        /** How long the wipe waits for MapLibre to reset its database. */
        private const val MAP_CACHE_WAIT_SECONDS = 10L
        val mainHandler = Handler(Looper.getMainLooper())

        /** The main thread as a coroutine dispatcher, without kotlinx-coroutines-android. */
        val Main: CoroutineDispatcher = Executor { mainHandler.post(it) }.asCoroutineDispatcher()
    }
}

/** The PIN lock's storage: committed (on disk) before [put] returns, as the attempt counter needs. */
private class PrefsLockStore(private val prefs: SharedPreferences) : LockStore {
    override fun get(key: String): String? = prefs.getString(key, null)

    override fun put(changes: Map<String, String?>) {
        val edit = prefs.edit()
        changes.forEach { (k, v) -> if (v == null) edit.remove(k) else edit.putString(k, v) }
        check(edit.commit()) { "could not save the lock's settings" }
    }
}
