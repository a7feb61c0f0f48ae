package org.mapeo.app.logic

import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.mapeo_ffi.Mapeo
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.generateRootKey

/** The app's key store in memory, like KeyVault without the Keystore. */
private class MemoryKeys(var key: ByteArray?) : RootKeyKeeper {
    override fun hasKey() = key != null
    override fun delete() {
        key = null
    }
}

class WipeTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `the wipe needs a full hold and the typed word, and can be cancelled before it runs`() {
        val g = WipeGesture(confirmWord = "BORRAR")
        assertEquals(WipeState.Holding(100, 0f), g.press(100))
        assertEquals(WipeState.Holding(100, 0.5f), g.tick(100 + WIPE_HOLD_MS / 2))
        // Let go early: nothing.
        assertEquals(WipeState.Idle, g.release(100 + WIPE_HOLD_MS - 1))
        assertFalse(g.confirm())
        g.press(0)
        assertEquals(WipeState.Confirm("", false), g.tick(WIPE_HOLD_MS))
        // Letting go after the hold keeps the confirmation.
        assertEquals(WipeState.Confirm("", false), g.release(WIPE_HOLD_MS + 10))
        assertEquals(WipeState.Confirm("borra", false), g.type("borra"))
        assertFalse(g.confirm())
        assertEquals(WipeState.Confirm(" borrar ", true), g.type(" borrar "))
        assertEquals(WipeState.Idle, g.cancel())
        assertFalse(g.confirm())
        g.press(0)
        g.tick(WIPE_HOLD_MS)
        g.type("BORRAR")
        assertTrue(g.confirm())
        assertEquals(WipeState.Wiping, g.state)
        // Once running it cannot be cancelled or pressed again.
        assertEquals(WipeState.Wiping, g.cancel())
        assertEquals(WipeState.Wiping, g.press(0))
        assertEquals(WipeState.Failed(listOf(WipeStep.DEVICE_DATA)), g.finished(WipeOutcome(listOf(WipeStep.DEVICE_DATA))))
        assertTrue(wipeText(g.state).contains("device data"))
        // A failed wipe can be started again.
        assertEquals(WipeState.Holding(5, 0f), g.press(5))
        g.tick(5 + WIPE_HOLD_MS)
        g.type("borrar")
        assertTrue(g.confirm())
        assertEquals(WipeState.Wiped, g.finished(WipeOutcome(emptyList())))
    }

    @Test
    fun `the steps run in order and a failed one does not stop the others`() = runBlocking<Unit> {
        val order = mutableListOf<String>()
        val keys = object : RootKeyKeeper {
            var kept = true
            override fun hasKey() = kept
            override fun delete() {
                order += "key"
                kept = false
            }
        }
        val data = dir.resolve("data").toFile().apply { mkdirs(); resolve("x.db").writeText("x") }
        val cache = dir.resolve("cache").toFile().apply { mkdirs(); resolve("photo.jpg").writeText("p") }
        val outcome = DeviceWipe(
            device = { order += "core"; null },
            dataDir = data,
            keys = keys,
            appFiles = listOf(cache),
            forgetSettings = { order += "settings" },
        ).run()
        assertEquals(listOf("core", "key", "settings"), order)
        // No device to wipe: the folder is removed anyway, but the wipe says it failed.
        assertEquals(listOf(WipeStep.DEVICE_DATA), outcome.failed)
        assertFalse(data.exists())
        assertFalse(cache.exists())
        assertFalse(keys.hasKey())
    }

    /** Through the real library and the core's `wipe()`. */
    @Test
    fun `the app's wipe leaves no key, no cache and no readable data, and the app at first run`() = runBlocking<Unit> {
        val data = dir.resolve("mapeo").toFile()
        val rootKey = generateRootKey()
        val keys = MemoryKeys(rootKey.copyOf())
        val cache = dir.resolve("cache").toFile().apply { mkdirs() }
        cache.resolve("camera").apply { mkdirs(); resolve("photo-1.jpg").writeBytes(jpeg(32, 32)) }
        cache.resolve("sync-files").apply { mkdirs(); resolve("river-1.mapeosync").writeText("sync") }
        val settings = MemoryLockStore()
        val pin = PinLock(settings, onWipe = {}, iterations = 1_000).apply { enable("2468").getOrThrow() }

        val device = Mapeo.open(data.path, rootKey)
        val project = device.createProject(ProjectSettings(name = "River watch"))
        project.createObservation(Observation(lat = 1.5, lon = 2.5))
        assertEquals(1, project.listObservations(Query()).size)

        val gesture = WipeGesture()
        gesture.press(0)
        gesture.tick(WIPE_HOLD_MS)
        gesture.type(DEFAULT_WIPE_WORD)
        assertTrue(gesture.confirm())
        val outcome = DeviceWipe({ device }, data, keys, listOf(cache.resolve("camera"), cache.resolve("sync-files")), pin::clear).run()
        assertEquals(WipeState.Wiped, gesture.finished(outcome), "failed steps: ${outcome.failed}")

        assertFalse(keys.hasKey())
        assertEquals(emptyList<String>(), cache.list()?.toList().orEmpty())
        assertFalse(PinLock(settings, onWipe = {}).enabled)
        // The same folder with the same root key: refused, or nothing in it.
        runCatching { device.close() }
        val reopened = runCatching { Mapeo.open(data.path, rootKey) }
        reopened.onSuccess { d ->
            try {
                assertEquals(emptyList<Any>(), d.listProjects())
            } finally {
                d.close()
            }
        }
    }
}
