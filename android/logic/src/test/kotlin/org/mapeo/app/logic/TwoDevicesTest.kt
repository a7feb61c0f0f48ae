// Two real devices in one JVM driven through the app's logic, over 127.0.0.1: the Exchange
// screen's state reaching "done" (photos included), connection codes, invites and members.
package org.mapeo.app.logic

import java.io.File
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicReference
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.AttachmentVariant
import uniffi.mapeo_ffi.AssignableRole
import uniffi.mapeo_ffi.InviteListener
import uniffi.mapeo_ffi.InviteOutcome
import uniffi.mapeo_ffi.InviteRole
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.ReceivedInvite
import uniffi.mapeo_ffi.Role

class TwoDevicesTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var a: Mapeo
    private lateinit var b: Mapeo

    @BeforeEach
    fun open() {
        a = device(dir.resolve("ana"), "Ana")
        b = device(dir.resolve("beto"), "Beto")
    }

    @AfterEach
    fun close() {
        a.close()
        b.close()
    }

    @Test
    fun `the exchange screen reaches done over loopback only once every observation and photo is here`() = runBlocking {
        val pa = a.createProject(ProjectSettings(name = "River watch"))
        val pb = b.joinProject(a.joinDetails(pa.projectId()))
        pa.assignRole(b.deviceId(), AssignableRole.MEMBER)
        val photo = jpeg(1600, 1200)
        repeat(3) { i ->
            val att = pa.addAttachmentFromBytes(photo + byteArrayOf(i.toByte()), "photo$i.jpg")
            pa.createObservation(Observation(lat = -3.1, lon = -60.0 + i, attachments = listOf(att)))
        }

        val aStates = CopyOnWriteArrayList<ExchangeViewState>()
        val ctlA = ExchangeController(a) { aStates.add(it) }
        val addressA = ctlA.start("127.0.0.1:0", discovery = false)
        assertTrue(addressA.startsWith("127.0.0.1:"), addressA)

        // What Beto's device holds at the moment its screen first says "done".
        val atDone = AtomicReference<Pair<Int, Int>?>()
        val bStates = CopyOnWriteArrayList<ExchangeViewState>()
        val ctlB = ExchangeController(b) { s ->
            bStates.add(s)
            if (s.devices.any { it.progress.stage == ExchangeStage.DONE } && atDone.get() == null) {
                val obs = pb.listObservations(Query())
                // Asked of the store directly: this runs in the core's callback.
                val complete = obs.count { o ->
                    o.value.attachments.all { a -> AttachmentVariant.values().any { pb.hasAttachmentFile(a, it) } }
                }
                atDone.compareAndSet(null, obs.size to complete)
            }
        }
        ctlB.start("127.0.0.1:0", discovery = false)

        // Ana's screen shows the QR code; Beto's camera reads it back.
        val qr = qrMatrix(qrPayload(a.connectionCode()))
        val scanned = decodeQr(qrPixels(qr, 3), qr.size * 3, qr.size * 3)
        val target = parseConnectTarget(present(scanned)).getOrThrow()
        assertTrue(target is ConnectTarget.Code)
        assertEquals(a.deviceId(), ctlB.connect(target))

        eventually("Beto's screen says done for Ana") {
            ctlB.state().devices.singleOrNull()?.let { it.name == "Ana" && it.progress.stage == ExchangeStage.DONE } == true
        }
        // The screen's callback runs after the state changes: wait for its snapshot.
        eventually("the snapshot taken when done was first shown") { atDone.get() != null }
        assertEquals(3 to 3, atDone.get(), "done was shown before every observation and photo arrived")
        val row = ctlB.state().devices.single()
        assertEquals(100, row.progress.percent)
        assertEquals("Up to date with 1 device", ctlB.state().headline)
        assertTrue(ctlB.state().allDone)
        // Before done, the screen showed something short of it with an honest percent.
        assertTrue(bStates.all { s -> s.devices.all { it.progress.stage == ExchangeStage.DONE || (it.progress.percent ?: 0) < 100 } })
        eventually("Ana's screen says done for Beto") {
            ctlA.state().devices.singleOrNull()?.progress?.stage == ExchangeStage.DONE
        }

        // The list on Beto's phone: newest first, each with a thumbnail file that exists.
        val rows = observationRows(pb.listObservations(Query()), pointPresets(pb), photoFiles(b, pb))
        assertEquals(3, rows.size)
        assertTrue(rows.zipWithNext().all { (x, y) -> x.createdAt >= y.createdAt })
        rows.forEach { assertTrue(served(present(it.thumbnailUrl)).isNotEmpty()) }

        ctlB.stop()
        assertFalse(ctlB.state().running)
        assertEquals("Exchange is off", ctlB.state().headline)
        ctlA.stop()
        assertEquals(null, a.listeningOn())
    }

    @Test
    fun `an address typed by hand connects, a mistyped code or another device's code is refused`() = runBlocking {
        val ctlA = ExchangeController(a) {}
        val address = ctlA.start("127.0.0.1:0", discovery = false)
        val ctlB = ExchangeController(b) {}
        ctlB.start("127.0.0.1:0", discovery = false)
        val port = address.substringAfterLast(':')
        val typed = parseConnectTarget(" 127.0.0.1:$port ").getOrThrow()
        assertEquals(ConnectTarget.Address("127.0.0.1:$port"), typed)
        assertEquals(a.deviceId(), ctlB.connect(typed))
        eventually("Ana listed as connected, with no shared project") {
            ctlB.state().devices.singleOrNull()?.progress?.stage == ExchangeStage.NO_SHARED_PROJECT
        }

        // Carla's code, but Ana now answers at its address: refused as the wrong device.
        val c = device(dir.resolve("carla"), "Carla")
        try {
            val portC = c.startListening("127.0.0.1:0").substringAfterLast(':')
            val codeOfC = c.connectionCodeFor(listOf("127.0.0.1"))
            // One changed character fails the code's checksum: refused before any dialing.
            val typo = codeOfC.dropLast(1) + if (codeOfC.last() == '0') '1' else '0'
            assertTrue(parseConnectTarget(typo).getOrThrow() is ConnectTarget.Code)
            assertThrows<MapeoException.InvalidInput> { runBlocking { ctlB.connect(parseConnectTarget(typo).getOrThrow()) } }
            c.stopListening()
            a.startListening("127.0.0.1:$portC")
            assertThrows<MapeoException.WrongDevice> { runBlocking { ctlB.connect(parseConnectTarget(codeOfC).getOrThrow()) } }
        } finally {
            c.close()
        }
        ctlA.stop()
        ctlB.stop()
    }

    @Test
    fun `invite a nearby device as member, it accepts from its list, then it is removed`() = runBlocking {
        val pa = a.createProject(ProjectSettings(name = "River watch", projectDescription = "Water"))
        val ctlA = ExchangeController(a) {}
        ctlA.start("127.0.0.1:0", discovery = false)
        val ctlB = ExchangeController(b) {}
        ctlB.start("127.0.0.1:0", discovery = false)
        val invites = AtomicReference<List<InviteRow>>(emptyList())
        val handle = b.subscribeInvites(object : InviteListener {
            override fun onInvites(invites: List<ReceivedInvite>) = shown(inviteRows(invites))
            private fun shown(rows: List<InviteRow>) = invites.set(rows)
        })
        ctlB.connect(parseConnectTarget(a.listeningOn()!!).getOrThrow())

        eventually("Beto offered as someone to invite") {
            membersViewState(a.deviceId(), pa.ownRole(), pa.members(false), a.peers()).candidates
                .any { it.deviceId == b.deviceId() && it.name == "Beto" }
        }
        val before = membersViewState(a.deviceId(), pa.ownRole(), pa.members(false), a.peers())
        assertTrue(before.canInvite)
        assertEquals(listOf("Ana"), before.members.map { it.name })
        assertFalse(before.members.single().manageable, "no one manages their own role")

        val outcome = async { a.invite(pa.projectId(), b.deviceId(), InviteRole.MEMBER, null, null) }
        eventually("the invite on Beto's projects screen") { invites.get().isNotEmpty() }
        val row = invites.get().single()
        assertEquals("Ana invites you to River watch", row.title)
        assertTrue(row.detail.startsWith("As member"), row.detail)
        val pb = b.acceptInvite(row.inviteId)
        assertEquals(InviteOutcome.ACCEPTED, outcome.await())
        assertEquals(pa.projectId(), pb.projectId())
        eventually("the answered invite leaves the list") { invites.get().isEmpty() }

        eventually("Beto a member on Ana's screen") {
            membersViewState(a.deviceId(), pa.ownRole(), pa.members(false), a.peers())
                .members.any { it.deviceId == b.deviceId() && it.role == Role.MEMBER && it.manageable }
        }
        val after = membersViewState(a.deviceId(), pa.ownRole(), pa.members(false), a.peers())
        assertTrue(after.candidates.none { it.deviceId == b.deviceId() }, "a member is offered for invite again")
        // Beto is a member: he sees the list but manages nothing.
        eventually("Beto knows his role") { pb.ownRole() == Role.MEMBER }
        val bView = membersViewState(b.deviceId(), pb.ownRole(), pb.members(false), b.peers())
        assertFalse(bView.canInvite)
        assertTrue(bView.members.none { it.manageable })

        pa.removeMember(b.deviceId(), "left the team")
        val removed = membersViewState(a.deviceId(), pa.ownRole(), pa.members(true), a.peers())
        assertEquals("Removed", removed.members.single { it.deviceId == b.deviceId() }.roleText)
        handle.close()
        ctlA.stop()
        ctlB.stop()
    }
}
