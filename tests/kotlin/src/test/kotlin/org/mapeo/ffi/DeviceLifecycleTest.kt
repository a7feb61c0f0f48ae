// The device object's life through the generated Kotlin bindings: one open per data folder,
// `shutdown()` (the deterministic close: Kotlin objects already have `close()`, which frees the
// handle), closing one peer's connection, the caller's own peer list after disconnecting, and a
// member who leaves and is invited back over a connection that stayed up.
package org.mapeo.ffi

import java.nio.file.Path
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.Geometry
import uniffi.mapeo_ffi.InviteOutcome
import uniffi.mapeo_ffi.InviteRole
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.Preset
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.ProjectStatus
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.SyncPhase
import uniffi.mapeo_ffi.generateRootKey

private val WAIT = 30.seconds

private suspend fun eventually(what: String, check: () -> Boolean) {
    try {
        withTimeout(WAIT) {
            while (!check()) delay(20.milliseconds)
        }
    } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
        throw AssertionError("timed out waiting for: $what", e)
    }
}

private fun Mapeo.showsConnected(peer: String) = peers().any { it.deviceId == peer && it.connected }

class DeviceLifecycleTest {
    @TempDir
    lateinit var dir: Path

    private fun device(name: String): Mapeo =
        Mapeo.open(dir.resolve(name).toString(), generateRootKey())
            .also { it.setDeviceInfo(DeviceInfo(name, DeviceType.MOBILE)) }

    /** [b] connects to [a] over 127.0.0.1 (port 0), and [a] lists [b] as connected. */
    private suspend fun connect(a: Mapeo, b: Mapeo) {
        val addr = a.listeningOn() ?: a.startListening("127.0.0.1:0")
        assertEquals(a.deviceId(), b.connect(addr))
        eventually("a sees b") { a.showsConnected(b.deviceId()) }
    }

    /** [a] invites [b] as a member and [b] accepts; returns [b]'s project. */
    private suspend fun invite(a: Mapeo, b: Mapeo, projectId: String): Project = coroutineScope {
        val outcome = async { a.invite(projectId, b.deviceId(), InviteRole.MEMBER, null, null) }
        eventually("the invite reaches b") { b.pendingInvites().isNotEmpty() }
        val pb = b.acceptInvite(b.pendingInvites().first().inviteId)
        assertEquals(InviteOutcome.ACCEPTED, outcome.await())
        pb
    }

    @Test
    fun `a folder opens once and a shut down device frees it and refuses calls`() = runBlocking {
        val key = generateRootKey()
        val folder = dir.resolve("a").toString()
        val a = Mapeo.open(folder, key)
        val inUse = assertThrows<MapeoException.FolderInUse> { Mapeo.open(folder, key) }
        assertFalse(inUse.reason.contains(dir.toString()), inUse.reason)
        val projectId = a.createProject(ProjectSettings(name = "River watch")).projectId()
        a.startListening("127.0.0.1:0")
        a.shutdown()
        assertTrue(a.isClosed())
        assertNull(a.listeningOn())
        assertThrows<MapeoException.Closed> { a.listProjects() }
        assertThrows<MapeoException.Closed> { a.startListening("127.0.0.1:0") }
        a.shutdown()
        a.close()
        // The folder is free at once, with no garbage collection involved.
        Mapeo.open(folder, key).use { again ->
            assertEquals(listOf(projectId), again.listProjects().map { it.projectId })
            again.shutdown()
        }
    }

    @Test
    fun `one peer is disconnected and the caller's own list shows it`() = runBlocking {
        val (a, b, c) = listOf("a", "b", "c").map { device(it) }
        connect(a, b)
        connect(a, c)
        assertTrue(a.disconnectPeer(b.deviceId()))
        assertFalse(a.showsConnected(b.deviceId()))
        assertTrue(a.showsConnected(c.deviceId()))
        assertFalse(a.disconnectPeer(b.deviceId()))
        eventually("b sees a gone") { !b.showsConnected(a.deviceId()) }
        a.disconnectAll()
        assertTrue(a.peers().none { it.connected })
        connect(a, c)
        c.pause()
        assertTrue(c.peers().none { it.connected })
        listOf(a, b, c).forEach { it.shutdown(); it.close() }
    }

    @Test
    fun `a member who leaves and is invited back without reconnecting gets everything`() = runBlocking {
        val (a, b) = listOf("a", "b").map { device(it) }
        val pa = a.createProject(ProjectSettings(name = "River watch"))
        val id = pa.projectId()
        pa.createPreset(Preset(name = "Mining", geometry = listOf(Geometry.POINT)))
        pa.createObservation(Observation(lat = -3.4653, lon = -62.2159))
        a.startSync(id)
        connect(a, b)
        var pb = invite(a, b, id)
        b.startSync(id)
        eventually("b has a's observation") { pb.listObservations(Query()).size == 1 }
        b.leaveProject(id)
        eventually("a learns b left") { pa.members(false).none { it.deviceId == b.deviceId() } }
        pb = invite(a, b, id)
        assertEquals(ProjectStatus.JOINED, b.projectStatus(id))
        assertEquals("River watch", pb.settings().name)
        assertEquals(listOf("Mining"), pb.listPresets(Query()).map { it.value.name })
        b.startSync(id)
        eventually("a's observation again on b") { pb.listObservations(Query()).size == 1 }
        b.waitForSync(id, SyncPhase.FULL, 30_000uL)
        val state = b.syncState(id).single()
        assertTrue(state.fullySynced && state.dataSyncLocal && state.peerDataSync, state.toString())
        listOf(a, b).forEach { it.shutdown(); it.close() }
    }
}
