// The map seams as the app wires them (MapeoViewLogic's DeviceMaps.swift) through the generated
// Swift bindings and the host build of the native library: the real fallback map
// (@comapeo/fallback-smp@1.0.0, which scripts/swift-test.sh fetches with npm and names in
// MAPEO_TEST_SMP) imported, made default and its style fetched over HTTP from the local server
// on 127.0.0.1; then shared from one device to another over 127.0.0.1, the offer pushed to the
// receiver's maps screen, accepted and in its library, and a second offer declined.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import MapeoKit
import MapeoViewLogic
import XCTest

/// The real fallback map; fails (never skips) without it.
func fallbackSmp() throws -> URL {
    let path = try XCTUnwrap(
        ProcessInfo.processInfo.environment["MAPEO_TEST_SMP"], "MAPEO_TEST_SMP: run scripts/swift-test.sh")
    XCTAssertTrue(FileManager.default.fileExists(atPath: path), "MAPEO_TEST_SMP names no file")
    return URL(fileURLWithPath: path)
}

/// GET `url`: status and body (bounded by `wait`).
func fetch(_ url: URL) async throws -> (status: Int, body: Data) {
    var request = URLRequest(url: url)
    request.timeoutInterval = wait
    return try await withCheckedThrowingContinuation { done in
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { return done.resume(throwing: error) }
            done.resume(returning: ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
        }.resume()
    }
}

final class MapsTests: XCTestCase {
    var root: URL!
    var a: Mapeo!
    var b: Mapeo!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-swift-maps-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        a = try Mapeo.open(dataDir: root.appendingPathComponent("a").path, rootKey: generateRootKey())
        b = try Mapeo.open(dataDir: root.appendingPathComponent("b").path, rootKey: generateRootKey())
        try a.setDeviceInfo(info: DeviceInfo(name: "Ana", deviceType: .mobile))
        try b.setDeviceInfo(info: DeviceInfo(name: "Bo", deviceType: .tablet))
    }

    override func tearDownWithError() throws {
        a = nil
        b = nil
        // The core may still be closing its databases: a file can vanish under the walk.
        for _ in 0..<20 {
            if (try? FileManager.default.removeItem(at: root)) != nil || !FileManager.default.fileExists(atPath: root.path) {
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try FileManager.default.removeItem(at: root)
    }

    func testAnImportedMapBecomesTheDefaultTheMapScreenLoadsFromTheLocalServer() async throws {
        let smp = try fallbackSmp()
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: smp.path)[.size] as? NSNumber).int64Value
        let library = DeviceMapLibrary(a)
        let server = LocalMapServer(a)

        // No map yet: the core's own fallback style, still from the server.
        guard case .url(let before) = await MapLayers.style(server: server) else { return XCTFail("no style URL") }
        let fallback = try await fetch(before).body
        XCTAssertTrue(String(decoding: fallback, as: UTF8.self).contains("Mapeo fallback"))

        let imported = try library.importMap(path: smp.path)
        XCTAssertEqual(imported.name, "Blank")
        XCTAssertEqual(imported.sizeBytes, size)
        XCTAssertTrue(imported.isDefault, "with no default, an imported map becomes it")
        XCTAssertEqual(try library.maps(), [imported])

        try library.setDefaultMap(mapId: imported.mapId)
        XCTAssertEqual(MapsScreen(maps: try library.maps(), offers: []).maps.map(\.title), ["Blank (default)"])
        guard case .url(let style) = await MapLayers.style(server: server) else { return XCTFail("no style URL") }
        XCTAssertEqual(style.host, "127.0.0.1")
        let (status, body) = try await fetch(style)
        XCTAssertEqual(status, 200)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        XCTAssertEqual(json["name"] as? String, "Blank")
        XCTAssertEqual(json["version"] as? Int, 8)
        // The map's own style URL serves the same style as the default's.
        let byId = try await fetch(try await server.styleUrl(mapId: imported.mapId))
        XCTAssertEqual(byId.body, body)

        try library.removeMap(mapId: imported.mapId)
        XCTAssertEqual(try library.maps(), [])
        let bad = root.appendingPathComponent("notes.smp")
        try Data("not a map".utf8).write(to: bad)
        XCTAssertThrowsError(try library.importMap(path: bad.path)) { error in
            guard case MapeoError.InvalidInput = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try library.maps(), [])
    }

    func testACoordinatorSharesAMapWithAFellowMemberWhoAcceptsItThenDeclinesASecondOffer() async throws {
        let smp = try fallbackSmp()
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: smp.path)[.size] as? NSNumber).int64Value
        let (a, b) = (self.a!, self.b!)
        let pa = try a.createProject(settings: ProjectSettings(name: "River watch"))
        let address = try await a.startListening(address: "127.0.0.1:0")
        let answered = try await b.connect(address: address)
        XCTAssertEqual(answered, a.deviceId())
        let bId = b.deviceId()
        try await eventually("a lists b as connected") { a.peers().contains { $0.deviceId == bId && $0.connected } }
        async let outcome = a.invite(
            projectId: pa.projectId(), deviceId: bId, role: .member, roleName: nil, roleDescription: nil)
        try await eventually("the invite reaches b") { !b.pendingInvites().isEmpty }
        _ = try await b.acceptInvite(inviteId: try XCTUnwrap(b.pendingInvites().first).inviteId)
        let inviteOutcome = try await outcome
        XCTAssertEqual(inviteOutcome, .accepted)

        let (libraryA, libraryB) = (DeviceMapLibrary(a), DeviceMapLibrary(b))
        let (sharesA, sharesB) = (DeviceMapShares(a), DeviceMapShares(b))
        let map = try libraryA.importMap(path: smp.path)
        // What b's maps screen is pushed, in order.
        let pushed = Recorder<[MapShareOffer]>()
        let watch = try sharesB.watch { pushed.add($0) }
        try await eventually("the screen gets the offers at once") { pushed.last != nil }
        XCTAssertEqual(pushed.last, [])

        let id = try await sharesA.share(mapId: map.mapId, deviceId: bId)
        try await eventually("the offer pushed to b's screen") { pushed.last?.contains { $0.shareId == id } == true }
        let offer = try XCTUnwrap(pushed.last?.first)
        XCTAssertEqual(
            offer, MapShareOffer(shareId: id, mapName: "Blank", senderName: "Ana", sizeBytes: size, receivedBytes: 0))
        XCTAssertEqual(try sharesB.offers(), [offer])
        XCTAssertEqual(MapsScreen(maps: try libraryB.maps(), offers: [offer]).offers.map(\.title), ["Blank from Ana"])

        try await sharesB.accept(shareId: id)
        try await eventually("the map in b's library") { try libraryB.maps().contains { $0.mapId == map.mapId } }
        XCTAssertEqual(try libraryB.maps().map(\.sizeBytes), [size])
        try await eventually("the installed map leaves the offers") { pushed.last == [] }
        try await eventually("a's side installed") { try a.mapShares().first { $0.shareId == id }?.state == .installed }

        let second = try await sharesA.share(mapId: map.mapId, deviceId: bId)
        try await eventually("the second offer pushed") { pushed.last?.contains { $0.shareId == second } == true }
        try await sharesB.decline(shareId: second)
        try await eventually("the declined offer leaves b's screen") { pushed.last == [] }
        try await eventually("a hears the decline") {
            try a.mapShares().first { $0.shareId == second }?.state == .declined
        }
        XCTAssertEqual(try libraryB.maps().map(\.mapId), [map.mapId])
        watch.cancel()
        try await a.close()
        try await b.close()
    }
}
