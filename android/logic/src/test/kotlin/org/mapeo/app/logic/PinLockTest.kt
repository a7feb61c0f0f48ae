package org.mapeo.app.logic

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Few rounds in tests: the real hash is the same function, only slower. */
private const val TEST_ROUNDS = 1_000

private class Wipes {
    var count = 0
}

private fun lock(store: LockStore, wipes: Wipes = Wipes(), hasher: PinHasher = Pbkdf2Hasher) =
    PinLock(store, onWipe = { wipes.count++ }, hasher = hasher, iterations = TEST_ROUNDS)

class PinLockTest {
    @Test
    fun `the right pin unlocks and the pin is kept as a salted hash, never as typed`() {
        val store = MemoryLockStore()
        val l = lock(store)
        assertFalse(l.locked)
        l.enable("2468").getOrThrow()
        assertEquals(UnlockResult.Wrong(null), l.unlock("1357"))
        assertEquals(1, l.failures)
        assertEquals(UnlockResult.Unlocked, l.unlock("2468"))
        assertFalse(l.locked)
        assertEquals(0, l.failures)
        val hash = store.get("pin.hash")!!
        assertFalse(hash.contains("2468"))
        // A new salt each time the same PIN is set: equal PINs do not look equal at rest.
        val other = MemoryLockStore()
        lock(other).enable("2468").getOrThrow()
        assertNotEquals(hash, other.get("pin.hash"))
        assertNotEquals(store.get("pin.salt"), other.get("pin.salt"))
    }

    @Test
    fun `a restart asks for the pin and keeps the wrong attempts`() {
        val store = MemoryLockStore()
        lock(store).apply {
            enable("2468").getOrThrow()
            setWipeAfter(5).getOrThrow()
            assertEquals(UnlockResult.Wrong(4), unlock("0000"))
            assertEquals(UnlockResult.Wrong(3), unlock("0001"))
        }
        val again = lock(store)
        assertTrue(again.locked)
        assertEquals(2, again.failures)
        assertEquals(UnlockResult.Wrong(2), again.unlock("0002"))
        assertEquals(UnlockResult.Unlocked, again.unlock("2468"))
        assertEquals(0, lock(store).failures)
    }

    @Test
    fun `a kill during the check does not give the attempt back`() {
        val store = MemoryLockStore()
        lock(store).enable("2468").getOrThrow()
        class Killed : RuntimeException()
        // The process dies while the slow hash runs.
        val dying = lock(store, hasher = { _, _, _ -> throw Killed() })
        assertThrows<Killed> { dying.unlock("0000") }
        assertEquals(1, lock(store).failures)
    }

    @Test
    fun `reaching the limit wipes exactly once, also across a restart`() {
        val store = MemoryLockStore()
        val wipes = Wipes()
        val l = lock(store, wipes)
        l.enable("2468").getOrThrow()
        l.setWipeAfter(5).getOrThrow()
        repeat(4) { assertEquals(UnlockResult.Wrong(4 - it), l.unlock("1111")) }
        assertEquals(0, wipes.count)
        assertEquals(UnlockResult.Wiping, l.unlock("1111"))
        assertEquals(1, wipes.count)
        // More attempts, even the right PIN, do not stop or repeat it.
        assertEquals(UnlockResult.Wiping, l.unlock("1111"))
        assertEquals(UnlockResult.Wiping, l.unlock("2468"))
        assertEquals(1, wipes.count)
        // Killed before the wipe cleared the lock: the next start wipes, right PIN or not.
        val restartWipes = Wipes()
        assertEquals(UnlockResult.Wiping, lock(store, restartWipes).unlock("2468"))
        assertEquals(1, restartWipes.count)
    }

    @Test
    fun `with no wipe set, wrong attempts never wipe`() {
        val store = MemoryLockStore()
        val wipes = Wipes()
        val l = lock(store, wipes)
        l.enable("2468").getOrThrow()
        repeat(30) { assertEquals(UnlockResult.Wrong(null), l.unlock("9999")) }
        assertEquals(0, wipes.count)
        assertEquals(30, l.failures)
        assertEquals(UnlockResult.Unlocked, l.unlock("2468"))
        // Turned off again: still never.
        l.setWipeAfter(5).getOrThrow()
        l.setWipeAfter(null).getOrThrow()
        repeat(10) { l.unlock("9999") }
        assertEquals(0, wipes.count)
    }

    @Test
    fun `changing or removing the pin needs the old one, and a wrong one counts`() {
        val store = MemoryLockStore()
        val l = lock(store)
        l.enable("2468").getOrThrow()
        assertTrue(l.enable("1111").isFailure)
        assertEquals(UnlockResult.Wrong(null), l.change("1111", "8642").getOrThrow())
        assertEquals(1, l.failures)
        assertEquals(UnlockResult.Wrong(null), l.unlock("8642"))
        assertEquals(UnlockResult.Unlocked, l.change("2468", "8642").getOrThrow())
        assertEquals(UnlockResult.Unlocked, lock(store).unlock("8642"))
        assertEquals(UnlockResult.Wrong(null), lock(store).unlock("2468"))
        assertEquals(UnlockResult.Wrong(null), l.disable("2468"))
        assertTrue(l.enabled)
        assertEquals(UnlockResult.Unlocked, l.disable("8642"))
        assertFalse(l.enabled)
        assertFalse(lock(store).locked)
    }

    @Test
    fun `bad pins and settings are refused in words`() {
        val l = lock(MemoryLockStore())
        assertEquals("Use 4 to 12 digits", l.enable("12").exceptionOrNull()?.message)
        assertEquals("Use digits only", l.enable("12a4").exceptionOrNull()?.message)
        assertEquals("Set a PIN first", l.setWipeAfter(5).exceptionOrNull()?.message)
        l.enable("2468").getOrThrow()
        assertTrue(l.setWipeAfter(3).isFailure)
        assertEquals(null, l.wipeAfter)
        assertTrue(l.setLockAfterMinutes(7).isFailure)
        assertEquals(DEFAULT_LOCK_AFTER_MINUTES, l.lockAfterMinutes)
    }

    @Test
    fun `the pin is asked again only after the chosen minutes in the background`() {
        val store = MemoryLockStore()
        val l = lock(store)
        l.enable("2468").getOrThrow()
        l.setLockAfterMinutes(5).getOrThrow()
        assertEquals(UnlockResult.Unlocked, l.unlock("2468"))
        l.backgrounded(1_000)
        l.foregrounded(1_000 + 4 * 60_000)
        assertFalse(l.locked)
        l.backgrounded(10_000_000)
        l.foregrounded(10_000_000 + 5 * 60_000)
        assertTrue(l.locked)
        // Lock off: never asked.
        assertEquals(UnlockResult.Unlocked, l.disable("2468"))
        l.backgrounded(0)
        l.foregrounded(60 * 60_000)
        assertFalse(l.locked)
    }
}
