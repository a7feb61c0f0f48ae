// A map shared between two devices in one JVM, through the generated Kotlin bindings: the real
// fallback SMP (@comapeo/fallback-smp@1.0.0, fetched with `npm pack` at test time and never
// committed) offered over 127.0.0.1 to a fellow member, seen by the receiver's listener,
// accepted and installed byte for byte with progress on both sides; a second offer declined;
// a device sharing no project refused.
package org.mapeo.ffi

import java.io.File
import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.DeviceInfo
import uniffi.mapeo_ffi.DeviceType
import uniffi.mapeo_ffi.InviteOutcome
import uniffi.mapeo_ffi.InviteRole
import uniffi.mapeo_ffi.MapShare
import uniffi.mapeo_ffi.MapShareDirection
import uniffi.mapeo_ffi.MapShareListener
import uniffi.mapeo_ffi.MapShareState
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.generateRootKey

/** Longest any wait in these tests may take. */
private val SHARE_WAIT = 30.seconds

/** Polls [check] until it holds; fails after [SHARE_WAIT]. */
private suspend fun until(what: String, check: () -> Boolean) {
    try {
        withTimeout(SHARE_WAIT) {
            while (!check()) delay(20.milliseconds)
        }
    } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
        throw AssertionError("timed out waiting for: $what", e)
    }
}

/**
 * The real fallback SMP, fetched once with npm into a cache shared with the Rust and Python
 * tests. Without npm the test is skipped loudly, and fails under CI.
 */
private fun fallbackSmp(): File {
    val cache = File(System.getProperty("java.io.tmpdir"), "mapeo-tests-fallback-smp-1.0.0")
    val cached = File(cache, "comapeo-fallback-map.smp")
    if (cached.isFile) return cached
    val npm = runCatching { ProcessBuilder("npm", "--version").start().waitFor(60, TimeUnit.SECONDS) }
        .getOrDefault(false)
    if (!npm) {
        val ci = System.getenv("CI").orEmpty()
        check(ci.isEmpty() || ci == "false") { "npm is needed to fetch @comapeo/fallback-smp and CI is set" }
        System.err.println("SKIPPED LOUDLY: npm not found, @comapeo/fallback-smp cannot be fetched")
        assumeTrue(false)
    }
    cache.mkdirs()
    val work = kotlin.io.path.createTempDirectory(cache.toPath(), "fetch").toFile()
    try {
        fun run(vararg cmd: String) {
            val p = ProcessBuilder(*cmd).directory(work).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
            check(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0) { "${cmd[0]} failed" }
        }
        run("npm", "pack", "@comapeo/fallback-smp@1.0.0", "--silent")
        val tgz = work.listFiles()!!.single { it.name.endsWith(".tgz") }
        run("tar", "xzf", tgz.name, "package/dist/comapeo-fallback-map.smp")
        File(work, "package/dist/comapeo-fallback-map.smp").renameTo(cached)
    } finally {
        work.deleteRecursively()
    }
    return cached
}

/** Records every share list it is given. */
private class ShareRecorder : MapShareListener {
    val calls: MutableList<List<MapShare>> = Collections.synchronizedList(mutableListOf())
    fun last(): List<MapShare> = synchronized(calls) { calls.lastOrNull().orEmpty() }
    override fun onMapShares(shares: List<MapShare>) {
        calls.add(shares)
    }
}

class MapShareTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var a: Mapeo
    private lateinit var b: Mapeo

    @BeforeEach
    fun open() {
        a = Mapeo.open(dir.resolve("a").toString(), generateRootKey())
        b = Mapeo.open(dir.resolve("b").toString(), generateRootKey())
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

    private suspend fun connect() {
        assertEquals(a.deviceId(), b.connect(a.startListening("127.0.0.1:0")))
        until("a sees b connected") { a.peers().any { it.deviceId == b.deviceId() && it.connected } }
    }

    private fun share(device: Mapeo, id: String) = device.mapShares().single { it.shareId == id }

    @Test
    fun `a map offered to a fellow member is accepted and installed and a second one declined`() = runBlocking {
        val smp = fallbackSmp()
        val pa = a.createProject(ProjectSettings(name = "River watch"))
        connect()
        val outcome = async { a.invite(pa.projectId(), b.deviceId(), InviteRole.MEMBER, null, null) }
        until("the invite reaches b") { b.pendingInvites().isNotEmpty() }
        b.acceptInvite(b.pendingInvites().first().inviteId)
        assertEquals(InviteOutcome.ACCEPTED, outcome.await())

        val mapId = a.importMap(smp.path).id
        val seenA = ShareRecorder()
        val seenB = ShareRecorder()
        val handles = listOf(a.subscribeMapShares(seenA), b.subscribeMapShares(seenB))
        val id = a.shareMap(mapId, b.deviceId())
        until("b's listener sees the offer") {
            seenB.last().any { it.shareId == id && it.state == MapShareState.OFFERED }
        }
        val offer = share(b, id)
        assertEquals(MapShareDirection.RECEIVING, offer.direction)
        assertEquals(a.deviceId(), offer.deviceId)
        assertEquals("Ana", offer.deviceName)
        assertEquals(mapId, offer.mapId)
        assertEquals("Blank", offer.name)
        assertEquals(smp.length().toULong(), offer.size)

        b.acceptMapShare(id)
        until("installed on both sides") {
            share(a, id).state == MapShareState.INSTALLED && share(b, id).state == MapShareState.INSTALLED
        }
        for (seen in listOf(seenA, seenB)) {
            until("each listener hears every byte") { seen.last().any { it.shareId == id && it.bytes == offer.size } }
        }
        // The installed package is the sender's byte for byte: b's map store lists it under the
        // same id (the blake3 hash of the bytes b imported) and size. On disk it is sealed: no
        // run of the package is in the file.
        val plain = smp.readBytes()
        assertEquals(plain.size.toULong(), b.maps().single { it.id == mapId }.size)
        val raw = dir.resolve("b").resolve("maps").resolve("$mapId.smp").toFile().readBytes()
        assertArrayEquals("MAPEOSF".toByteArray(), raw.copyOfRange(0, 7))
        val run = plain.copyOfRange(plain.size / 2, plain.size / 2 + 64)
        assertFalse(raw.toList().windowed(run.size).any { it.toByteArray().contentEquals(run) })

        val second = a.shareMap(mapId, b.deviceId())
        until("the second offer arrives") { b.mapShares().any { it.shareId == second } }
        b.declineMapShare(second)
        until("a hears the decline") { share(a, second).state == MapShareState.DECLINED }
        assertThrows<MapeoException.InvalidInput> { runBlocking { b.acceptMapShare(second) } }
        handles.forEach { it.close() }
    }

    @Test
    fun `a device sharing no project cannot be sent a map`() = runBlocking {
        val smp = fallbackSmp()
        a.createProject(ProjectSettings(name = "Mine"))
        b.createProject(ProjectSettings(name = "Theirs"))
        connect()
        val mapId = a.importMap(smp.path).id
        assertThrows<MapeoException.NotAllowed> { runBlocking { a.shareMap(mapId, b.deviceId()) } }
        delay(300.milliseconds)
        assertTrue(b.mapShares().isEmpty())
    }
}
