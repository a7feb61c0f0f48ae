package org.mapeo.app.logic

import java.io.File
import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

private const val MINUTE = 60_000L

class LockScreenTest {
    @TempDir
    lateinit var dir: Path

    private fun enabledLock(store: LockStore = MemoryLockStore()): PinLock =
        PinLock(store, onWipe = {}, iterations = 1_000).apply { enable("2468").getOrThrow() }

    @Test
    fun `the lock screen comes up at start and after the chosen time away, never over itself`() {
        val store = MemoryLockStore()
        enabledLock(store).setLockAfterMinutes(5).getOrThrow()
        // A restart: the lock is asked before anything is shown.
        val lock = PinLock(store, onWipe = {}, iterations = 1_000)
        val gate = LockGate { lock }
        assertTrue(gate.screenStarted(0, isLockScreen = false))
        assertFalse(gate.screenStarted(1, isLockScreen = true))
        assertEquals(UnlockResult.Unlocked, lock.unlock("2468"))
        gate.screenStopped(2, changingConfigurations = false) // the lock screen closes
        // Another screen opens over the first, the first stops: the app never left.
        assertFalse(gate.screenStarted(2, isLockScreen = false))
        gate.screenStopped(3, changingConfigurations = false)
        gate.screenStopped(4, changingConfigurations = false)
        // Away less than 5 minutes: no PIN.
        assertFalse(gate.screenStarted(4 + 5 * MINUTE - 1, isLockScreen = false))
        // Away 5 minutes: the PIN.
        gate.screenStopped(10 * MINUTE, changingConfigurations = false)
        assertTrue(gate.screenStarted(15 * MINUTE, isLockScreen = false))
    }

    @Test
    fun `a rotation is not leaving the app, even with the lock at once`() {
        val lock = enabledLock().apply { setLockAfterMinutes(0).getOrThrow(); unlock("2468") }
        val gate = LockGate { lock }
        assertFalse(gate.screenStarted(0, isLockScreen = false))
        gate.screenStopped(1, changingConfigurations = true)
        assertFalse(gate.screenStarted(2, isLockScreen = false))
        gate.screenStopped(3, changingConfigurations = false)
        assertTrue(gate.screenStarted(3, isLockScreen = false))
    }

    @Test
    fun `without a pin, or before the lock exists, nothing is asked`() {
        val gate = LockGate { null }
        assertFalse(gate.screenStarted(0, isLockScreen = false))
        val off = PinLock(MemoryLockStore(), onWipe = {}, iterations = 1_000)
        val gate2 = LockGate { off }
        gate2.screenStopped(0, changingConfigurations = false)
        assertFalse(gate2.screenStarted(60 * MINUTE, isLockScreen = false))
    }

    @Test
    fun `the lock says how many wrong pins are left before the wipe`() {
        assertEquals("Type your PIN to open Mapeo.", lockIntroText(null, 3))
        assertTrue(lockIntroText(5, 3).contains("After 2 more wrong PINs"))
        assertTrue(lockIntroText(5, 4).contains("After 1 more wrong PIN,"))
        assertEquals("Wrong PIN. Try again.", unlockText(UnlockResult.Wrong(null)))
        assertEquals("Wrong PIN. 1 attempt left before this phone is erased.", unlockText(UnlockResult.Wrong(1)))
        assertTrue(unlockText(UnlockResult.Wiping).contains("erased"))
        assertEquals("As soon as Mapeo is left", lockAfterText(0))
        assertEquals("After 1 minute away", lockAfterText(1))
        assertEquals("After 15 minutes away", lockAfterText(15))
        assertEquals("Never erase", wipeAfterText(null))
        assertTrue(wipeAfterWarning(10).contains("10 times"))
    }

    @Test
    fun `the wipe empties the camera, the sync files and the rest of the cache, and every settings file`() = runBlocking<Unit> {
        val cache = dir.resolve("cache").toFile()
        File(cache, "camera").apply { mkdirs(); resolve("photo-1.jpg").writeText("p") }
        File(cache, "sync-files").apply { mkdirs(); resolve("river-1.mapeosync").writeText("s") }
        File(cache, "tiles").apply { mkdirs(); resolve("t").writeText("t") }
        val folders = wipeAppFolders(cache)
        assertEquals(listOf("camera", "sync-files"), folders.take(2).map { it.name })
        assertTrue(cache in folders)
        val keys = object : RootKeyKeeper {
            override fun hasKey() = false
            override fun delete() {}
        }
        val outcome = DeviceWipe({ null }, dir.resolve("data").toFile(), keys, folders) {}.run()
        assertEquals(listOf(WipeStep.DEVICE_DATA), outcome.failed)
        assertFalse(cache.exists())
        assertEquals(
            listOf("mapeo-keys", "mapeo-lock"),
            preferenceNames(arrayOf("mapeo-lock.xml", "mapeo-keys.xml", "mapeo-lock.xml.bak")),
        )
        assertEquals(emptyList<String>(), preferenceNames(null))
    }
}
