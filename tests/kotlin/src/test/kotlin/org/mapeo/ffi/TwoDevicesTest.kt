// Two devices in one JVM, through the generated Kotlin bindings and the host build of the
// native library: a project created on one, joined by the other, synced over 127.0.0.1;
// listeners; typed errors; cancelled coroutines.
package org.mapeo.ffi

import java.nio.file.Path
import java.util.Collections
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.AssignableRole
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.PeerInfo
import uniffi.mapeo_ffi.PeerListener
import uniffi.mapeo_ffi.PeerSyncState
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.Role
import uniffi.mapeo_ffi.RoleListener
import uniffi.mapeo_ffi.SyncListener
import uniffi.mapeo_ffi.SyncPhase
import uniffi.mapeo_ffi.TagPrimitive
import uniffi.mapeo_ffi.TagValue
import uniffi.mapeo_ffi.generateRootKey
import uniffi.mapeo_ffi.runningTasks

/** Longest any wait in these tests may take. */
private val WAIT = 30.seconds

/** Polls [check] until it holds; fails after [WAIT]. */
private suspend fun eventually(what: String, check: () -> Boolean) {
    try {
        withTimeout(WAIT) {
            while (!check()) delay(20.milliseconds)
        }
    } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
        throw AssertionError("timed out waiting for: $what", e)
    }
}

private fun notes(text: String) = Observation(
    lat = -3.4653,
    lon = -62.2159,
    tags = mapOf(
        "notes" to TagValue.Text(text),
        "seen" to TagValue.ListOf(listOf(TagPrimitive.Text("jaguar"), TagPrimitive.Number(2.0))),
    ),
)

/** Every call a listener got, in order; the listener may be called from any thread. */
private class Recorder<T> {
    val calls: MutableList<T> = Collections.synchronizedList(mutableListOf())
    fun snapshot(): List<T> = synchronized(calls) { calls.toList() }
}

class TwoDevicesTest {
    @TempDir
    lateinit var dirA: Path

    @TempDir
    lateinit var dirB: Path

    private lateinit var a: Mapeo
    private lateinit var b: Mapeo

    @BeforeEach
    fun open() {
        a = Mapeo.open(dirA.resolve("a").toString(), generateRootKey())
        b = Mapeo.open(dirB.resolve("b").toString(), generateRootKey())
        a.setDeviceInfo(DeviceInfo("Ana", DeviceType.MOBILE))
        b.setDeviceInfo(DeviceInfo("Bo", DeviceType.TABLET))
    }

    @AfterEach
    fun close() {
        a.close()
        b.close()
    }

    /** [a] creates a project; [b] joins from its join details and is made a member. */
    private fun joinedProjects(): Pair<Project, Project> {
        val pa = a.createProject(ProjectSettings(name = "River watch"))
        val pb = b.joinProject(a.joinDetails(pa.projectId()))
        pa.assignRole(b.deviceId(), AssignableRole.MEMBER)
        a.startSync(pa.projectId())
        b.startSync(pa.projectId())
        return pa to pb
    }

    @Test
    fun `an observation created on one device appears on the other`() = runBlocking {
        val (pa, pb) = joinedProjects()
        val states = Recorder<List<PeerSyncState>>()
        val syncHandle = b.subscribeSync(pa.projectId(), object : SyncListener {
            override fun onSyncState(projectId: String, peers: List<PeerSyncState>) {
                states.calls.add(peers)
            }
        })
        eventually("the current sync state first") { states.snapshot().isNotEmpty() }
        assertEquals(emptyList<PeerSyncState>(), states.snapshot().first())

        val address = a.startListening("127.0.0.1:0")
        assertEquals(a.deviceId(), b.connect(address))
        val created = pa.createObservation(notes("oil on the water"))
        // The writer waits: only it knows of the new entry until the peer confirms it.
        a.waitForSync(pa.projectId(), SyncPhase.FULL, 10_000uL)

        val got = pb.getObservation(created.meta.docId)
        assertEquals(created, got)
        assertEquals(a.deviceId(), got.meta.createdBy)
        assertEquals(listOf(created), pb.listObservations(Query()))
        assertEquals("River watch", pb.settings().name)
        assertEquals(Role.MEMBER, pb.ownRole())
        eventually("a fully synced state") {
            states.snapshot().lastOrNull()?.singleOrNull()?.fullySynced == true
        }
        assertEquals(a.deviceId(), states.snapshot().last().single().peer)
        syncHandle.close()
    }

    @Test
    fun `listeners get the current value first, then changes, until cancelled`() = runBlocking {
        val (pa, pb) = joinedProjects()
        val peerLists = Recorder<List<PeerInfo>>()
        val peerHandle = b.subscribePeers(object : PeerListener {
            override fun onPeers(peers: List<PeerInfo>) {
                peerLists.calls.add(peers)
            }
        })
        val roles = Recorder<Role>()
        val roleHandle = pb.subscribeOwnRole(object : RoleListener {
            override fun onRole(role: Role) {
                roles.calls.add(role)
            }
        })
        eventually("the current peer list") { peerLists.snapshot().isNotEmpty() }
        assertEquals(emptyList<PeerInfo>(), peerLists.snapshot().first())
        eventually("the current role") { roles.snapshot().isNotEmpty() }
        assertEquals(Role.NO_ROLE, roles.snapshot().first())

        b.connect(a.startListening("127.0.0.1:0"))
        eventually("the connected peer") {
            peerLists.snapshot().lastOrNull()?.singleOrNull()?.let { it.connected && it.name == "Ana" } == true
        }
        eventually("the role from the creator") { roles.snapshot().lastOrNull() == Role.MEMBER }
        pa.assignRole(b.deviceId(), AssignableRole.COORDINATOR)
        eventually("the new role") { roles.snapshot().lastOrNull() == Role.COORDINATOR }
        val calls = peerLists.snapshot()
        assertTrue(calls.zipWithNext().all { (x, y) -> x != y }, "a repeat: $calls")

        peerHandle.cancel()
        roleHandle.close()
        val seen = peerLists.snapshot().size
        b.disconnectAll()
        delay(500.milliseconds)
        assertEquals(seen, peerLists.snapshot().size, "a cancelled listener was called")
    }

    @Test
    fun `a listener that throws does not stop sync or other listeners`() = runBlocking {
        val (pa, pb) = joinedProjects()
        val throwing = b.subscribeSync(pa.projectId(), object : SyncListener {
            override fun onSyncState(projectId: String, peers: List<PeerSyncState>) {
                throw IllegalStateException("the app's listener broke")
            }
        })
        val states = Recorder<List<PeerSyncState>>()
        val working = b.subscribeSync(pa.projectId(), object : SyncListener {
            override fun onSyncState(projectId: String, peers: List<PeerSyncState>) {
                states.calls.add(peers)
            }
        })
        repeat(5) { pa.createObservation(notes("tree $it")) }
        b.connect(a.startListening("127.0.0.1:0"))
        b.waitForSync(pa.projectId(), SyncPhase.FULL, 10_000uL)
        assertEquals(5, pb.listObservations(Query()).size)
        eventually("the working listener saw the sync") {
            states.snapshot().lastOrNull()?.singleOrNull()?.fullySynced == true
        }
        throwing.close()
        working.close()
    }

    @Test
    fun `errors arrive as typed exceptions without personal data`() {
        val project = a.createProject(ProjectSettings())
        val invalid = assertThrows<MapeoException.InvalidInput> {
            project.createObservation(Observation(lat = 123.456, lon = 7.89))
        }
        assertFalse(invalid.reason.contains("123.456"), invalid.reason)
        assertThrows<MapeoException.NotFound> { project.getObservation("0123456789abcdef") }
        assertThrows<MapeoException.InvalidInput> { a.openProject("not hex") }
        assertThrows<MapeoException.NotListening> { a.connectionCode() }
        val wrongKey = assertThrows<MapeoException.WrongRootKey> {
            Mapeo.open(dirA.resolve("a").toString(), generateRootKey())
        }
        assertFalse(wrongKey.reason.contains(dirA.toString()), wrongKey.reason)
        // Exceptions from suspend functions too.
        runBlocking {
            assertThrows<MapeoException.InvalidInput> { a.connect("not an address") }
        }
        // A per-type method given another type's id changes nothing.
        val kept = project.createObservation(notes("kept"))
        assertThrows<MapeoException.NotFound> { project.deletePreset(kept.meta.docId) }
        assertEquals(kept, project.getObservation(kept.meta.docId))
    }

    @Test
    fun `a cancelled coroutine stops its call in the core and nothing leaks`() = runBlocking {
        val (pa, _) = joinedProjects()
        val before = runningTasks()
        // Nobody is connected, so this would wait the whole minute.
        val waiting = launch(Dispatchers.Default) {
            b.waitForSync(pa.projectId(), SyncPhase.FULL, 60_000uL)
        }
        eventually("the call running in the core") { runningTasks().calls > before.calls }
        waiting.cancel()
        waiting.join()
        assertTrue(waiting.isCancelled)
        eventually("the core call ended") { runningTasks().calls == before.calls }

        // Listeners end with their handles.
        val handle = b.subscribePeers(object : PeerListener {
            override fun onPeers(peers: List<PeerInfo>) {}
        })
        eventually("the listener running") { runningTasks().listeners > before.listeners }
        handle.close()
        eventually("the listener ended") { runningTasks().listeners == before.listeners }

        // The device still works after the cancellation.
        val address = a.startListening("127.0.0.1:0")
        assertEquals(a.deviceId(), b.connect(address))
        b.waitForSync(pa.projectId(), SyncPhase.FULL, 10_000uL)
    }

    @Test
    fun `backup codes round trip and typos are errors`() {
        val key = generateRootKey()
        val code = uniffi.mapeo_ffi.backupCode(key)
        assertTrue(key.contentEquals(uniffi.mapeo_ffi.rootKeyFromBackupCode(code.lowercase())))
        assertThrows<MapeoException.InvalidInput> { uniffi.mapeo_ffi.rootKeyFromBackupCode("AAAA") }
    }
}
