// The map seams (MapLogic.swift's MapServer, MapsScreen.swift's MapLibrary and MapShares) over
// one device's bindings, the same as Android's DeviceMaps.kt: the local server's style and icon
// URLs, the map store, and map sharing with offers pushed by `MapShareListener` (no polling).
// Only conversions here: what a share may do and when a map is installed is the core's.
import Foundation
import MapeoKit

/// Pixel densities the categories files carry PNGs for (`@1x`…`@3x`).
public let iconDensities = 1...3

/// A URL the core made, or a typed error if it is not one (it always is).
private func url(_ text: String) throws -> URL {
    guard let url = URL(string: text) else { throw MapeoError.Storage(reason: "the local server gave no url") }
    return url
}

/// The device's local server (started by the core on first use).
public final class LocalMapServer: MapServer {
    private let device: Mapeo
    public init(_ device: Mapeo) { self.device = device }

    public func styleUrl(mapId: String?) async throws -> URL {
        try url(try await device.mapStyleUrl(mapId: mapId))
    }

    public func iconUrl(projectId: String, categoryId: String, size: IconSize, pixelDensity: Int?) async throws -> URL? {
        let density = pixelDensity.map { UInt8(min(max($0, iconDensities.lowerBound), iconDensities.upperBound)) }
        return try await device.iconUrl(projectId: projectId, presetDocId: categoryId, size: size, pixelDensity: density)
            .map(url)
    }
}

/// The device's map store.
public final class DeviceMapLibrary: MapLibrary {
    private let device: Mapeo
    public init(_ device: Mapeo) { self.device = device }

    public func maps() throws -> [MapPackage] { try device.maps().map(mapPackage) }
    public func importMap(path: String) throws -> MapPackage { mapPackage(try device.importMap(path: path)) }
    public func setDefaultMap(mapId: String) throws { try device.setDefaultMap(mapId: mapId) }
    public func removeMap(mapId: String) throws { try device.removeMap(mapId: mapId) }
}

/// Map sharing of the device.
public final class DeviceMapShares: MapShares {
    private let device: Mapeo
    public init(_ device: Mapeo) { self.device = device }

    public func offers() throws -> [MapShareOffer] { mapShareOffers(try device.mapShares()) }

    public func watch(_ onChange: @escaping @Sendable ([MapShareOffer]) -> Void) throws -> TaskHandle {
        try device.subscribeMapShares(listener: OfferListener(onChange))
    }

    public func accept(shareId: String) async throws { try await device.acceptMapShare(shareId: shareId) }
    public func decline(shareId: String) async throws { try await device.declineMapShare(shareId: shareId) }
    public func share(mapId: String, deviceId: String) async throws -> String {
        try await device.shareMap(mapId: mapId, deviceId: deviceId)
    }
}

private final class OfferListener: MapShareListener, @unchecked Sendable {
    private let onChange: @Sendable ([MapShareOffer]) -> Void
    init(_ onChange: @escaping @Sendable ([MapShareOffer]) -> Void) { self.onChange = onChange }
    func onMapShares(shares: [MapShare]) throws { onChange(mapShareOffers(shares)) }
}

/// A map of the store as the maps screen lists it.
public func mapPackage(_ m: MapInfo) -> MapPackage {
    MapPackage(
        mapId: m.id, name: m.name, isDefault: m.isDefault, sizeBytes: Int64(m.size), minZoom: Int(m.minZoom),
        maxZoom: Int(m.maxZoom))
}

/// The shares the maps screen shows as offers: those received and still open (waiting for an
/// answer, or accepted and arriving). Installed ones show as maps; declined, cancelled and
/// failed ones are gone.
public func mapShareOffers(_ shares: [MapShare]) -> [MapShareOffer] {
    shares.filter { $0.direction == .receiving && ($0.state == .offered || $0.state == .transferring) }.map {
        MapShareOffer(
            shareId: $0.shareId, mapName: $0.name, senderName: $0.deviceName.isEmpty ? nil : $0.deviceName,
            sizeBytes: Int64($0.size), receivedBytes: Int64($0.bytes), accepted: $0.state == .transferring)
    }
}
