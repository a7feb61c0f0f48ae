// The maps screen (the same as Android's MapsScreen.kt): the device's map packages, the
// default first, with size and zoom range, and map-share offers with their progress, over
// the `MapLibrary` and `MapShares` seams (DeviceMaps.swift implements them over the bindings;
// offers are pushed by the core as they change).
import Foundation
import MapeoKit

/// A map package on this device.
public struct MapPackage: Equatable, Sendable {
    public var mapId: String
    public var name: String
    public var isDefault: Bool
    public var sizeBytes: Int64
    public var minZoom: Int
    public var maxZoom: Int

    public init(mapId: String, name: String, isDefault: Bool, sizeBytes: Int64, minZoom: Int, maxZoom: Int) {
        self.mapId = mapId
        self.name = name
        self.isDefault = isDefault
        self.sizeBytes = sizeBytes
        self.minZoom = minZoom
        self.maxZoom = maxZoom
    }
}

/// A map offered to this device: waiting for an answer, or accepted and arriving.
public struct MapShareOffer: Equatable, Sendable {
    public var shareId: String
    public var mapName: String
    public var senderName: String?
    public var sizeBytes: Int64
    public var receivedBytes: Int64
    /// Accepted: the package is arriving (progress in `receivedBytes`).
    public var accepted: Bool

    public init(
        shareId: String, mapName: String, senderName: String?, sizeBytes: Int64, receivedBytes: Int64,
        accepted: Bool = false
    ) {
        self.shareId = shareId
        self.mapName = mapName
        self.senderName = senderName
        self.sizeBytes = sizeBytes
        self.receivedBytes = receivedBytes
        self.accepted = accepted
    }
}

/// The device's maps: list, import from a file, set the default, remove.
public protocol MapLibrary: AnyObject {
    func maps() throws -> [MapPackage]
    func importMap(path: String) throws -> MapPackage
    func setDefaultMap(mapId: String) throws
    func removeMap(mapId: String) throws
}

/// Map offers to this device, and offering a map to a connected device.
public protocol MapShares: AnyObject {
    /// The offers now.
    func offers() throws -> [MapShareOffer]
    /// Calls `onChange` with the offers now, then whenever a share changes (an offer arrives,
    /// bytes move, a map is installed, a share ends), on a core thread, until the returned
    /// handle is cancelled.
    func watch(_ onChange: @escaping @Sendable ([MapShareOffer]) -> Void) throws -> TaskHandle
    /// Accepts an offer: the map arrives, is checked, then appears in the device's maps.
    func accept(shareId: String) async throws
    /// Declines an offer, or stops one that is arriving: nothing of it is kept.
    func decline(shareId: String) async throws
    /// Offers map `mapId` to connected device `deviceId`; returns the share's id.
    func share(mapId: String, deviceId: String) async throws -> String
}

public struct MapsScreen: Equatable {
    public struct MapRow: Equatable, Identifiable {
        public var id: String
        public var title: String
        public var detail: String
        public var isDefault: Bool
    }

    public struct OfferRow: Equatable, Identifiable {
        public var id: String
        public var title: String
        public var progress: String
        public var fraction: Double
        /// Arriving: the screen offers to stop it rather than to accept it.
        public var accepted: Bool
    }

    public var maps: [MapRow]
    public var offers: [OfferRow]
    public var empty: String?

    /// "12.3 MB", "850 kB", "0 B" (decimal units, as phones show storage).
    public static func bytes(_ n: Int64) -> String {
        let b = max(n, 0)
        if b >= 1_000_000_000 { return String(format: "%.1f GB", Double(b) / 1e9) }
        if b >= 1_000_000 { return String(format: "%.1f MB", Double(b) / 1e6) }
        if b >= 1_000 { return "\(b / 1_000) kB" }
        return "\(b) B"
    }

    public init(maps: [MapPackage], offers: [MapShareOffer]) {
        self.maps = maps.sorted {
            if $0.isDefault != $1.isDefault { return $0.isDefault }
            if $0.name.lowercased() != $1.name.lowercased() { return $0.name.lowercased() < $1.name.lowercased() }
            return $0.mapId < $1.mapId
        }.map {
            MapRow(
                id: $0.mapId, title: $0.name + ($0.isDefault ? " (default)" : ""),
                detail: "\(Self.bytes($0.sizeBytes)) · zoom \($0.minZoom)–\($0.maxZoom)", isDefault: $0.isDefault)
        }
        self.offers = offers.map { o in
            OfferRow(
                id: o.shareId, title: "\(o.mapName) from \(o.senderName ?? "a coordinator")",
                progress: o.receivedBytes > 0 ? "\(Self.bytes(o.receivedBytes)) of \(Self.bytes(o.sizeBytes))" : Self.bytes(o.sizeBytes),
                fraction: o.sizeBytes > 0 ? min(max(Double(o.receivedBytes) / Double(o.sizeBytes), 0), 1) : 0,
                accepted: o.accepted)
        }
        empty = self.maps.isEmpty && self.offers.isEmpty
            ? "No maps on this phone: import a map file, or ask a coordinator to share one." : nil
    }
}
