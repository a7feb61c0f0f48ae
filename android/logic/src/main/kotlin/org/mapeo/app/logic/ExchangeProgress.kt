// What the Exchange screen says about one nearby device: its progress, in words and percent,
// from the exact counts the core reports. "Done" and 100% only when nothing wanted is missing
// and nothing owed is unsent, in any shared project, blob bytes included.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.PeerSyncState

/**
 * The exchange of one project with one peer, as counts. Made from the bindings'
 * [PeerSyncState] by [SyncCounts.of]; blob figures are null when the bindings do not report
 * them (then only the core's own verdict, [fullySynced], speaks for blobs).
 */
data class SyncCounts(
    val connected: Boolean,
    val peerKnown: Boolean,
    val peerDataSync: Boolean,
    val initialWanted: Long,
    val initialToSend: Long,
    val dataWanted: Long,
    val dataToSend: Long,
    val received: Long,
    val sent: Long,
    /** The core's verdict: nothing left to exchange at all (its blobs included). */
    val fullySynced: Boolean,
    /** Attachment files (blobs) still to come, and to send; null when not reported. */
    val blobsWanted: Long? = null,
    val blobsToSend: Long? = null,
    val blobBytesWanted: Long? = null,
    val blobBytesToSend: Long? = null,
    val blobBytesReceived: Long? = null,
    val blobBytesSent: Long? = null,
) {
    companion object {
        /** The counts of one bindings record. */
        fun of(s: PeerSyncState): SyncCounts = SyncCounts(
            connected = s.connected,
            peerKnown = s.peerKnown,
            peerDataSync = s.peerDataSync,
            initialWanted = s.initialWanted.toLong(),
            initialToSend = s.initialToSend.toLong(),
            dataWanted = s.dataWanted.toLong(),
            dataToSend = s.dataToSend.toLong(),
            received = s.received.toLong(),
            sent = s.sent.toLong(),
            fullySynced = s.fullySynced,
        ).withBlobs(s)
    }

    /** Entries still to come from the peer. */
    val entriesWanted: Long get() = initialWanted + dataWanted

    /** Entries the peer has not confirmed yet. */
    val entriesToSend: Long get() = initialToSend + dataToSend

    /** Blob bytes still moving either way (0 when not reported). */
    val blobBytesLeft: Long get() = (blobBytesWanted ?: 0) + (blobBytesToSend ?: 0)

    /** Attachment files still moving either way (0 when not reported). */
    val blobsLeft: Long get() = (blobsWanted ?: 0) + (blobsToSend ?: 0)

    /** Nothing wanted is missing and nothing owed is unsent, by every figure we have. */
    val done: Boolean
        get() = connected && peerKnown && fullySynced &&
            entriesWanted == 0L && entriesToSend == 0L && blobsLeft == 0L && blobBytesLeft == 0L

    /** The sum of two exchanges (one peer, two projects). */
    operator fun plus(o: SyncCounts): SyncCounts = SyncCounts(
        connected = connected && o.connected,
        peerKnown = peerKnown && o.peerKnown,
        peerDataSync = peerDataSync && o.peerDataSync,
        initialWanted = initialWanted + o.initialWanted,
        initialToSend = initialToSend + o.initialToSend,
        dataWanted = dataWanted + o.dataWanted,
        dataToSend = dataToSend + o.dataToSend,
        received = received + o.received,
        sent = sent + o.sent,
        fullySynced = fullySynced && o.fullySynced,
        blobsWanted = sumOrNull(blobsWanted, o.blobsWanted),
        blobsToSend = sumOrNull(blobsToSend, o.blobsToSend),
        blobBytesWanted = sumOrNull(blobBytesWanted, o.blobBytesWanted),
        blobBytesToSend = sumOrNull(blobBytesToSend, o.blobBytesToSend),
        blobBytesReceived = sumOrNull(blobBytesReceived, o.blobBytesReceived),
        blobBytesSent = sumOrNull(blobBytesSent, o.blobBytesSent),
    )
}

private fun sumOrNull(a: Long?, b: Long?): Long? = if (a == null && b == null) null else (a ?: 0) + (b ?: 0)

/** Where the exchange with one device stands. */
enum class ExchangeStage {
    /** Seen on the network, no session. */
    NOT_CONNECTED,

    /** Connected, but the two share no project (yet: an invite can change that). */
    NO_SHARED_PROJECT,

    /** Connected; the peer has not said what it holds. */
    STARTING,

    /** Roles, settings and categories moving. */
    SETTINGS,

    /** Observations and media moving. */
    EXCHANGING,

    /** The peer has exchange turned off: only settings move. */
    PEER_PAUSED,

    /** Nothing wanted is missing, nothing owed unsent. */
    DONE,
}

/** One device's progress as shown. [percent] is null when no honest figure exists. */
data class PeerProgress(val stage: ExchangeStage, val percent: Int?, val text: String)

/** Largest percent shown while anything is left: 100 means done, never "almost". */
const val MAX_PERCENT_NOT_DONE = 99

/** Progress of one device over every project exchanged with it ([perProject] may be empty). */
fun peerProgress(connected: Boolean, perProject: List<SyncCounts>): PeerProgress {
    if (!connected) return PeerProgress(ExchangeStage.NOT_CONNECTED, null, "Not connected")
    if (perProject.isEmpty()) {
        return PeerProgress(ExchangeStage.NO_SHARED_PROJECT, null, "Connected · no shared project")
    }
    val c = perProject.reduce(SyncCounts::plus)
    if (c.done && perProject.all { it.done }) {
        return PeerProgress(ExchangeStage.DONE, 100, "Done · up to date")
    }
    if (!c.peerKnown) return PeerProgress(ExchangeStage.STARTING, null, "Starting…")
    val percent = percentDone(c)
    val stage = when {
        c.initialWanted + c.initialToSend > 0 -> ExchangeStage.SETTINGS
        !c.peerDataSync && c.entriesWanted == 0L && c.blobsLeft == 0L -> ExchangeStage.PEER_PAUSED
        else -> ExchangeStage.EXCHANGING
    }
    val parts = mutableListOf<String>()
    when (stage) {
        ExchangeStage.SETTINGS -> parts += "Getting roles and settings"
        ExchangeStage.PEER_PAUSED -> parts += "The other device has not started exchanging"
        else -> {}
    }
    if (c.entriesWanted > 0) parts += "receiving ${c.received} of ${c.received + c.entriesWanted}"
    if (c.entriesToSend > 0) parts += "sending ${c.sent} of ${c.sent + c.entriesToSend}"
    val filesWanted = c.blobsWanted ?: 0
    if (filesWanted > 0) parts += "${plural(filesWanted, "media file")} to come (${formatBytes(c.blobBytesWanted ?: 0)})"
    val filesToSend = c.blobsToSend ?: 0
    if (filesToSend > 0) parts += "${plural(filesToSend, "media file")} to send (${formatBytes(c.blobBytesToSend ?: 0)})"
    if (parts.isEmpty()) parts += "Finishing"
    val text = parts.joinToString(" · ").replaceFirstChar { it.uppercase() }
    return PeerProgress(stage, percent, "$percent% · $text")
}

/**
 * Share of the work done, never 100 while anything is left. Entries and blob bytes count as
 * two halves when bytes are reported (a few entries can carry many megabytes of photos).
 */
fun percentDone(c: SyncCounts): Int {
    val entriesDone = c.received + c.sent
    val entriesTotal = entriesDone + c.entriesWanted + c.entriesToSend
    val entryShare = if (entriesTotal == 0L) 1.0 else entriesDone.toDouble() / entriesTotal
    val bytesDone = (c.blobBytesReceived ?: 0) + (c.blobBytesSent ?: 0)
    val bytesTotal = bytesDone + c.blobBytesLeft
    val share = if (bytesTotal == 0L) entryShare else (entryShare + bytesDone.toDouble() / bytesTotal) / 2
    val percent = (share * 100).toInt()
    return if (c.done) 100 else percent.coerceIn(0, MAX_PERCENT_NOT_DONE)
}

/** Bytes in the units people read: "820 B", "3.4 MB". */
fun formatBytes(bytes: Long): String {
    val units = listOf("B", "KB", "MB", "GB")
    var value = bytes.toDouble()
    var unit = 0
    while (value >= 1000 && unit < units.size - 1) {
        value /= 1000
        unit++
    }
    return if (unit == 0) "$bytes B" else String.format(java.util.Locale.ROOT, "%.1f %s", value, units[unit])
}

/** "1 media file", "3 media files". */
fun plural(n: Long, noun: String): String = if (n == 1L) "1 $noun" else "$n ${noun}s"
