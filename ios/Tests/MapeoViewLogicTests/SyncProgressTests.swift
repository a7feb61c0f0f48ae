// The Exchange screen's progress: truthful stages, fractions and text from exact counts.
import MapeoKit
import XCTest

@testable import MapeoViewLogic

/// A sync state with everything zero and connected, known, not synced; change what a test needs.
func syncState(
    peer: String = "aa", connected: Bool = true, peerKnown: Bool = true, peerDataSync: Bool = true,
    initialWanted: UInt64 = 0, initialToSend: UInt64 = 0, dataWanted: UInt64 = 0, dataToSend: UInt64 = 0,
    received: UInt64 = 0, sent: UInt64 = 0, peerBlobsKnown: Bool = true, blobsWanted: UInt64 = 0,
    blobBytesWanted: UInt64 = 0, blobsToSend: UInt64 = 0, blobBytesToSend: UInt64 = 0,
    blobBytesReceived: UInt64 = 0, blobBytesSent: UInt64 = 0, phase: SyncPhase = .full,
    initialSynced: Bool = true, fullySynced: Bool = false
) -> PeerSyncState {
    PeerSyncState(
        peer: peer, connected: connected, peerKnown: peerKnown, peerDataSync: peerDataSync,
        initialWanted: initialWanted, initialToSend: initialToSend, dataWanted: dataWanted,
        dataToSend: dataToSend, received: received, sent: sent, peerBlobsKnown: peerBlobsKnown,
        blobsWanted: blobsWanted, blobBytesWanted: blobBytesWanted, blobsToSend: blobsToSend,
        blobBytesToSend: blobBytesToSend, blobBytesReceived: blobBytesReceived,
        blobBytesSent: blobBytesSent, phase: phase, initialSynced: initialSynced,
        fullySynced: fullySynced)
}

final class SyncProgressTests: XCTestCase {
    func testUpToDateOnlyWhenTheCoreSaysFullySynced() {
        let done = SyncProgress.progress(syncState(received: 10, fullySynced: true))
        XCTAssertEqual(done.stage, .upToDate)
        XCTAssertEqual(done.fraction, 1)
        XCTAssertEqual(done.text, "Up to date")

        // Every count at zero but the core not done: not 100%, not "up to date".
        let notYet = SyncProgress.progress(syncState(received: 10))
        XCTAssertEqual(notYet.stage, .exchanging)
        XCTAssertLessThan(notYet.fraction ?? 1, 1)
        XCTAssertFalse(notYet.text.contains("Up to date"), notYet.text)
    }

    func testNearlyDoneStaysBelowFull() {
        // 999,999 of 1,000,000 bytes: rounds to 100% but one byte is missing.
        let p = SyncProgress.progress(
            syncState(received: 5, blobsWanted: 1, blobBytesWanted: 1, blobBytesReceived: 999_999))
        XCTAssertEqual(p.stage, .exchanging)
        XCTAssertEqual(p.fraction, maxFractionUntilDone)
        XCTAssertTrue(p.text.contains("photos and media: 1.0 MB of 1.0 MB (1 file to go)"), p.text)
    }

    func testEntriesAndBlobBytesAreBothCounted() {
        let p = SyncProgress.progress(
            syncState(
                dataWanted: 30, dataToSend: 10, received: 20, sent: 20, blobsWanted: 3, blobBytesWanted: 7_500_000,
                blobBytesReceived: 2_500_000))
        XCTAssertEqual(
            p.text,
            "Exchanging · observations: 20 received, 20 sent, 40 to go · photos and media: 2.5 MB of 10.0 MB (3 files to go)"
        )
        // Entries 40 of 80 (0.5), bytes 2.5 of 10 MB (0.25): the mean.
        XCTAssertEqual(p.fraction!, 0.375, accuracy: 1e-9)
    }

    func testInitialPhaseAndUnknownBlobs() {
        let p = SyncProgress.progress(
            syncState(initialWanted: 4, initialToSend: 1, peerBlobsKnown: false, phase: .initial, initialSynced: false))
        XCTAssertEqual(p.text, "Exchanging · settings and members: 5 to go · asking which photos the other device has")
        XCTAssertEqual(p.fraction, 0)
    }

    func testDisconnectedWaitingAndPeerNotExchanging() {
        XCTAssertEqual(SyncProgress.progress(syncState(connected: false)).stage, .disconnected)
        XCTAssertNil(SyncProgress.progress(syncState(connected: false, fullySynced: true)).fraction)
        let waiting = SyncProgress.progress(syncState(peerKnown: false, fullySynced: true))
        XCTAssertEqual(waiting.stage, .waitingForPeer, "nothing counts before the peer has told")
        XCTAssertNil(waiting.fraction)
        XCTAssertEqual(SyncProgress.progress(syncState(peerDataSync: false)).stage, .peerNotExchanging)
        // Settings still moving while the peer does not exchange data: that is progress.
        XCTAssertEqual(
            SyncProgress.progress(syncState(peerDataSync: false, initialWanted: 2, initialSynced: false)).stage,
            .exchanging)
    }

    func testByteText() {
        XCTAssertEqual(ByteText.format(0), "0 B")
        XCTAssertEqual(ByteText.format(999), "999 B")
        XCTAssertEqual(ByteText.format(1_000), "1.0 KB")
        XCTAssertEqual(ByteText.format(1_549), "1.5 KB")
        XCTAssertEqual(ByteText.format(1_550), "1.6 KB")
        XCTAssertEqual(ByteText.format(999_949), "999.9 KB")
        XCTAssertEqual(ByteText.format(999_950), "1.0 MB")
        XCTAssertEqual(ByteText.format(12_345_678), "12.3 MB")
        XCTAssertEqual(ByteText.format(2_000_000_000), "2.0 GB")
        XCTAssertEqual(ByteText.format(UInt64.max), "18446744073.7 GB")
    }

    func testExchangeRowsAndSummary() {
        let peers = [
            PeerInfo(deviceId: "cc", name: "Zoe", deviceType: .mobile, connected: true),
            PeerInfo(deviceId: "bb", name: "", deviceType: .tablet, connected: false),
            PeerInfo(deviceId: "aa", name: "ana", deviceType: .mobile, connected: true),
        ]
        let states = [syncState(peer: "aa", fullySynced: true), syncState(peer: "cc", dataWanted: 3)]
        let rows = ExchangeScreen.rows(peers: peers, states: states)
        XCTAssertEqual(rows.map(\.id), ["aa", "cc", "bb"], "connected first, then by name")
        XCTAssertEqual(rows[2].name, "Unnamed device")
        XCTAssertNil(rows[2].progress)
        XCTAssertEqual(rows[0].progress?.stage, .upToDate)
        XCTAssertEqual(ExchangeScreen.summary(rows), "Exchanging with 1 of 2 devices")
        let done = ExchangeScreen.rows(peers: peers, states: [syncState(peer: "aa", fullySynced: true)])
        XCTAssertEqual(ExchangeScreen.summary(done), "Up to date with 1 device")
        XCTAssertEqual(ExchangeScreen.summary([]), "No devices connected")
        XCTAssertEqual(
            ExchangeScreen.summary(ExchangeScreen.rows(peers: peers, states: [])),
            "Connected devices do not share this project")
    }
}
