// The map and patrols in MapeoViewLogic, against the real library (host build): the area and
// camera decisions, the fallback style, the points feed refreshing when sync over 127.0.0.1
// brings an observation, a patrol resumed after its device was closed mid-walk and saved as a
// track with distance and duration, and an observation placed on the map.
import Foundation
import MapeoKit
import XCTest

@testable import MapeoViewLogic

private let t0: Int64 = 1_735_689_600_000
private let world = BoundingBox(south: -90, west: -180, north: 90, east: 180)

final class MapLogicTests: XCTestCase {
    func testTheVisibleAreaIsClampedAndWrapped() {
        XCTAssertEqual(visibleBox(south: -95, west: -400, north: 95, east: 400), world)
        XCTAssertEqual(
            visibleBox(south: -18, west: 170, north: -16, east: 190),
            BoundingBox(south: -18, west: 170, north: -16, east: -170))
        XCTAssertEqual(wrapLongitude(180), 180)
        XCTAssertEqual(wrapLongitude(181), -179)
    }

    func testTheCameraFitsEveryObservationAndCrossesTheAntimeridianWhenSmaller() {
        XCTAssertEqual(cameraFor([]), .nothing)
        XCTAssertEqual(cameraFor([(-3, -60), (-3, -60)]), .point(latitude: -3, longitude: -60, zoom: MapLayers.singlePointZoom))
        XCTAssertEqual(
            cameraFor([(-3, -60), (-4, -62), (-3.5, -61)]),
            .box(BoundingBox(south: -4, west: -62, north: -3, east: -60)))
        XCTAssertEqual(
            cameraFor([(-16, 178), (-18, -179.5), (-17, 179)]),
            .box(BoundingBox(south: -18, west: 178, north: -16, east: -179.5)))
    }

    /// A server that cannot start, as on a phone with no free port.
    final class FailingServer: MapServer {
        func styleUrl(mapId: String?) async throws -> URL { throw MapeoError.Network(reason: "no server") }
        func iconUrl(projectId: String, categoryId: String, size: IconSize, pixelDensity: Int?) async throws -> URL? {
            nil
        }
    }

    func testWithoutAServerOrWhenItFailsTheFallbackStyleShows() async {
        guard case .json(let json) = await MapLayers.style(server: nil) else { return XCTFail("expected the fallback") }
        XCTAssertTrue(json.contains(#""version":8"#))
        let icons = await MapLayers.categoryIcons(projectId: "p", [], server: nil, pixelDensity: 2)
        XCTAssertTrue(icons.isEmpty)
        let failing = await MapLayers.style(server: FailingServer())
        XCTAssertEqual(failing, .json(MapLayers.fallbackStyleJSON))
    }

    func testPatrolTexts() {
        XCTAssertEqual(PatrolText.duration(ms: 290_000), "4:50")
        XCTAssertEqual(PatrolText.duration(ms: 3_723_000), "1:02:03")
        XCTAssertEqual(PatrolText.distance(metres: 850.2), "850 m")
        XCTAssertEqual(PatrolText.distance(metres: 2_449), "2.4 km")
        XCTAssertEqual(Tracks.lineGeoJSON([(1, 2)]), #"{"type":"FeatureCollection","features":[]}"#)
    }
}

final class MapAndPatrolTests: XCTestCase {
    var dirs: [URL] = []

    func tempDir() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-map-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        dirs.append(url)
        return url.appendingPathComponent("data").path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
    }

    /// Polls `check` until it holds, at most 60 s.
    func eventually(_ what: String, _ check: () throws -> Bool) rethrows {
        let deadline = Date().addingTimeInterval(60)
        while try !check() {
            if Date() > deadline { return XCTFail("timed out waiting for: \(what)") }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    func testTheMapShowsPointsByCategoryAndRefreshesWhenSyncBringsOne() async throws {
        let a = try Mapeo.open(dataDir: try tempDir(), rootKey: generateRootKey())
        let b = try Mapeo.open(dataDir: try tempDir(), rootKey: generateRootKey())
        let pa = try a.createProject(settings: ProjectSettings(name: "River watch"))
        let pb = try b.joinProject(joinDetails: try a.joinDetails(projectId: pa.projectId()))
        try pa.assignRole(deviceId: b.deviceId(), role: .member)
        let shown = Shown()
        let feed = try MapPointsFeed(project: pb) { shown.add($0) }
        try feed.show(world)
        XCTAssertEqual(shown.last?.count, 0)

        let address = try await a.startListening(address: "127.0.0.1:0")
        let answered = try await b.connect(address: address)
        XCTAssertEqual(answered, a.deviceId())
        try a.startSync(projectId: pa.projectId())
        try b.startSync(projectId: pa.projectId())
        let mining = try pa.createPreset(value: Preset(name: "Mining", geometry: [.point], color: "#E4572E"))
        let seen = try pa.createObservation(
            value: Observation(
                lat: -3.46, lon: -62.21, presetRef: DocRef(docId: mining.meta.docId, versionId: mining.meta.versionId)))
        eventually("the synced point is on the map without a reload") { shown.last?.count == 1 }
        let json = try XCTUnwrap(shown.last?.geojson)
        XCTAssertTrue(json.contains(#""docId":"\#(seen.meta.docId)""#), json)
        XCTAssertTrue(json.contains(##""color":"#E4572E""##), json)
        feed.close()
        XCTAssertEqual(
            cameraFor(places(try pb.listObservations(query: Query()))), .point(latitude: -3.46, longitude: -62.21, zoom: 15))
        try await a.close()
        try await b.close()
    }

    func testAPatrolResumesAfterItsDeviceClosedMidWalkAndSavesATrack() async throws {
        let key = generateRootKey()
        let dir = try tempDir()
        var phone: Mapeo? = try Mapeo.open(dataDir: dir, rootKey: key)
        let projectId = try phone!.createProject(settings: ProjectSettings(name: "Patrols")).projectId()
        var summary: PatrolSummary
        do {
            let project = try phone!.openProject(projectId: projectId)
            XCTAssertNil(try PatrolSession.resume(project))
            let session = try PatrolSession.resumeOrStart(project)
            for i in 0..<30 {
                let fix = LocationFix(
                    latitude: -3.0 + Double(i) * 0.0001, longitude: -60, accuracy: 4, timestampMs: t0 + Int64(i) * 10_000)
                XCTAssertEqual(try session.offer(fix), .recorded)
                if i == 10 { _ = try project.createObservation(value: Observation(lat: -2.999, lon: -60)) }
            }
            XCTAssertEqual(
                try session.offer(LocationFix(latitude: -2, longitude: -60, accuracy: 300, timestampMs: t0 + 300_000)),
                .droppedInaccurate)
            XCTAssertNil(try session.offer(LocationFix(latitude: 95, longitude: 0, timestampMs: t0 + 310_000)))
            summary = try session.summary()
            XCTAssertEqual(PatrolText.recording(summary, nowMs: summary.startedAt + 290_000), "4:50 · 322 m")
        }
        // Closed with the patrol under way.
        try await phone!.close()
        phone = nil

        let again = try Mapeo.open(dataDir: dir, rootKey: key)
        let project = try again.openProject(projectId: projectId)
        let resumed = try XCTUnwrap(try PatrolSession.resume(project))
        XCTAssertEqual(try resumed.summary(), summary)
        XCTAssertEqual(try resumed.line().count, 30)
        let track = try resumed.save(notes: "north ridge")
        XCTAssertNil(try PatrolSession.resume(project))
        let detail = Tracks.detail(track)
        XCTAssertEqual(detail.distance, "322 m")
        XCTAssertEqual(detail.duration, "4:50")
        XCTAssertEqual(detail.notes, "north ridge")
        XCTAssertEqual(detail.observationIds, try project.listObservations(query: Query()).map(\.meta.docId))
        XCTAssertTrue(Tracks.geoJSON(try project.listTracks(query: Query())).contains("[-60.0,-3.0]"))
        try await again.close()
    }

    func testAnObservationPlacedOnTheMapIsMarkedAsPlacedByHand() throws {
        var form = ObservationForm(projectHasPresets: false)
        XCTAssertTrue(form.problems(nowMs: t0).contains(.noLocation))
        form.placed = PlacedPoint(latitude: -3.1, longitude: -60.2)
        XCTAssertFalse(form.problems(nowMs: t0).contains(.noLocation), "a placed point is a location")
        form.fix = LocationFix(latitude: -3, longitude: -60, accuracy: 6, timestampMs: t0)
        let o = try XCTUnwrap(form.observation(nowMs: t0))
        XCTAssertEqual(o.lat, -3.1)
        XCTAssertEqual(o.lon, -60.2)
        XCTAssertEqual(o.metadata?.manualLocation, true)
        XCTAssertEqual(o.metadata?.position?.coords?.latitude, -3)
        form.placed = PlacedPoint(latitude: 91, longitude: 0)
        XCTAssertFalse(form.canSave(nowMs: t0))
    }
}

/// Every MapPoints the feed delivered, from the library's threads.
private final class Shown: @unchecked Sendable {
    private let lock = NSLock()
    private var all: [MapPoints] = []
    func add(_ p: MapPoints) { lock.withLock { all.append(p) } }
    var last: MapPoints? { lock.withLock { all.last } }
}

final class MapsScreenTests: XCTestCase {
    func testMapsListTheDefaultFirstThenByNameAndOffersShowProgress() {
        let s = MapsScreen(
            maps: [
                MapPackage(mapId: "b", name: "river basin", isDefault: false, sizeBytes: 12_345_678, minZoom: 0, maxZoom: 14),
                MapPackage(mapId: "a", name: "Aldea", isDefault: false, sizeBytes: 850_000, minZoom: 5, maxZoom: 16),
                MapPackage(mapId: "c", name: "Territory", isDefault: true, sizeBytes: 1_200_000_000, minZoom: 0, maxZoom: 12),
            ],
            offers: [MapShareOffer(shareId: "s1", mapName: "Territory 2025", senderName: "Ana", sizeBytes: 2_000_000, receivedBytes: 500_000)])
        XCTAssertEqual(s.maps.map(\.title), ["Territory (default)", "Aldea", "river basin"])
        XCTAssertEqual(s.maps[0].detail, "1.2 GB · zoom 0–12")
        XCTAssertEqual(s.offers[0].title, "Territory 2025 from Ana")
        XCTAssertEqual(s.offers[0].progress, "500 kB of 2.0 MB")
        XCTAssertEqual(s.offers[0].fraction, 0.25)
        XCTAssertNil(s.empty)
        XCTAssertNotNil(MapsScreen(maps: [], offers: []).empty)
    }
}
