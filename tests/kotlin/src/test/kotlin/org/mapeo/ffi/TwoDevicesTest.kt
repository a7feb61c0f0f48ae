// Two devices in one JVM, through the generated Kotlin bindings and the host build of the
// native library: a project created on one, the other invited over 127.0.0.1 and accepting, an
// observation with a photo synced with its thumbnail; listeners; typed errors; cancelled
// coroutines.
package org.mapeo.ffi

import java.awt.image.BufferedImage
import java.io.File
import java.nio.file.Path
import java.util.Collections
import javax.imageio.ImageIO
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.AssignableRole
import uniffi.mapeo_ffi.AttachmentKind
import uniffi.mapeo_ffi.AttachmentVariant
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.InviteListener
import uniffi.mapeo_ffi.InviteOutcome
import uniffi.mapeo_ffi.InviteRole
import uniffi.mapeo_ffi.InviteState
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.PeerInfo
import uniffi.mapeo_ffi.PeerListener
import uniffi.mapeo_ffi.PeerSyncState
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.ProjectStatus
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.ReceivedInvite
import uniffi.mapeo_ffi.Role
import uniffi.mapeo_ffi.RoleListener
import uniffi.mapeo_ffi.SyncListener
import uniffi.mapeo_ffi.SyncPhase
import uniffi.mapeo_ffi.TagPrimitive
import uniffi.mapeo_ffi.TagValue
import uniffi.mapeo_ffi.generateRootKey
import uniffi.mapeo_ffi.previewsOnlyBlobPolicy
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

/** Records every invite list it is given. */
private class InviteRecorder : InviteListener {
    val rec = Recorder<List<ReceivedInvite>>()
    override fun onInvites(invites: List<ReceivedInvite>) {
        rec.calls.add(invites)
    }
}

/** Writes a real JPEG of [width] x [height] pixels (a gradient) to [file]. */
private fun writeJpeg(file: File, width: Int, height: Int) {
    val image = BufferedImage(width, height, BufferedImage.TYPE_INT_RGB)
    for (y in 0 until height) {
        for (x in 0 until width) {
            image.setRGB(x, y, ((x % 256) shl 16) or ((y % 256) shl 8) or ((x + y) % 256))
        }
    }
    check(ImageIO.write(image, "jpg", file)) { "no JPEG writer in this JVM" }
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
        // `shutdown()` first: `close()` alone frees the handles while the devices' background
        // work may still write in their folders, which JUnit is about to delete.
        runBlocking { listOf(a, b).forEach { it.shutdown() } }
        a.close()
        b.close()
    }

    /**
     * [b] connects to [a] over 127.0.0.1 (port 0: a free one), and [a] lists [b] as connected
     * (as an app offers invites from its peer list: [b]'s connect returns before [a] has the
     * session).
     */
    private suspend fun connect() {
        assertEquals(a.deviceId(), b.connect(a.startListening("127.0.0.1:0")))
        eventually("a sees b connected") { a.peers().any { it.deviceId == b.deviceId() && it.connected } }
    }

    /** The first invite [b] sees pending, once it has arrived. */
    private suspend fun pendingOnB(): ReceivedInvite {
        eventually("the invite reaches b") { b.pendingInvites().isNotEmpty() }
        return b.pendingInvites().first()
    }

    /**
     * [a] creates a project; [b] connects, [a] invites it as a member and [b] accepts. Both
     * sync data.
     */
    private suspend fun joinedProjects(): Pair<Project, Project> = coroutineScope {
        val pa = a.createProject(ProjectSettings(name = "River watch"))
        connect()
        val outcome = async { a.invite(pa.projectId(), b.deviceId(), InviteRole.MEMBER, null, null) }
        val pb = b.acceptInvite(pendingOnB().inviteId)
        assertEquals(InviteOutcome.ACCEPTED, outcome.await())
        a.startSync(pa.projectId())
        b.startSync(pa.projectId())
        pa to pb
    }

    @Test
    fun `an invited device accepts and a photo observation reaches it with its thumbnail`() = runBlocking {
        val pa = a.createProject(ProjectSettings(name = "River watch"))
        val invites = InviteRecorder()
        val inviteHandle = b.subscribeInvites(invites)
        val throwing = b.subscribeInvites(object : InviteListener {
            override fun onInvites(invites: List<ReceivedInvite>) {
                throw IllegalStateException("the app's listener broke")
            }
        })
        eventually("the current (empty) invite list first") { invites.rec.snapshot().isNotEmpty() }
        assertEquals(emptyList<ReceivedInvite>(), invites.rec.snapshot().first())
        assertNull(b.projectStatus(pa.projectId()))
        connect()

        // A invites (suspending until B answers) while B's listener sees the invite.
        val outcome = async { a.invite(pa.projectId(), b.deviceId(), InviteRole.MEMBER, "Monitor", null) }
        eventually("b's listener sees the pending invite") {
            invites.rec.snapshot().lastOrNull()?.singleOrNull()?.state == InviteState.PENDING
        }
        val invite = invites.rec.snapshot().last().single()
        assertEquals(pa.projectId(), invite.projectId)
        assertEquals("River watch", invite.projectName)
        assertEquals("Ana", invite.inviterName)
        assertEquals(a.deviceId(), invite.inviterDeviceId)
        assertEquals(InviteRole.MEMBER, invite.role)
        assertEquals("Monitor", invite.roleName)
        assertEquals(listOf(invite), b.pendingInvites())
        assertEquals(listOf(invite.inviteId), a.sentInvites().map { it.inviteId })
        val pb = b.acceptInvite(invite.inviteId)
        assertEquals(InviteOutcome.ACCEPTED, outcome.await())
        assertEquals(pa.projectId(), pb.projectId())
        assertEquals(ProjectStatus.JOINED, b.projectStatus(pa.projectId()))
        assertEquals(emptyList<ReceivedInvite>(), b.pendingInvites())
        eventually("b's listener sees the invite accepted") {
            invites.rec.snapshot().lastOrNull()?.singleOrNull()?.state == InviteState.ACCEPTED
        }
        inviteHandle.close()
        throwing.close()

        // Both list B as a member.
        assertEquals(Role.MEMBER, pa.members(false).single { it.deviceId == b.deviceId() }.role)
        assertEquals(Role.MEMBER, pb.members(false).single { it.deviceId == b.deviceId() }.role)
        assertEquals(Role.CREATOR, pb.members(false).single { it.deviceId == a.deviceId() }.role)
        assertEquals(Role.MEMBER, pb.ownRole())
        eventually("b's name reaches a") {
            pa.members(false).any { it.deviceId == b.deviceId() && it.name == "Bo" }
        }

        // B is a phone: previews and thumbnails only. Then both sync data.
        pb.setBlobPolicy(previewsOnlyBlobPolicy())
        val states = Recorder<List<PeerSyncState>>()
        val syncHandle = b.subscribeSync(pa.projectId(), object : SyncListener {
            override fun onSyncState(projectId: String, peers: List<PeerSyncState>) {
                states.calls.add(peers)
            }
        })
        eventually("the current sync state first") { states.snapshot().isNotEmpty() }
        a.startSync(pa.projectId())
        b.startSync(pa.projectId())

        // A takes a photo (a real JPEG, larger than a thumbnail) and records an observation.
        val photoFile = dirA.resolve("IMG_0001.jpg").toFile()
        writeJpeg(photoFile, 1200, 900)
        val photo = pa.addAttachmentFromPath(photoFile.path)
        assertEquals(AttachmentKind.PHOTO, photo.kind)
        assertEquals("IMG_0001.jpg", photo.name)
        val files = pa.attachmentFiles(photo)
        assertEquals(
            listOf(AttachmentVariant.ORIGINAL, AttachmentVariant.PREVIEW, AttachmentVariant.THUMBNAIL),
            files.map { it.variant },
        )
        assertEquals(photo.hash, files.first().hash)
        val created = pa.createObservation(notes("oil on the water").copy(attachments = listOf(photo)))
        // The writer waits: only it knows of the new entry until the peer confirms it.
        a.waitForSync(pa.projectId(), SyncPhase.FULL, 10_000uL)
        val got = pb.getObservation(created.meta.docId)
        assertEquals(created, got)
        assertEquals(listOf(photo), got.value.attachments)
        assertEquals(listOf(created), pb.listObservations(Query()))

        eventually("the thumbnail reaches b") {
            pb.attachmentBytes(photo, AttachmentVariant.THUMBNAIL) != null
        }
        val thumbnail = pb.attachmentBytes(photo, AttachmentVariant.THUMBNAIL)!!
        val head = thumbnail.take(3)
        assertEquals(listOf(0xFF, 0xD8, 0xFF).map { it.toByte() }, head, "a JPEG")
        val image = ImageIO.read(java.io.ByteArrayInputStream(thumbnail))
            ?: throw AssertionError("the thumbnail does not decode")
        assertTrue(maxOf(image.width, image.height) <= 400, "${image.width}x${image.height}")
        assertEquals(400 to 300, image.width to image.height)
        assertEquals(files, pb.attachmentFiles(photo))
        eventually("the preview reaches b") {
            pb.attachmentBytes(photo, AttachmentVariant.PREVIEW) != null
        }
        b.waitForSync(pa.projectId(), SyncPhase.FULL, 10_000uL)
        assertNull(pb.attachmentBytes(photo, AttachmentVariant.ORIGINAL), "a phone skips originals")
        eventually("a fully synced state with the blob bytes") {
            states.snapshot().lastOrNull()?.singleOrNull()?.let {
                it.fullySynced && it.blobBytesReceived >= files[2].size.toULong()
            } == true
        }
        assertEquals(a.deviceId(), states.snapshot().last().single().peer)
        syncHandle.close()
    }

    @Test
    fun `listeners get the current value first, then changes, until cancelled`() = runBlocking {
        val peerLists = Recorder<List<PeerInfo>>()
        val peerHandle = b.subscribePeers(object : PeerListener {
            override fun onPeers(peers: List<PeerInfo>) {
                peerLists.calls.add(peers)
            }
        })
        eventually("the current peer list") { peerLists.snapshot().isNotEmpty() }
        assertEquals(emptyList<PeerInfo>(), peerLists.snapshot().first())

        val (pa, pb) = joinedProjects()
        eventually("the connected peer") {
            peerLists.snapshot().lastOrNull()?.singleOrNull()?.let { it.connected && it.name == "Ana" } == true
        }
        val roles = Recorder<Role>()
        val roleHandle = pb.subscribeOwnRole(object : RoleListener {
            override fun onRole(role: Role) {
                roles.calls.add(role)
            }
        })
        eventually("the current role") { roles.snapshot().isNotEmpty() }
        assertEquals(Role.MEMBER, roles.snapshot().first())
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
        a.waitForSync(pa.projectId(), SyncPhase.FULL, 10_000uL)
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
        val inUse = assertThrows<MapeoException.FolderInUse> {
            Mapeo.open(dirA.resolve("a").toString(), generateRootKey())
        }
        assertFalse(inUse.reason.contains(dirA.toString()), inUse.reason)
        val key = generateRootKey()
        Mapeo.open(dirA.resolve("c").toString(), key).use { runBlocking { it.shutdown() } }
        val wrongKey = assertThrows<MapeoException.WrongRootKey> {
            Mapeo.open(dirA.resolve("c").toString(), generateRootKey())
        }
        assertFalse(wrongKey.reason.contains(dirA.toString()), wrongKey.reason)
        // Exceptions from suspend functions too.
        runBlocking {
            assertThrows<MapeoException.InvalidInput> { a.connect("not an address") }
            assertThrows<MapeoException.NotFound> { b.acceptInvite("00112233445566778899aabbccddeeff") }
            assertThrows<MapeoException.InvalidInput> { b.acceptInvite("not an invite id") }
            // B is not connected.
            assertThrows<MapeoException.Invite> {
                a.invite(project.projectId(), b.deviceId(), InviteRole.MEMBER, null, null)
            }
        }
        assertThrows<MapeoException.NotFound> { b.rejectInvite("00112233445566778899aabbccddeeff") }
        assertThrows<MapeoException.NotFound> { a.cancelInvite("00112233445566778899aabbccddeeff") }
        assertThrows<MapeoException.NotAllowed> { project.removeMember(a.deviceId(), null) }
        assertEquals(emptyList<ReceivedInvite>(), b.receivedInvites())
        assertTrue(b.listProjects().isEmpty())
        // A file that is not a photo, whatever its name says: refused, nothing recorded.
        val notPhoto = dirA.resolve("notes.jpg").toFile()
        notPhoto.writeText("not a photo")
        val refused = assertThrows<MapeoException.Attachment> {
            project.addAttachmentFromPath(notPhoto.path)
        }
        assertFalse(refused.reason.contains(dirA.toString()), refused.reason)
        assertThrows<MapeoException.Attachment> {
            project.addAttachmentFromBytes(byteArrayOf(1, 2, 3), "x.jpg")
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

        // An invite in flight that B never answers: cancelling the coroutine ends the call.
        val second = a.createProject(ProjectSettings(name = "Second"))
        val inviting = launch(Dispatchers.Default) {
            a.invite(second.projectId(), b.deviceId(), InviteRole.MEMBER, null, null)
        }
        val pending = pendingOnB()
        assertEquals(second.projectId(), pending.projectId)
        eventually("the invite running in the core") { runningTasks().calls > before.calls }
        inviting.cancel()
        inviting.join()
        assertTrue(inviting.isCancelled)
        eventually("the invite call ended") { runningTasks().calls == before.calls }
        assertTrue(a.sentInvites().isEmpty())
        // An answer to a call that is gone changes nothing on A.
        b.rejectInvite(pending.inviteId)
        assertNull(b.projectStatus(second.projectId()))

        // Nobody is connected, so this would wait the whole minute.
        b.disconnectAll()
        val waiting = launch(Dispatchers.Default) {
            b.waitForSync(pa.projectId(), SyncPhase.FULL, 60_000uL)
        }
        eventually("the call running in the core") { runningTasks().calls > before.calls }
        waiting.cancel()
        waiting.join()
        assertTrue(waiting.isCancelled)
        eventually("the core call ended") { runningTasks().calls == before.calls }

        // Listeners end with their handles.
        val handles = listOf(
            b.subscribePeers(object : PeerListener {
                override fun onPeers(peers: List<PeerInfo>) {}
            }),
            b.subscribeInvites(InviteRecorder()),
        )
        eventually("the listeners running") { runningTasks().listeners == before.listeners + 2uL }
        handles.forEach { it.close() }
        eventually("the listeners ended") { runningTasks().listeners == before.listeners }

        // The device still works after the cancellations.
        connect()
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
