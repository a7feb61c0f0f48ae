// The logic that needs neither a device nor the network: connection targets, GPS fixes,
// permission decisions, when networking pauses, device names, backup codes, stored keys.
package org.mapeo.app.logic

import java.nio.file.Path
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.backupCode
import uniffi.mapeo_ffi.generateRootKey

class PlainLogicTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `connection targets from typing and scanning`() {
        assertEquals(ConnectTarget.Address("192.168.43.1:47380"), parseConnectTarget("192.168.43.1").getOrThrow())
        assertEquals(ConnectTarget.Address("10.0.2.2:5000"), parseConnectTarget("10.0.2.2:5000").getOrThrow())
        assertEquals(ConnectTarget.Address("[fe80::1]:9"), parseConnectTarget("[fe80::1]:9").getOrThrow())
        assertEquals(ConnectTarget.Address("[fe80::1]:47380"), parseConnectTarget("fe80::1").getOrThrow())
        val code = "MP1ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345-6789"
        assertEquals(ConnectTarget.Code(code), parseConnectTarget(code).getOrThrow())
        assertEquals(ConnectTarget.Code(code), parseConnectTarget(qrPayload(code)).getOrThrow())
        assertEquals(ConnectTarget.Code("mp1abcdefghjkmnpqrstvwxyz0123456789"), parseConnectTarget(" mp1abcdefghjkmnpqrstvwxyz0123456789 ").getOrThrow())
        for (bad in listOf("", "   ", "300.1.1.1:5", "1.2.3.4:0", "1.2.3.4:70000", "1.2.3:5", "host.local:5", "[fe80::1", "MP1AB", "x".repeat(MAX_TARGET_CHARS + 1))) {
            assertTrue(parseConnectTarget(bad).isFailure, bad)
        }
        assertEquals("The port must be between 1 and 65535", parseConnectTarget("1.2.3.4:0").exceptionOrNull()?.message)
    }

    @Test
    fun `the best fix wins, more accurate or much newer`() {
        val t = FixTracker()
        val coarse = LocationFix(1.0, 2.0, 40.0, timeMs = 10_000, provider = "network")
        assertTrue(t.offer(coarse))
        assertTrue(t.offer(coarse.copy(accuracyMeters = 5.0, timeMs = 12_000, provider = "gps")))
        assertFalse(t.offer(coarse.copy(timeMs = 13_000)), "a worse reading replaced a better one")
        assertTrue(t.offer(coarse.copy(timeMs = 12_000 + FIX_STALE_MS + 1)), "a stale fix was kept")
        assertFalse(t.offer(coarse.copy(latitude = 91.0, timeMs = 999_999)))
        assertFalse(t.offer(coarse.copy(longitude = Double.NaN, timeMs = 999_999)))
        assertEquals(FixQuality.GOOD, quality(coarse.copy(accuracyMeters = 8.0)))
        assertEquals(FixQuality.POOR, quality(coarse.copy(accuracyMeters = 80.0)))
        assertEquals("±8 m · good · 3 s ago", describeFix(coarse.copy(accuracyMeters = 8.0), 13_000, true))
        assertTrue(describeFix(null, 0, false).startsWith("GPS is off"))
        val meta = coarse.toMetadata()
        assertEquals(40.0, meta.position?.coords?.accuracy)
        assertEquals(false, meta.manualLocation)
    }

    @Test
    fun `permissions by Android version and by what the user said before`() {
        assertEquals(emptyList<String>(), permissionsFor(Feature.NEARBY_DEVICES, 26))
        assertEquals(listOf(Perm.NEARBY_WIFI_DEVICES), permissionsFor(Feature.NEARBY_DEVICES, 33))
        assertEquals(PermissionDecision.Go, decidePermission(Feature.NEARBY_DEVICES, 30, emptySet(), emptySet()) { false })
        val first = decidePermission(Feature.CAMERA, 30, emptySet(), emptySet()) { false }
        assertEquals(PermissionDecision.Ask(listOf(Perm.CAMERA), Feature.CAMERA.explanation, explainFirst = true), first)
        // Asked before, and Android no longer shows its dialog: only the settings can help.
        assertEquals(
            PermissionDecision.OpenSettings(Feature.CAMERA.explanation),
            decidePermission(Feature.CAMERA, 30, emptySet(), setOf(Perm.CAMERA)) { false },
        )
        // Asked before and refused once: ask again, explaining first.
        assertTrue(decidePermission(Feature.CAMERA, 30, emptySet(), setOf(Perm.CAMERA)) { true } is PermissionDecision.Ask)
        // Fine location is what counts; coarse alone is asked again.
        assertEquals(PermissionDecision.Go, decidePermission(Feature.LOCATION, 34, setOf(Perm.FINE_LOCATION), emptySet()) { false })
        val coarseOnly = decidePermission(Feature.LOCATION, 34, setOf(Perm.COARSE_LOCATION), emptySet()) { false }
        assertEquals(listOf(Perm.FINE_LOCATION, Perm.COARSE_LOCATION), (coarseOnly as PermissionDecision.Ask).permissions)
        // An optional one refused for good: carry on without it.
        assertEquals(PermissionDecision.GoWithout, decidePermission(Feature.NOTIFICATIONS, 34, emptySet(), setOf(Perm.POST_NOTIFICATIONS)) { false })
    }

    @Test
    fun `networking pauses in the background unless exchanging`() {
        val l = NetworkLifecycle()
        assertEquals(NetworkAction.NONE, l.screenStarted())
        assertEquals(NetworkAction.NONE, l.screenStarted()) // a second screen on top
        assertEquals(NetworkAction.NONE, l.screenStopped())
        assertEquals(NetworkAction.PAUSE, l.screenStopped())
        assertTrue(l.isPaused)
        assertEquals(NetworkAction.RESUME, l.screenStarted())
        assertEquals(NetworkAction.NONE, l.exchangeStarted())
        assertEquals(NetworkAction.NONE, l.screenStopped(), "an exchange was paused by the screen going off")
        assertEquals(NetworkAction.PAUSE, l.exchangeStopped())
        assertEquals(NetworkAction.NONE, l.screenStopped())
    }

    @Test
    fun `device names and backup codes`() {
        assertEquals("Ana Maria", checkDeviceName("  Ana   Maria ").getOrThrow())
        assertTrue(checkDeviceName("   ").isFailure)
        assertTrue(checkDeviceName("x".repeat(MAX_DEVICE_NAME_CHARS + 1)).isFailure)
        assertTrue(checkDeviceName("a\u0000b").isFailure)

        // Restoring from the code gives back the same device.
        val key = generateRootKey()
        val original = Mapeo.open(dir.resolve("phone").toString(), key)
        val id = original.deviceId()
        original.close()
        val code = backupCode(key)
        assertEquals(8, code.split('-').size)
        assertEquals(2, backupCodeLines(code).size)
        val restored = restoreFromBackupCode(code.lowercase().replace('-', ' ')).getOrThrow()
        assertArrayEquals(key, restored)
        val again = Mapeo.open(dir.resolve("new phone").toString(), restored)
        assertEquals(id, again.deviceId())
        again.close()
        val typo = code.replaceRange(0, 1, if (code[0] == 'A') "B" else "A")
        val error = restoreFromBackupCode(typo).exceptionOrNull()
        assertTrue(error?.message?.contains("not right") == true)
        assertFalse(error!!.message!!.contains(code.substring(0, 4)), "the message repeats the code")
    }

    @Test
    fun `a stored key reads back, a damaged one is refused`() {
        val w = WrappedKey(ByteArray(GCM_IV_BYTES) { it.toByte() }, ByteArray(ROOT_KEY_BYTES + GCM_TAG_BYTES) { (it * 3).toByte() })
        val back = WrappedKey.decode(w.encode()).getOrThrow()
        assertArrayEquals(w.iv, back.iv)
        assertArrayEquals(w.ciphertext, back.ciphertext)
        assertTrue(WrappedKey.decode(w.encode().copyOf(10)).isFailure)
        assertTrue(WrappedKey.decode(byteArrayOf(9) + w.encode().drop(1)).isFailure)
    }
}
