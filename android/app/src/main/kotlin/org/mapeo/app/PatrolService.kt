// Recording a patrol: a foreground service of type `location` (so recording goes on with the
// screen off and the app in the background), GPS readings handed to the core (which filters
// them and writes each kept point to disk before returning), and a notification with the
// elapsed time and distance. Sticky: if Android kills the process, the service comes back and
// resumes the patrol from disk.
package org.mapeo.app

import android.Manifest
import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.Service
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.content.pm.ServiceInfo
import android.location.Location
import android.location.LocationListener
import android.location.LocationManager
import android.os.Build
import android.os.Bundle
import android.os.IBinder
import android.util.Log
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.mapeo.app.logic.LocationFix
import org.mapeo.app.logic.PATROL_GPS_INTERVAL_MS
import org.mapeo.app.logic.PATROL_GPS_MIN_METRES
import org.mapeo.app.logic.PATROL_NOTIFICATION_INTERVAL_MS
import org.mapeo.app.logic.PatrolSession
import org.mapeo.app.logic.patrolNotificationText
import uniffi.mapeo_ffi.MapeoException

class PatrolService : Service() {
    private val app: MapeoApp get() = application as MapeoApp

    /** One thread for the core's calls: each kept point is a synced disk write. */
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private var session: PatrolSession? = null
    private var projectId: String? = null

    private val tick = object : Runnable {
        override fun run() {
            refreshNotification()
            MapeoApp.mainHandler.postDelayed(this, PATROL_NOTIFICATION_INTERVAL_MS)
        }
    }

    /** All four methods: before Android 11 the others are abstract. */
    private val gps = object : LocationListener {
        override fun onLocationChanged(location: Location) = record(location)
        override fun onProviderEnabled(provider: String) {}
        override fun onProviderDisabled(provider: String) {}

        @Deprecated("Called only before Android 10")
        override fun onStatusChanged(provider: String?, status: Int, extras: Bundle?) {}
    }

    override fun onBind(intent: Intent?): IBinder? = null

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        when (intent?.action) {
            ACTION_SAVE -> { finishPatrol(save = true); return START_NOT_STICKY }
            ACTION_DISCARD -> { finishPatrol(save = false); return START_NOT_STICKY }
        }
        val notification = notification("Starting…")
        if (Build.VERSION.SDK_INT >= 29) {
            startForeground(NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_LOCATION)
        } else {
            startForeground(NOTIFICATION_ID, notification)
        }
        if (session != null) return START_STICKY
        // A restart after the process was killed comes without an intent: the project is
        // remembered, and the core resumes the patrol from its file.
        val prefs = getSharedPreferences(PREFS, MODE_PRIVATE)
        val id = intent?.getStringExtra(EXTRA_PROJECT) ?: prefs.getString(KEY_PROJECT, null)
        if (id == null) {
            stopSelf()
            return START_NOT_STICKY
        }
        prefs.edit().putString(KEY_PROJECT, id).apply()
        projectId = id
        worker.execute {
            try {
                val device = app.device ?: app.openDevice(checkNotNull(app.keys.load()) { "no root key" })
                val s = PatrolSession.resumeOrStart(device.openProject(id))
                MapeoApp.mainHandler.post { started(s) }
            } catch (e: Exception) {
                Log.w(MapeoApp.TAG, "patrol could not start", e)
                MapeoApp.mainHandler.post { stopWith("The patrol could not start") }
            }
        }
        return START_STICKY
    }

    private fun started(s: PatrolSession) {
        session = s
        current = s
        running = true
        if (checkSelfPermission(Manifest.permission.ACCESS_FINE_LOCATION) != PackageManager.PERMISSION_GRANTED) {
            stopWith("Recording a patrol needs location permission")
            return
        }
        val lm = getSystemService(LOCATION_SERVICE) as LocationManager
        if (lm.allProviders.contains(LocationManager.GPS_PROVIDER)) {
            lm.requestLocationUpdates(LocationManager.GPS_PROVIDER, PATROL_GPS_INTERVAL_MS, PATROL_GPS_MIN_METRES, gps, mainLooper)
        }
        MapeoApp.mainHandler.post(tick)
    }

    private fun record(location: Location) {
        val s = session ?: return
        val fix = LocationFix(
            latitude = location.latitude,
            longitude = location.longitude,
            accuracyMeters = if (location.hasAccuracy()) location.accuracy.toDouble() else null,
            altitude = if (location.hasAltitude()) location.altitude else null,
            timeMs = location.time,
            provider = location.provider ?: "gps",
            mocked = if (Build.VERSION.SDK_INT >= 31) location.isMock else isMockBefore31(location),
        )
        worker.execute {
            try {
                s.offer(fix)
            } catch (e: Exception) {
                Log.w(MapeoApp.TAG, "a patrol position was not recorded", e)
            }
        }
    }

    @Suppress("DEPRECATION")
    private fun isMockBefore31(location: Location): Boolean = location.isFromMockProvider

    private fun refreshNotification() {
        val s = session ?: return
        worker.execute {
            val text = runCatching { patrolNotificationText(s.summary(), System.currentTimeMillis()) }.getOrNull() ?: return@execute
            MapeoApp.mainHandler.post {
                getSystemService(NotificationManager::class.java).notify(NOTIFICATION_ID, notification(text))
            }
        }
    }

    private fun finishPatrol(save: Boolean) {
        val s = session
        stopRecording()
        if (s == null) {
            stopWith(null)
            return
        }
        worker.execute {
            val result = try {
                if (save) {
                    s.save(null)
                    "Patrol saved"
                } else {
                    s.discard()
                    "Patrol discarded"
                }
            } catch (e: MapeoException.Patrol) {
                // Too short to be a track (under two points): nothing worth keeping.
                runCatching { s.discard() }
                "Patrol too short to save: discarded"
            } catch (e: Exception) {
                Log.w(MapeoApp.TAG, "patrol could not be saved", e)
                "The patrol could not be saved; it is still on the phone"
            }
            s.close()
            MapeoApp.mainHandler.post { stopWith(result) }
        }
    }

    private fun stopRecording() {
        (getSystemService(LOCATION_SERVICE) as LocationManager).removeUpdates(gps)
        MapeoApp.mainHandler.removeCallbacks(tick)
        session = null
        current = null
        running = false
        getSharedPreferences(PREFS, MODE_PRIVATE).edit().remove(KEY_PROJECT).apply()
    }

    private fun stopWith(message: String?) {
        stopRecording()
        stopForeground(STOP_FOREGROUND_REMOVE)
        if (message != null) {
            getSystemService(NotificationManager::class.java).notify(DONE_NOTIFICATION_ID, doneNotification(message))
        }
        stopSelf()
    }

    override fun onDestroy() {
        (getSystemService(LOCATION_SERVICE) as LocationManager).removeUpdates(gps)
        MapeoApp.mainHandler.removeCallbacks(tick)
        // Stopped from outside (the emergency wipe): the map must not show a patrol running.
        session = null
        current = null
        running = false
        worker.shutdown()
        super.onDestroy()
    }

    private fun channel() {
        val nm = getSystemService(NotificationManager::class.java)
        if (nm.getNotificationChannel(CHANNEL) == null) {
            nm.createNotificationChannel(NotificationChannel(CHANNEL, "Patrol", NotificationManager.IMPORTANCE_LOW))
        }
    }

    private fun openMap(): PendingIntent = PendingIntent.getActivity(
        this, 0,
        Intent(this, MapActivity::class.java).putExtra(EXTRA_PROJECT, projectId).addFlags(Intent.FLAG_ACTIVITY_SINGLE_TOP),
        PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
    )

    private fun notification(text: String): Notification {
        channel()
        val save = PendingIntent.getService(this, 1, Intent(this, PatrolService::class.java).setAction(ACTION_SAVE), PendingIntent.FLAG_IMMUTABLE)
        return Notification.Builder(this, CHANNEL)
            .setSmallIcon(android.R.drawable.ic_menu_mylocation)
            .setContentTitle("Recording a patrol")
            .setContentText(text)
            .setOngoing(true)
            .setOnlyAlertOnce(true)
            .setContentIntent(openMap())
            .addAction(Notification.Action.Builder(null, "Stop and save", save).build())
            .build()
    }

    private fun doneNotification(text: String): Notification {
        channel()
        return Notification.Builder(this, CHANNEL)
            .setSmallIcon(android.R.drawable.ic_menu_mylocation)
            .setContentTitle("Patrol")
            .setContentText(text)
            .setAutoCancel(true)
            .build()
    }

    companion object {
        private const val CHANNEL = "patrol"
        private const val NOTIFICATION_ID = 2
        private const val DONE_NOTIFICATION_ID = 3
        private const val ACTION_SAVE = "org.mapeo.app.SAVE_PATROL"
        private const val ACTION_DISCARD = "org.mapeo.app.DISCARD_PATROL"
        private const val PREFS = "mapeo-patrol"
        private const val KEY_PROJECT = "project"

        /** Whether a patrol is being recorded (for the map's button). */
        @Volatile
        var running: Boolean = false
            private set

        /** The patrol being recorded, for the map to draw its line; null when none. */
        @Volatile
        var current: PatrolSession? = null
            private set

        fun start(context: Context, projectId: String) {
            context.startForegroundService(Intent(context, PatrolService::class.java).putExtra(EXTRA_PROJECT, projectId))
        }

        fun save(context: Context) {
            context.startService(Intent(context, PatrolService::class.java).setAction(ACTION_SAVE))
        }

        fun discard(context: Context) {
            context.startService(Intent(context, PatrolService::class.java).setAction(ACTION_DISCARD))
        }
    }
}
