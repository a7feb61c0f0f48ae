// The blob figures of a bindings sync record, kept apart from ExchangeProgress.kt so the
// counts stay readable: attachment files (blobs) count by bytes, beside entries.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.PeerSyncState

/**
 * These counts with the blob figures of [s]. Until the peer has said which blobs it holds,
 * the bytes it may still owe are unknown: "done" then rests on the core's `fullySynced`,
 * which is false in that case.
 */
internal fun SyncCounts.withBlobs(s: PeerSyncState): SyncCounts = copy(
    peerKnown = peerKnown && s.peerBlobsKnown,
    blobsWanted = s.blobsWanted.toLong(),
    blobsToSend = s.blobsToSend.toLong(),
    blobBytesWanted = s.blobBytesWanted.toLong(),
    blobBytesToSend = s.blobBytesToSend.toLong(),
    blobBytesReceived = s.blobBytesReceived.toLong(),
    blobBytesSent = s.blobBytesSent.toLong(),
)
