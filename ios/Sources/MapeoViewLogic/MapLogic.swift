// The map screen's decisions, the same as Android's (android/logic MapPoints.kt, MapSeams.kt,
// Tracks.kt): the seam to the local map/media server, the fallback style, the area asked of the
// core, the camera for a project's observations (across the antimeridian too), the feed that
// keeps the points current when the map moves or sync brings observations in, and tracks as
// GeoJSON lines with their distance and duration.
import Foundation
import MapeoKit

/// What the map needs from the device's local server on 127.0.0.1 (`mapStyleUrl`, `iconUrl`);
/// `LocalMapServer` (DeviceMaps.swift) implements it over the bindings. Async: the server
/// starts on first use.
public protocol MapServer: AnyObject {
    /// The style URL of map `mapId`, or of the default map when nil (the core's own fallback
    /// style when no default is chosen).
    func styleUrl(mapId: String?) async throws -> URL
    /// The icon of category `categoryId` (a preset's doc id) of project `projectId` at `size`:
    /// its PNG for `pixelDensity` (1–3; the server draws it from the SVG when the categories
    /// file has none), or with no density as the file has it (SVG first, else its smallest PNG); nil
    /// when the category has no icon.
    func iconUrl(projectId: String, categoryId: String, size: IconSize, pixelDensity: Int?) async throws -> URL?
}

/// How the map view loads its style.
public enum MapStyle: Equatable {
    case url(URL)
    case json(String)
}

public enum MapLayers {
    public static let pointsSource = "mapeo-observations"
    public static let pointsCircleLayer = "mapeo-observations-circle"
    public static let pointsIconLayer = "mapeo-observations-icon"
    public static let tracksSource = "mapeo-tracks"
    public static let tracksLayer = "mapeo-tracks-line"
    public static let patrolSource = "mapeo-patrol"
    public static let patrolLayer = "mapeo-patrol-line"
    /// Properties the core puts on each point.
    public static let docIdProperty = "docId"
    public static let colorProperty = "color"
    public static let opacityProperty = "opacity"
    public static let iconIdProperty = "iconId"
    /// Radius of a point, points: big enough for a thumb.
    public static let pointRadius = 9.0
    /// Icon size asked of the server.
    public static let iconSize = IconSize.medium
    /// Zoom for a single observation.
    public static let singlePointZoom = 15.0
    /// Smallest span (degrees) of a camera box.
    public static let minCameraSpanDegrees = 0.005
    /// Points asked for one view (the core caps it again).
    public static let pointsPerView: UInt32 = 2_000
    public static let trackColor = "#E4572E"
    public static let backgroundColor = "#EFE9DC"

    /// A MapLibre style (version 8) with only a background; observations go on top.
    public static let fallbackStyleJSON =
        ##"{"version":8,"name":"Mapeo (no map)","sources":{},"layers":[{"id":"background","type":"background","paint":{"background-color":"#EFE9DC"}}]}"##

    /// The server's default map (or the core's fallback style) if the server answers, else
    /// the inline fallback, so the observations still show.
    public static func style(server: MapServer?) async -> MapStyle {
        if let server, let url = try? await server.styleUrl(mapId: nil) { return .url(url) }
        return .json(fallbackStyleJSON)
    }

    /// The image name a category icon is registered under in the style.
    public static func iconImageName(iconId: String) -> String { "mapeo-icon-\(iconId)" }

    /// The icons of project `projectId`'s `presets`, as PNGs at the screen's `pixelDensity`
    /// or as the categories file has them when nil: (category id, image name, URL).
    public static func categoryIcons(projectId: String, _ presets: [PresetDoc], server: MapServer?, pixelDensity: Int?)
        async -> [(categoryId: String, name: String, url: URL)]
    {
        guard let server else { return [] }
        var icons: [(categoryId: String, name: String, url: URL)] = []
        for p in presets where !p.meta.deleted {
            // `try?` flattens: nil for no icon and for a server that failed alike.
            guard let icon = p.value.iconRef?.docId,
                let url = try? await server.iconUrl(
                    projectId: projectId, categoryId: p.meta.docId, size: iconSize, pixelDensity: pixelDensity)
            else { continue }
            icons.append((p.meta.docId, iconImageName(iconId: icon), url))
        }
        return icons
    }
}

/// A longitude brought into -180...180 (180 stays 180).
public func wrapLongitude(_ lon: Double) -> Double {
    if (-180.0...180.0).contains(lon) { return lon }
    let w = ((lon + 180).truncatingRemainder(dividingBy: 360) + 360).truncatingRemainder(dividingBy: 360) - 180
    return (w == -180 && lon > 0) ? 180 : w
}

/// The area to ask the core for, from the map's visible bounds: latitudes clamped,
/// longitudes wrapped (`west > east` across the antimeridian), the world when it spans it.
public func visibleBox(south: Double, west: Double, north: Double, east: Double) -> BoundingBox {
    let s = min(max(south, -90), 90)
    let n = min(max(north, -90), 90)
    if east - west >= 360 || west.isNaN || east.isNaN {
        return BoundingBox(south: s, west: -180, north: n, east: 180)
    }
    return BoundingBox(south: s, west: wrapLongitude(west), north: n, east: wrapLongitude(east))
}

/// Where the camera goes to show a project's observations.
public enum CameraTarget: Equatable {
    case nothing
    case point(latitude: Double, longitude: Double, zoom: Double)
    case box(BoundingBox)
}

/// The places (latitude, longitude) of observations, deleted and placeless ones left out.
public func places(_ observations: [ObservationDoc]) -> [(Double, Double)] {
    observations.filter { !$0.meta.deleted }.compactMap { o in
        guard let lat = o.value.lat, let lon = o.value.lon else { return nil }
        return (lat, lon)
    }
}

/// The smallest box holding every place — across the antimeridian when that is smaller —
/// at least `MapLayers.minCameraSpanDegrees` wide and high.
public func cameraFor(_ places: [(Double, Double)]) -> CameraTarget {
    guard !places.isEmpty else { return .nothing }
    let lats = places.map(\.0)
    let lons = Array(Set(places.map(\.1))).sorted()
    let minLat = lats.min()!, maxLat = lats.max()!
    if lons.count == 1 && minLat == maxLat {
        return .point(latitude: minLat, longitude: lons[0], zoom: MapLayers.singlePointZoom)
    }
    var west = lons.first!, east = lons.last!
    var widest = 360 - (east - west)
    for i in lons.indices.dropFirst() where lons[i] - lons[i - 1] > widest {
        widest = lons[i] - lons[i - 1]
        west = lons[i]
        east = lons[i - 1]
    }
    var south = minLat, north = maxLat
    let minSpan = MapLayers.minCameraSpanDegrees
    if north - south < minSpan {
        let mid = (north + south) / 2
        south = max(mid - minSpan / 2, -90)
        north = min(mid + minSpan / 2, 90)
    }
    let span = west <= east ? east - west : east + 360 - west
    if span < minSpan {
        let grow = (minSpan - span) / 2
        west = wrapLongitude(west - grow)
        east = wrapLongitude(east + grow)
    }
    return .box(BoundingBox(south: south, west: west, north: north, east: east))
}

/// Keeps the map's points current: `show` asks for the points of the area the map shows,
/// and each change to the project (saved here or brought by sync) asks again for the last
/// area, with no reload. `onPoints` runs on the library's thread: hop to the main actor.
public final class MapPointsFeed: ProjectChangeListener, @unchecked Sendable {
    private let project: Project
    private let limit: UInt32
    private let onPoints: (MapPoints) -> Void
    private let lock = NSLock()
    private var area: BoundingBox?
    private var handle: TaskHandle?

    public init(project: Project, limit: UInt32 = MapLayers.pointsPerView, onPoints: @escaping (MapPoints) -> Void) throws {
        self.project = project
        self.limit = limit
        self.onPoints = onPoints
        handle = try project.subscribeChanges(listener: self)
    }

    /// Shows the points of `box` now, and keeps showing that area's points.
    public func show(_ box: BoundingBox) throws {
        lock.withLock { area = box }
        try refresh()
    }

    public func onProjectChanged(generation: UInt64) throws {
        try refresh()
    }

    private func refresh() throws {
        guard let box = lock.withLock({ area }) else { return }
        onPoints(try project.mapPoints(bbox: box, limit: limit))
    }

    /// Stops following the project's changes.
    public func close() {
        handle?.cancel()
        handle = nil
    }
}

/// Text for patrols and tracks.
public enum PatrolText {
    /// "1:02:03" or "12:05".
    public static func duration(ms: Int64) -> String {
        let s = max(ms, 0) / 1000
        let h = s / 3600, m = (s % 3600) / 60, sec = s % 60
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
    }

    /// "850 m", or "2.4 km" from a kilometre.
    public static func distance(metres: Double) -> String {
        metres < 1000 ? "\(Int(max(metres, 0).rounded())) m" : String(format: "%.1f km", metres / 1000)
    }

    /// The recording banner: time since the start and distance walked.
    public static func recording(_ summary: PatrolSummary, nowMs: Int64) -> String {
        "\(duration(ms: nowMs - summary.startedAt)) · \(distance(metres: summary.distanceMetres))"
    }
}

/// The patrol under way in a project, as the app records it: resumed if the app was killed
/// while recording, else started. The core filters each position and writes kept ones to disk
/// before returning.
public final class PatrolSession {
    public let recording: PatrolRecording

    private init(_ recording: PatrolRecording) { self.recording = recording }

    /// The patrol under way in `project`, if the app was stopped while recording one.
    public static func resume(_ project: Project) throws -> PatrolSession? {
        try project.resumePatrol().map(PatrolSession.init)
    }

    public static func resumeOrStart(_ project: Project) throws -> PatrolSession {
        try resume(project) ?? PatrolSession(project.startPatrol())
    }

    /// Gives the core a reading; nil if the reading is impossible (and dropped).
    @discardableResult
    public func offer(_ fix: LocationFix) throws -> PositionOutcome? {
        let point = TrackPoint(
            timestamp: fix.timestampMs, mocked: fix.mocked,
            coords: Coords(
                latitude: fix.latitude, longitude: fix.longitude, altitude: fix.altitude,
                altitudeAccuracy: fix.altitudeAccuracy, heading: fix.heading, speed: fix.speed,
                accuracy: fix.accuracy))
        do {
            return try recording.addPosition(position: point)
        } catch MapeoError.InvalidInput {
            return nil
        }
    }

    public func summary() throws -> PatrolSummary { try recording.summary() }

    /// The line so far, (latitude, longitude).
    public func line() throws -> [(Double, Double)] {
        try recording.points().map { ($0.coords.latitude, $0.coords.longitude) }
    }

    /// Saves the patrol as a track, with `notes` if any.
    public func save(notes: String?) throws -> TrackDoc {
        let trimmed = notes?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return try recording.save(tags: trimmed.isEmpty ? [:] : ["notes": .text(value: trimmed)])
    }

    public func discard() throws { try recording.discard() }
}

/// Tracks on the map and in their detail.
public enum Tracks {
    /// One GeoJSON LineString per track (`docId` set).
    public static func geoJSON(_ tracks: [TrackDoc]) -> String {
        let features = tracks.filter { !$0.meta.deleted && $0.value.locations.count >= 2 }.map { t in
            line(id: t.meta.docId, t.value.locations.map { ($0.coords.latitude, $0.coords.longitude) })
        }
        return #"{"type":"FeatureCollection","features":["# + features.joined(separator: ",") + "]}"
    }

    /// The patrol being recorded as one line.
    public static func lineGeoJSON(_ points: [(Double, Double)]) -> String {
        points.count < 2
            ? #"{"type":"FeatureCollection","features":[]}"#
            : #"{"type":"FeatureCollection","features":["# + line(id: "patrol", points) + "]}"
    }

    private static func line(id: String, _ points: [(Double, Double)]) -> String {
        let coords = points.map { "[\($0.1),\($0.0)]" }.joined(separator: ",")
        return #"{"type":"Feature","id":""# + id + #"","properties":{"docId":""# + id
            + #""},"geometry":{"type":"LineString","coordinates":["# + coords + "]}}"
    }

    /// What a track's detail shows.
    public struct Detail: Equatable {
        public var distance: String
        public var duration: String
        public var observationIds: [String]
        public var notes: String?
    }

    public static func detail(_ track: TrackDoc) -> Detail {
        let points = track.value.locations
        var notes: String?
        if case .text(let value)? = track.value.tags["notes"] { notes = value }
        return Detail(
            distance: PatrolText.distance(metres: trackDistanceMetres(locations: points)),
            duration: PatrolText.duration(ms: trackDurationMs(locations: points)),
            observationIds: track.value.observationRefs.map(\.docId),
            notes: notes)
    }
}
