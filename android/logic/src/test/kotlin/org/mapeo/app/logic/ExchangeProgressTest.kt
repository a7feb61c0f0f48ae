package org.mapeo.app.logic

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import uniffi.mapeo_ffi.PeerSyncState
import uniffi.mapeo_ffi.SyncPhase

/** A record as the bindings deliver it: by default, everything exchanged. */
fun syncState(
    peer: String = "a".repeat(64),
    connected: Boolean = true,
    peerKnown: Boolean = true,
    peerDataSync: Boolean = true,
    initialWanted: Long = 0,
    initialToSend: Long = 0,
    dataWanted: Long = 0,
    dataToSend: Long = 0,
    received: Long = 10,
    sent: Long = 5,
    peerBlobsKnown: Boolean = true,
    blobsWanted: Long = 0,
    blobBytesWanted: Long = 0,
    blobsToSend: Long = 0,
    blobBytesToSend: Long = 0,
    blobBytesReceived: Long = 0,
    blobBytesSent: Long = 0,
    fullySynced: Boolean = true,
) = PeerSyncState(
    peer = peer,
    connected = connected,
    peerKnown = peerKnown,
    peerDataSync = peerDataSync,
    initialWanted = initialWanted.toULong(),
    initialToSend = initialToSend.toULong(),
    dataWanted = dataWanted.toULong(),
    dataToSend = dataToSend.toULong(),
    received = received.toULong(),
    sent = sent.toULong(),
    peerBlobsKnown = peerBlobsKnown,
    blobsWanted = blobsWanted.toULong(),
    blobBytesWanted = blobBytesWanted.toULong(),
    blobsToSend = blobsToSend.toULong(),
    blobBytesToSend = blobBytesToSend.toULong(),
    blobBytesReceived = blobBytesReceived.toULong(),
    blobBytesSent = blobBytesSent.toULong(),
    phase = if (initialWanted + initialToSend > 0) SyncPhase.INITIAL else SyncPhase.FULL,
    initialSynced = initialWanted + initialToSend == 0L,
    fullySynced = fullySynced,
)

private fun progress(vararg s: PeerSyncState) = peerProgress(true, s.map(SyncCounts::of))

class ExchangeProgressTest {
    @Test
    fun `done and 100 percent only when nothing is left`() {
        val p = progress(syncState())
        assertEquals(ExchangeStage.DONE, p.stage)
        assertEquals(100, p.percent)
        assertTrue(p.text.startsWith("Done"), p.text)
    }

    @Test
    fun `blob bytes still to come keep it from done even when entries are all in`() {
        val s = syncState(blobsWanted = 2, blobBytesWanted = 3_400_000, blobBytesReceived = 100, fullySynced = false)
        val p = progress(s)
        assertEquals(ExchangeStage.EXCHANGING, p.stage)
        assertTrue(p.percent!! in 0..MAX_PERCENT_NOT_DONE, "${p.percent}")
        assertTrue(p.text.contains("2 media files to come (3.4 MB)"), p.text)
    }

    @Test
    fun `the core's verdict and our own counts must agree before done`() {
        // The core says not synced (e.g. blob list not known) though counts are zero.
        assertEquals(ExchangeStage.STARTING, progress(syncState(peerBlobsKnown = false, fullySynced = false)).stage)
        // Counts say something is left though the record claims synced: not done either.
        val p = progress(syncState(dataWanted = 1, fullySynced = true))
        assertFalse(p.stage == ExchangeStage.DONE)
        // A zero-byte file still to come is still something to come.
        assertFalse(progress(syncState(blobsToSend = 1, fullySynced = false)).stage == ExchangeStage.DONE)
    }

    @Test
    fun `never 100 while anything is left, however little`() {
        val s = syncState(received = 1_000_000, dataWanted = 1, fullySynced = false)
        val p = progress(s)
        assertEquals(MAX_PERCENT_NOT_DONE, p.percent)
        assertTrue(p.text.contains("Receiving 1000000 of 1000001"), p.text)
    }

    @Test
    fun `a device is done only when every shared project is`() {
        val p = progress(syncState(), syncState(dataToSend = 3, sent = 1, fullySynced = false))
        assertEquals(ExchangeStage.EXCHANGING, p.stage)
        assertTrue(p.text.endsWith("% · Sending 6 of 9"), p.text)
    }

    @Test
    fun `stages before data and when nothing is shared`() {
        assertEquals(ExchangeStage.STARTING, progress(syncState(peerKnown = false, fullySynced = false)).stage)
        assertNull(progress(syncState(peerKnown = false, fullySynced = false)).percent)
        assertEquals(ExchangeStage.SETTINGS, progress(syncState(initialWanted = 4, fullySynced = false)).stage)
        assertEquals(ExchangeStage.PEER_PAUSED, progress(syncState(peerDataSync = false, dataToSend = 2, fullySynced = false)).stage)
        assertEquals(ExchangeStage.NO_SHARED_PROJECT, peerProgress(true, emptyList()).stage)
        assertEquals(ExchangeStage.NOT_CONNECTED, peerProgress(false, listOf(SyncCounts.of(syncState()))).stage)
    }

    @Test
    fun `bytes read as people read them`() {
        assertEquals("820 B", formatBytes(820))
        assertEquals("1.5 KB", formatBytes(1_500))
        assertEquals("12.0 MB", formatBytes(12_000_000))
    }
}
