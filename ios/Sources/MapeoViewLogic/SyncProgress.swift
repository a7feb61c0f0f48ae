// Per-device exchange progress as the Exchange screen shows it: a stage, a fraction and a
// line of text, computed only from the core's exact counts (`PeerSyncState`). "Up to date"
// and 100% only when the core says the exchange is fully synced, never from a rounded
// fraction.
import Foundation
import MapeoKit

/// Where one peer's exchange of one project stands.
public enum ExchangeStage: Equatable, Sendable {
    /// The session is down.
    case disconnected
    /// Connected, but the peer has not yet told what it holds.
    case waitingForPeer
    /// Roles and settings are exchanged; observations wait until the peer turns on Exchange.
    case peerNotExchanging
    /// Something is still moving.
    case exchanging
    /// Nothing left to exchange, photos included (the core's `fullySynced`).
    case upToDate
}

/// What the Exchange screen shows for one peer and one project.
public struct PeerProgress: Equatable, Sendable {
    /// The stage.
    public let stage: ExchangeStage
    /// From 0 to 1; `nil` while unknown. Exactly 1 only when `stage == .upToDate`.
    public let fraction: Double?
    /// One line for the user.
    public let text: String
}

/// Progress fractions shown while something is still missing stay below this, so a bar never
/// looks full before the core says the exchange is done.
public let maxFractionUntilDone = 0.99

/// Turns the core's counts into what the Exchange screen shows.
public enum SyncProgress {
    /// The progress of one peer's exchange of one project.
    public static func progress(_ s: PeerSyncState) -> PeerProgress {
        if !s.connected {
            if s.fullySynced {
                return PeerProgress(stage: .disconnected, fraction: nil, text: "Not connected · was up to date")
            }
            return PeerProgress(stage: .disconnected, fraction: nil, text: "Not connected")
        }
        if !s.peerKnown {
            return PeerProgress(
                stage: .waitingForPeer, fraction: nil, text: "Connected · asking what the other device has")
        }
        if s.fullySynced {
            return PeerProgress(stage: .upToDate, fraction: 1, text: "Up to date")
        }
        let entriesLeft = s.initialWanted + s.initialToSend + s.dataWanted + s.dataToSend
        let bytesLeft = s.blobBytesWanted + s.blobBytesToSend
        let filesLeft = s.blobsWanted + s.blobsToSend
        if !s.peerDataSync && s.initialSynced && entriesLeft == 0 && filesLeft == 0 {
            return PeerProgress(
                stage: .peerNotExchanging, fraction: nil,
                text: "Settings up to date · observations wait for the other device to start Exchange")
        }

        var parts: [String] = []
        if s.initialWanted + s.initialToSend > 0 {
            parts.append("settings and members: \(s.initialWanted + s.initialToSend) to go")
        }
        let entriesDone = s.received + s.sent
        if s.dataWanted + s.dataToSend > 0 || entriesDone > 0 {
            var text = "observations: \(s.received) received, \(s.sent) sent"
            if s.dataWanted + s.dataToSend > 0 {
                text += ", \(s.dataWanted + s.dataToSend) to go"
            }
            parts.append(text)
        }
        let bytesDone = s.blobBytesReceived + s.blobBytesSent
        if filesLeft > 0 || bytesDone > 0 {
            var text = "photos and media: \(ByteText.format(bytesDone)) of \(ByteText.format(bytesDone + bytesLeft))"
            if filesLeft > 0 {
                text += " (\(filesLeft) \(filesLeft == 1 ? "file" : "files") to go)"
            }
            parts.append(text)
        } else if !s.peerBlobsKnown {
            parts.append("asking which photos the other device has")
        }
        if parts.isEmpty {
            // Connected and known, nothing counted as missing, yet the core does not call it
            // done (for example a confirmation still on its way): say so, not 100%.
            parts.append("finishing")
        }

        // Each kind of work counts by its own share; kinds with nothing to do are left out.
        var shares: [Double] = []
        if entriesDone + entriesLeft > 0 {
            shares.append(Double(entriesDone) / Double(entriesDone + entriesLeft))
        }
        if bytesDone + bytesLeft > 0 {
            shares.append(Double(bytesDone) / Double(bytesDone + bytesLeft))
        }
        let fraction = shares.isEmpty ? 0 : shares.reduce(0, +) / Double(shares.count)
        let text = "Exchanging · " + parts.joined(separator: " · ")
        return PeerProgress(stage: .exchanging, fraction: min(fraction, maxFractionUntilDone), text: text)
    }
}

/// Byte counts for people: decimal units (1 MB = 1,000,000 bytes), one decimal from KB up,
/// the same on every platform and locale.
public enum ByteText {
    /// `0 B`, `999 B`, `1.5 KB`, `12.3 MB`, `2.0 GB`.
    public static func format(_ bytes: UInt64) -> String {
        let units: [(UInt64, String)] = [(1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "KB")]
        // A unit is used from the point where the one below would show 1000.0.
        for (size, unit) in units where bytes >= size - size / 20_000 {
            // Integer tenths, rounded half up, without overflow near UInt64.max.
            let tenth = size / 10
            var tenths = bytes / tenth
            if (bytes % tenth) * 2 >= tenth { tenths += 1 }
            return "\(tenths / 10).\(tenths % 10) \(unit)"
        }
        return "\(bytes) B"
    }
}
