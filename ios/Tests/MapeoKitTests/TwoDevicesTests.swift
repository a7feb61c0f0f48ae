// Two devices in one process through the generated Swift bindings and the host build of the
// native library: a project created on one, the other invited and accepting, an observation
// with a photo synced over 127.0.0.1 and arriving with its thumbnail; listeners; typed
// errors; async calls, concurrent and cancelled.
//
// The photo is a real 1000x750 JPEG that scripts/swift-test.sh writes with Pillow before the
// run and names in MAPEO_TEST_JPEG (nothing in the Swift root encodes JPEG). Without it the
// photo test fails; it is never skipped.
import Foundation
import MapeoKit
import MapeoViewLogic
import XCTest

/// Longest any wait in these tests may take.
let wait: TimeInterval = 30

/// Polls `check` until it holds; fails the test after `wait` seconds.
func eventually(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ check: () throws -> Bool)
    async throws
{
    let deadline = Date().addingTimeInterval(wait)
    while try !check() {
        if Date() > deadline {
            XCTFail("timed out waiting for: \(what)", file: file, line: line)
            throw CancellationError()
        }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}

/// Every call a listener got, in order; listeners are called on the core's threads.
final class Recorder<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [T] = []
    func add(_ value: T) {
        lock.lock()
        calls.append(value)
        lock.unlock()
    }
    var all: [T] {
        lock.lock()
        defer { lock.unlock() }
        return calls
    }
    var last: T? { all.last }
}

final class InviteRecorder: InviteListener, @unchecked Sendable {
    let seen = Recorder<[ReceivedInvite]>()
    func onInvites(invites: [ReceivedInvite]) throws { seen.add(invites) }
}

final class SyncRecorder: SyncListener, @unchecked Sendable {
    let seen = Recorder<[PeerSyncState]>()
    func onSyncState(projectId: String, peers: [PeerSyncState]) throws { seen.add(peers) }
}

final class PeerRecorder: PeerListener, @unchecked Sendable {
    let seen = Recorder<[PeerInfo]>()
    func onPeers(peers: [PeerInfo]) throws { seen.add(peers) }
}

final class RoleRecorder: RoleListener, @unchecked Sendable {
    let seen = Recorder<Role>()
    func onRole(role: Role) throws { seen.add(role) }
}

/// A listener that throws every time, as a broken app listener would.
final class ThrowingSyncListener: SyncListener, @unchecked Sendable {
    struct Broken: Error {}
    func onSyncState(projectId: String, peers: [PeerSyncState]) throws { throw Broken() }
}

/// Width and height from a JPEG's start-of-frame marker (SOF0 to SOF15 but DHT, JPG, DAC).
func jpegSize(_ data: Data) -> (width: Int, height: Int)? {
    let b = [UInt8](data)
    guard b.count > 4, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
    var i = 2
    while i + 9 < b.count {
        guard b[i] == 0xFF else { return nil }
        let marker = b[i + 1]
        let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
        if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
            return (Int(b[i + 7]) << 8 | Int(b[i + 8]), Int(b[i + 5]) << 8 | Int(b[i + 6]))
        }
        i += 2 + length
    }
    return nil
}

final class TwoDevicesTests: XCTestCase {
    var root: URL!
    var a: Mapeo!
    var b: Mapeo!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        a = try Mapeo.open(dataDir: root.appendingPathComponent("a").path, rootKey: generateRootKey())
        b = try Mapeo.open(dataDir: root.appendingPathComponent("b").path, rootKey: generateRootKey())
        try a.setDeviceInfo(info: DeviceInfo(name: "Ana", deviceType: .mobile))
        try b.setDeviceInfo(info: DeviceInfo(name: "Bo", deviceType: .tablet))
    }

    override func tearDownWithError() throws {
        a = nil
        b = nil
        // The core may still be closing its databases (SQLite removes its -wal and -shm
        // files then), so a file can vanish under the walk: try again, briefly.
        for _ in 0..<20 {
            if (try? FileManager.default.removeItem(at: root)) != nil || !FileManager.default.fileExists(atPath: root.path) {
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try FileManager.default.removeItem(at: root)
    }

    /// `a` creates a project and listens on 127.0.0.1 (port 0); `b` connects.
    func connected() async throws -> Project {
        let pa = try a.createProject(settings: ProjectSettings(name: "River watch", projectColor: "#2255aa"))
        let address = try await a.startListening(address: "127.0.0.1:0")
        let answered = try await b.connect(address: address)
        XCTAssertEqual(answered, a.deviceId())
        // b's connect returns once b has the session; a registers it a moment later, and an
        // invite sent before that finds b "not connected".
        let (a, bId) = (self.a!, b.deviceId())
        try await eventually("a lists b as connected") {
            a.peers().contains { $0.deviceId == bId && $0.connected }
        }
        return pa
    }

    /// `a` invites `b` as a member; `b` accepts once its invite listener shows the invite.
    func invited(_ pa: Project, listener: InviteRecorder) async throws -> Project {
        let (a, b) = (self.a!, self.b!)
        async let outcome = a.invite(
            projectId: pa.projectId(), deviceId: b.deviceId(), role: .member, roleName: "Monitor",
            roleDescription: nil)
        try await eventually("the invite reaches b's listener") {
            listener.seen.last?.contains { $0.state == .pending } == true
        }
        let invite = try XCTUnwrap(listener.seen.last?.first)
        XCTAssertEqual(invite.projectId, pa.projectId())
        XCTAssertEqual(invite.projectName, "River watch")
        XCTAssertEqual(invite.inviterName, "Ana")
        XCTAssertEqual(invite.inviterDeviceId, a.deviceId())
        XCTAssertEqual(invite.role, .member)
        XCTAssertEqual(invite.roleName, "Monitor")
        XCTAssertEqual(b.pendingInvites(), [invite])
        XCTAssertEqual(a.sentInvites().map(\.inviteId), [invite.inviteId])
        // What the projects screen shows for it.
        XCTAssertEqual(
            ProjectsScreen(projects: try b.listProjects(), invites: b.pendingInvites()).invites.map(\.text),
            ["Ana invites you to River watch as Monitor"])

        let pb = try await b.acceptInvite(inviteId: invite.inviteId)
        let result = try await outcome
        XCTAssertEqual(result, .accepted)
        XCTAssertEqual(pb.projectId(), pa.projectId())
        XCTAssertEqual(try b.projectStatus(projectId: pa.projectId()), .joined)
        XCTAssertEqual(try pb.ownRole(), .member)
        try await eventually("b's listener sees the invite accepted") {
            listener.seen.last?.first?.state == .accepted
        }
        return pb
    }

    func testInviteAcceptSyncAndAPhotoArrivesWithItsThumbnail() async throws {
        let jpegPath = try XCTUnwrap(
            ProcessInfo.processInfo.environment["MAPEO_TEST_JPEG"], "MAPEO_TEST_JPEG: run scripts/swift-test.sh")
        let photoURL = root.appendingPathComponent("IMG_0001.jpg")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: jpegPath), to: photoURL)
        XCTAssertEqual(jpegSize(try Data(contentsOf: photoURL))?.width, 1000, "the fixture is a 1000x750 JPEG")

        let invites = InviteRecorder()
        let inviteHandle = try b.subscribeInvites(listener: invites)
        try await eventually("the current (empty) invite list first") { !invites.seen.all.isEmpty }
        XCTAssertEqual(invites.seen.all.first, [])

        let pa = try await connected()
        let pb = try await invited(pa, listener: invites)
        // A phone: previews and thumbnails only.
        pb.setBlobPolicy(policy: previewsOnlyBlobPolicy())
        try a.startSync(projectId: pa.projectId())
        try b.startSync(projectId: pa.projectId())
        let states = SyncRecorder()
        let syncHandle = try b.subscribeSync(projectId: pa.projectId(), listener: states)

        let photo = try pa.addAttachmentFromPath(path: photoURL.path)
        XCTAssertEqual(photo.name, "IMG_0001.jpg")
        XCTAssertEqual(photo.kind, .photo)
        let files = try pa.attachmentFiles(attachment: photo)
        XCTAssertEqual(files.map(\.variant), [.original, .preview, .thumbnail])
        XCTAssertTrue(files.allSatisfy { $0.mimeType == "image/jpeg" && $0.size > 0 })

        // Made through the form, as the app does.
        var form = ObservationForm(projectHasPresets: false)
        form.fix = LocationFix(
            latitude: -3.4653, longitude: -62.2159, accuracy: 6,
            timestampMs: Int64(Date().timeIntervalSince1970 * 1000))
        form.notes = "oil on the water"
        form.attachments = [photo]
        let value = try XCTUnwrap(form.observation(nowMs: Int64(Date().timeIntervalSince1970 * 1000)))
        let created = try pa.createObservation(value: value)

        try await eventually("the thumbnail arrives on b") {
            try pb.attachmentBytes(attachment: photo, variant: .thumbnail) != nil
        }
        try await b.waitForSync(projectId: pa.projectId(), phase: .full, inactivityMs: 10_000)
        let got = try pb.getObservation(docId: created.meta.docId)
        XCTAssertEqual(got, created)
        XCTAssertEqual(got.meta.createdBy, a.deviceId())
        XCTAssertEqual(got.value.tags["notes"], .text(value: "oil on the water"))
        XCTAssertEqual(try pb.attachmentFiles(attachment: photo), files)

        let thumb = try XCTUnwrap(try pb.attachmentBytes(attachment: photo, variant: .thumbnail))
        let size = try XCTUnwrap(jpegSize(thumb), "a JPEG")
        XCTAssertEqual(size.width, 400)
        XCTAssertEqual(size.height, 300)
        XCTAssertNil(try pb.attachmentBytes(attachment: photo, variant: .original), "a phone skips originals")

        // The list screen on b shows the observation with its thumbnail.
        let rows = ObservationList.rows(try pb.listObservations(query: Query()), presets: [:]) {
            try? pb.attachmentBytes(attachment: $0, variant: .thumbnail)
        }
        XCTAssertEqual(rows.map(\.id), [created.meta.docId])
        XCTAssertEqual(rows.first?.thumbnail, thumb)
        XCTAssertEqual(rows.first?.subtitle, "oil on the water")

        // The sync listener saw blob bytes arrive and ends fully synced; the Exchange screen
        // says so only then.
        try await eventually("a fully synced state") { states.seen.last?.first?.fullySynced == true }
        let last = try XCTUnwrap(states.seen.last?.first)
        XCTAssertEqual(last.peer, a.deviceId())
        XCTAssertGreaterThanOrEqual(last.blobBytesReceived, UInt64(files[2].size))
        XCTAssertEqual(SyncProgress.progress(last).stage, .upToDate)
        XCTAssertTrue(
            states.seen.all.compactMap(\.first).filter { !$0.fullySynced }.allSatisfy {
                SyncProgress.progress($0).stage != .upToDate
            })

        // Both list the other as a member.
        try await eventually("b's name reaches a") {
            try pa.members(includeInactive: false).contains { $0.deviceId == self.b.deviceId() && $0.name == "Bo" }
        }
        let rowsOnA = MembersScreen.rows(
            try pa.members(includeInactive: false), ownRole: try pa.ownRole(), ownDeviceId: a.deviceId())
        XCTAssertEqual(rowsOnA.map(\.role), ["Creator", "Member"])
        XCTAssertEqual(rowsOnA.map(\.canRemove), [false, true])
        inviteHandle.cancel()
        syncHandle.cancel()
    }

    func testListenersGetTheCurrentValueFirstThenChangesUntilCancelled() async throws {
        let peers = PeerRecorder()
        let peerHandle = try b.subscribePeers(listener: peers)
        try await eventually("the current peer list") { !peers.seen.all.isEmpty }
        XCTAssertEqual(peers.seen.all.first, [])

        let invites = InviteRecorder()
        let inviteHandle = try b.subscribeInvites(listener: invites)
        let pa = try await connected()
        try await eventually("the connected peer, named") {
            peers.seen.last?.first.map { $0.connected && $0.name == "Ana" && $0.deviceId == self.a.deviceId() } == true
        }
        let pb = try await invited(pa, listener: invites)
        let roles = RoleRecorder()
        let roleHandle = try pb.subscribeOwnRole(listener: roles)
        try await eventually("the current role first") { roles.seen.last == .member }
        try a.startSync(projectId: pa.projectId())
        try b.startSync(projectId: pa.projectId())
        try pa.assignRole(deviceId: b.deviceId(), role: .coordinator)
        try await eventually("the new role") { roles.seen.last == .coordinator }
        let calls = peers.seen.all
        XCTAssertFalse(zip(calls, calls.dropFirst()).contains { $0 == $1 }, "a repeat: \(calls)")

        peerHandle.cancel()
        roleHandle.cancel()
        inviteHandle.cancel()
        let seen = peers.seen.all.count
        try await b.disconnectAll()
        try await Task.sleep(nanoseconds: 500_000_000)
        XCTAssertEqual(peers.seen.all.count, seen, "a cancelled listener was called")
    }

    func testAListenerThatThrowsChangesNothing() async throws {
        let invites = InviteRecorder()
        let inviteHandle = try b.subscribeInvites(listener: invites)
        let pa = try await connected()
        let pb = try await invited(pa, listener: invites)
        let throwing = try b.subscribeSync(projectId: pa.projectId(), listener: ThrowingSyncListener())
        let working = SyncRecorder()
        let workingHandle = try b.subscribeSync(projectId: pa.projectId(), listener: working)
        try a.startSync(projectId: pa.projectId())
        try b.startSync(projectId: pa.projectId())
        for i in 0..<5 {
            _ = try pa.createObservation(value: Observation(lat: 1, lon: Double(i)))
        }
        // The writer waits: only it knows of the new entries until the peer confirms them.
        try await a.waitForSync(projectId: pa.projectId(), phase: .full, inactivityMs: 10_000)
        XCTAssertEqual(try pb.listObservations(query: Query()).count, 5)
        try await eventually("the working listener saw it synced") { working.seen.last?.first?.fullySynced == true }
        throwing.cancel()
        workingHandle.cancel()
        inviteHandle.cancel()
    }

    func testErrorsArriveAsTypedSwiftErrors() async throws {
        let project = try a.createProject(settings: ProjectSettings())
        XCTAssertThrowsError(try project.createObservation(value: Observation(lat: 123.456, lon: 7.89))) { error in
            guard case MapeoError.InvalidInput(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertFalse(reason.contains("123.456"), reason)
        }
        XCTAssertThrowsError(try project.getObservation(docId: "0123456789abcdef")) {
            guard case MapeoError.NotFound = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try a.connectionCode()) {
            guard case MapeoError.NotListening = $0 else { return XCTFail("\($0)") }
        }
        // A folder open in another device object is refused while it is open...
        XCTAssertThrowsError(try Mapeo.open(dataDir: root.appendingPathComponent("a").path, rootKey: generateRootKey())) {
            guard case MapeoError.FolderInUse(let reason) = $0 else { return XCTFail("\($0)") }
            XCTAssertFalse(reason.contains(self.root.path), reason)
        }
        // ...and once closed, opening it with another root key is refused as such.
        let closed = try Mapeo.open(dataDir: root.appendingPathComponent("c").path, rootKey: generateRootKey())
        try await closed.close()
        XCTAssertThrowsError(try Mapeo.open(dataDir: root.appendingPathComponent("c").path, rootKey: generateRootKey())) {
            guard case MapeoError.WrongRootKey(let reason) = $0 else { return XCTFail("\($0)") }
            XCTAssertFalse(reason.contains(self.root.path), reason)
        }
        // Not a photo, whatever the name says: an attachment error, nothing stored.
        let fake = root.appendingPathComponent("notes.jpg")
        try Data("not a photo".utf8).write(to: fake)
        XCTAssertThrowsError(try project.addAttachmentFromPath(path: fake.path)) {
            guard case MapeoError.Attachment = $0 else { return XCTFail("\($0)") }
        }
        // From async calls too.
        do {
            _ = try await a.connect(address: "not an address")
            XCTFail("connected to nothing")
        } catch MapeoError.InvalidInput {
        }
        do {
            _ = try await a.invite(projectId: project.projectId(), deviceId: b.deviceId(), role: .member, roleName: nil, roleDescription: nil)
            XCTFail("invited a device that is not connected")
        } catch MapeoError.Invite {
        }
        do {
            _ = try await b.acceptInvite(inviteId: "00112233445566778899aabbccddeeff")
            XCTFail("accepted an unknown invite")
        } catch MapeoError.NotFound {
        }
        // A connection code with a typo is refused by the core after the view logic passed it.
        _ = try await a.startListening(address: "127.0.0.1:0")
        let code = try a.connectionCode()
        // A character inside the code, not the last one (whose low bits may be padding).
        var chars = Array(code.filter { $0.isLetter || $0.isNumber })
        let i = ConnectionInput.codePrefix.count + 5
        chars[i] = chars[i] == "0" ? "Z" : "0"
        guard case .success(.code(let typo)) = ConnectionInput.parse(String(chars)) else {
            return XCTFail("the view logic refused a well-formed code")
        }
        do {
            _ = try await b.connectByCode(code: typo)
            XCTFail("connected with a mistyped code")
        } catch MapeoError.InvalidInput {
        }
        guard case .success(.code(let good)) = ConnectionInput.parse(DeviceSetup.grouped(code).lowercased()) else {
            return XCTFail("the view logic refused the shown code")
        }
        let answered = try await b.connectByCode(code: good)
        XCTAssertEqual(answered, a.deviceId())
    }

    func testAsyncCallsEachGetTheirAnswerAndACancelledTaskRunsItsCoreCallToItsEnd() async throws {
        let invites = InviteRecorder()
        let inviteHandle = try b.subscribeInvites(listener: invites)
        let pa = try await connected()
        _ = try await invited(pa, listener: invites)
        inviteHandle.cancel()
        try b.startSync(projectId: pa.projectId())
        try await b.disconnectAll()
        let before = runningTasks()

        // Nobody is connected: the wait ends by itself after 1.5 s without progress.
        let waiting = Task { [b] in
            try await b!.waitForSync(projectId: pa.projectId(), phase: .full, inactivityMs: 1_500)
        }
        try await eventually("the call running in the core") { runningTasks().calls > before.calls }
        waiting.cancel()
        // UniFFI's Swift bindings (0.32) do not pass a Task's cancellation to the core (its
        // Kotlin bindings do): the call ends on its own terms, with the core's typed error.
        let result = await waiting.result
        XCTAssertThrowsError(try result.get()) {
            guard case MapeoError.Sync = $0 else { return XCTFail("\($0)") }
        }
        try await eventually("the core call ended") { runningTasks().calls == before.calls }

        // Several calls at once, each answered: one session per device, so all name a.
        let (a, b) = (self.a!, self.b!)
        let address = try XCTUnwrap(a.listeningOn())
        let addresses = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await b.connect(address: address) } }
            group.addTask { try await b.startListening(address: "127.0.0.1:0") }
            var out: [String] = []
            for try await x in group { out.append(x) }
            return out
        }
        XCTAssertEqual(addresses.filter { $0 == a.deviceId() }.count, 8, "\(addresses)")
        XCTAssertEqual(addresses.filter { $0.hasPrefix("127.0.0.1:") }.count, 1, "\(addresses)")
    }
}
