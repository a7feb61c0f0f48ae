// The exchange while it runs: a foreground service (so Android does not kill a sync when the
// screen goes off), a multicast lock while discovering (Wi-Fi drivers drop mDNS without it),
// and the notification with the progress.
package org.mapeo.app

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.Service
import android.content.Context
import android.content.Intent
import android.content.pm.ServiceInfo
import android.net.wifi.WifiManager
import android.os.Build
import android.os.IBinder
import android.util.Log
import kotlinx.coroutines.launch
import org.mapeo.app.logic.ExchangeViewState

class ExchangeService : Service() {
    private val app: MapeoApp get() = application as MapeoApp
    private var multicast: WifiManager.MulticastLock? = null
    private val listener: (ExchangeViewState) -> Unit = { state -> notify(state.headline) }

    override fun onBind(intent: Intent?): IBinder? = null

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        if (intent?.action == ACTION_STOP) {
            stopExchange()
            return START_NOT_STICKY
        }
        val notification = notification("Starting the exchange…")
        if (Build.VERSION.SDK_INT >= 29) {
            startForeground(NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_CONNECTED_DEVICE)
        } else {
            startForeground(NOTIFICATION_ID, notification)
        }
        val exchange = app.exchange ?: run { stopSelf(); return START_NOT_STICKY }
        if (exchange.running) return START_NOT_STICKY
        val discovery = intent?.getBooleanExtra(EXTRA_DISCOVERY, true) ?: true
        if (discovery) {
            multicast = (applicationContext.getSystemService(Context.WIFI_SERVICE) as WifiManager)
                .createMulticastLock("mapeo-discovery").apply { setReferenceCounted(false); acquire() }
        }
        app.exchangeRunning(true)
        app.addExchangeListener(listener)
        app.scope.launch {
            try {
                exchange.start(discovery = discovery)
            } catch (e: Exception) {
                Log.w(MapeoApp.TAG, "exchange did not start", e)
                notify("The exchange could not start")
                stopExchange()
            }
        }
        return START_NOT_STICKY
    }

    private fun stopExchange() {
        app.removeExchangeListener(listener)
        app.scope.launch {
            runCatching { app.exchange?.stop() }.onFailure { Log.w(MapeoApp.TAG, "exchange stop failed", it) }
            multicast?.takeIf { it.isHeld }?.release()
            multicast = null
            app.exchangeRunning(false)
            stopForeground(STOP_FOREGROUND_REMOVE)
            stopSelf()
        }
    }

    override fun onDestroy() {
        multicast?.takeIf { it.isHeld }?.release()
        super.onDestroy()
    }

    private fun notify(text: String) {
        getSystemService(NotificationManager::class.java).notify(NOTIFICATION_ID, notification(text))
    }

    private fun notification(text: String): Notification {
        val nm = getSystemService(NotificationManager::class.java)
        if (nm.getNotificationChannel(CHANNEL) == null) {
            nm.createNotificationChannel(NotificationChannel(CHANNEL, "Exchange", NotificationManager.IMPORTANCE_LOW))
        }
        val open = PendingIntent.getActivity(
            this, 0, Intent(this, ExchangeActivity::class.java), PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
        val stop = PendingIntent.getService(
            this, 1, Intent(this, ExchangeService::class.java).setAction(ACTION_STOP), PendingIntent.FLAG_IMMUTABLE,
        )
        return Notification.Builder(this, CHANNEL)
            .setSmallIcon(android.R.drawable.stat_sys_upload)
            .setContentTitle("Mapeo exchange")
            .setContentText(text)
            .setOngoing(true)
            .setContentIntent(open)
            .addAction(Notification.Action.Builder(null, "Stop", stop).build())
            .build()
    }

    companion object {
        private const val CHANNEL = "exchange"
        private const val NOTIFICATION_ID = 1
        private const val ACTION_STOP = "org.mapeo.app.STOP_EXCHANGE"
        private const val EXTRA_DISCOVERY = "discovery"

        fun start(context: Context, discovery: Boolean) {
            context.startForegroundService(Intent(context, ExchangeService::class.java).putExtra(EXTRA_DISCOVERY, discovery))
        }

        fun stop(context: Context) {
            context.startService(Intent(context, ExchangeService::class.java).setAction(ACTION_STOP))
        }
    }
}
