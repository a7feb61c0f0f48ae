// The Exchange screen's state and its driver: which devices are nearby, how far each
// exchange has come, and the start/stop/connect actions, over the device's real networking.
// The Android side adds only what needs a phone (multicast lock, foreground service).
package org.mapeo.app.logic

import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.PeerInfo
import uniffi.mapeo_ffi.PeerListener
import uniffi.mapeo_ffi.PeerSyncState
import uniffi.mapeo_ffi.ProjectStatus
import uniffi.mapeo_ffi.SyncListener
import uniffi.mapeo_ffi.TaskHandle

/** One nearby device on the Exchange screen. */
data class DeviceRow(
    val deviceId: String,
    val name: String,
    val connected: Boolean,
    val progress: PeerProgress,
)

/** Everything the Exchange screen shows. */
data class ExchangeViewState(
    val running: Boolean,
    val devices: List<DeviceRow>,
    /** Something to say above the list. */
    val headline: String,
) {
    /** Every connected device with a shared project is done (and there is at least one). */
    val allDone: Boolean
        get() = devices.any { it.progress.stage == ExchangeStage.DONE } &&
            devices.none { it.connected && it.progress.stage != ExchangeStage.DONE && it.progress.stage != ExchangeStage.NO_SHARED_PROJECT }
}

/**
 * Folds peer lists and per-project sync states into [ExchangeViewState]. Thread-safe: the
 * core calls listeners from its own threads.
 */
class ExchangeModel {
    private val lock = Any()
    private var running = false
    private var peers: List<PeerInfo> = emptyList()
    private val sync = mutableMapOf<String, List<PeerSyncState>>()

    fun setRunning(on: Boolean) = synchronized(lock) { running = on }

    fun onPeers(list: List<PeerInfo>) = synchronized(lock) { peers = list }

    fun onSync(projectId: String, states: List<PeerSyncState>) = synchronized(lock) { sync[projectId] = states }

    /** Forgets a project's exchange (no longer exchanged). */
    fun dropProject(projectId: String) = synchronized(lock) { sync.remove(projectId) }

    fun state(): ExchangeViewState = synchronized(lock) {
        val byPeer = sync.values.flatten().groupBy { it.peer }
        val rows = peers.map { p ->
            val mine = byPeer[p.deviceId].orEmpty().filter { it.connected }.map(SyncCounts::of)
            DeviceRow(p.deviceId, p.name, p.connected, peerProgress(p.connected, mine))
        }.sortedWith(compareBy<DeviceRow>({ !it.connected }, { it.name.lowercase() }, { it.deviceId }))
        val connected = rows.count { it.connected }
        val headline = when {
            !running -> "Exchange is off"
            connected == 0 -> "Looking for devices nearby…"
            rows.all { !it.connected || it.progress.stage == ExchangeStage.DONE || it.progress.stage == ExchangeStage.NO_SHARED_PROJECT } &&
                rows.any { it.progress.stage == ExchangeStage.DONE } -> "Up to date with $connected device" + if (connected == 1) "" else "s"
            else -> "Exchanging with $connected device" + if (connected == 1) "" else "s"
        }
        ExchangeViewState(running, rows, headline)
    }
}

/** Where to listen: every interface, a fixed port if free so codes and addresses stay valid. */
const val DEFAULT_LISTEN_ADDRESS = "0.0.0.0:$DEFAULT_PORT"

/**
 * Drives an exchange on [device]: listens, turns data sync on for every joined project,
 * optionally runs discovery, and reports [ExchangeViewState] to [onState] (from the core's
 * threads) until [stop]. Tests pass `discovery = false` and a loopback [listenAddress].
 */
class ExchangeController(
    private val device: Mapeo,
    private val onState: (ExchangeViewState) -> Unit,
) {
    private val model = ExchangeModel()
    private val handles = mutableListOf<TaskHandle>()
    private val projects = mutableListOf<String>()

    /** The state now. */
    fun state(): ExchangeViewState = model.state()

    val running: Boolean get() = synchronized(handles) { handles.isNotEmpty() }

    /**
     * Starts exchanging every joined project. Listens on [listenAddress] (falling back to
     * any free port when that one is taken) and returns the address bound.
     */
    suspend fun start(listenAddress: String = DEFAULT_LISTEN_ADDRESS, discovery: Boolean = true): String {
        stop()
        val bound = try {
            device.startListening(listenAddress)
        } catch (e: MapeoException) {
            device.startListening(listenAddress.substringBeforeLast(':') + ":0")
        }
        // A damaged project syncs again once repaired (Mapeo.repairProject).
        val joined = device.listProjects().filter { it.status != ProjectStatus.LEFT && !it.damaged }.map { it.projectId }
        synchronized(handles) {
            model.setRunning(true)
            handles += device.subscribePeers(object : PeerListener {
                override fun onPeers(peers: List<PeerInfo>) {
                    model.onPeers(peers)
                    publish()
                }
            })
            for (id in joined) {
                device.startSync(id)
                projects += id
                handles += device.subscribeSync(id, object : SyncListener {
                    override fun onSyncState(projectId: String, peers: List<PeerSyncState>) {
                        model.onSync(projectId, peers)
                        publish()
                    }
                })
            }
        }
        if (discovery) device.startDiscovery(uniffi.mapeo_ffi.DiscoveryOptions())
        publish()
        return bound
    }

    /** Connects to what the user typed or scanned; returns the peer's device id. */
    suspend fun connect(target: ConnectTarget): String = when (target) {
        is ConnectTarget.Address -> device.connect(target.hostPort)
        is ConnectTarget.Code -> device.connectByCode(target.code)
    }

    /** Stops exchanging: data sync off, discovery and listening stopped, peers disconnected. */
    suspend fun stop() {
        val (toClose, toStop) = synchronized(handles) {
            val h = handles.toList()
            val p = projects.toList()
            handles.clear()
            projects.clear()
            model.setRunning(false)
            h to p
        }
        if (toClose.isEmpty()) return
        toClose.forEach { it.cancel(); it.close() }
        for (id in toStop) {
            runCatching { device.stopSync(id) }
            model.dropProject(id)
        }
        if (device.discoveryRunning()) device.stopDiscovery()
        device.stopListening()
        device.disconnectAll()
        publish()
    }

    private fun publish() = onState(model.state())
}
