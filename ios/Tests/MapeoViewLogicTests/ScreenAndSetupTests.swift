// The list screens' state, and first run / restore against the real library (host build).
import Foundation
import MapeoKit
import XCTest

@testable import MapeoViewLogic

final class ScreenStateTests: XCTestCase {
    func testProjectsHideLeftOnesAndInvitesShowNewestPendingFirst() {
        let projects = [
            ProjectSummary(projectId: "p2", settings: ProjectSettings(name: "river watch"), status: .joined, joinedAt: 1),
            ProjectSummary(projectId: "p1", settings: ProjectSettings(name: nil), status: .joining, joinedAt: 2),
            ProjectSummary(projectId: "p3", settings: ProjectSettings(name: "Old"), status: .left, joinedAt: 3),
            ProjectSummary(projectId: "p4", settings: ProjectSettings(name: "Forest"), status: .joined, joinedAt: 4),
        ]
        func invite(_ id: String, at: Int64, state: InviteState, roleName: String? = nil) -> ReceivedInvite {
            ReceivedInvite(
                inviteId: id, projectId: "px", projectName: "Río Negro", projectDescription: "the river",
                projectColor: nil, role: .coordinator, roleName: roleName, roleDescription: nil,
                inviterName: "Ana", inviterDeviceId: "aa", receivedAt: at, state: state)
        }
        let screen = ProjectsScreen(
            projects: projects,
            invites: [
                invite("i1", at: 10, state: .pending), invite("i2", at: 30, state: .pending, roleName: "Monitor"),
                invite("i3", at: 40, state: .accepted),
            ])
        XCTAssertEqual(screen.projects.map(\.name), ["Forest", "river watch", "Unnamed project"])
        XCTAssertEqual(screen.projects.map(\.badge), [nil, nil, "Joining…"])
        XCTAssertEqual(screen.invites.map(\.id), ["i2", "i1"])
        XCTAssertEqual(screen.invites[0].text, "Ana invites you to Río Negro as Monitor")
        XCTAssertEqual(screen.invites[1].text, "Ana invites you to Río Negro as coordinator")
        XCTAssertEqual(InviteOutcomeText.describe(.rejected, name: "Bo"), "Bo declined the invite.")
    }

    func testObservationRowsNewestFirstWithThumbnailsWhenHere() {
        let here = Attachment(name: "a.jpg", kind: .photo, hash: "h1")
        let missing = Attachment(name: "b.jpg", kind: .photo, hash: "h2")
        let audio = Attachment(name: "c.m4a", kind: .audio, hash: "h3")
        let preset = PresetDoc(meta: meta("p1"), value: Preset(name: "Mining", geometry: [.point]))
        let docs = [
            ObservationDoc(meta: meta("o1", createdAt: 100), value: Observation(attachments: [missing, here])),
            ObservationDoc(
                meta: meta("o2", createdAt: 300),
                value: Observation(
                    attachments: [audio], tags: ["notes": .text(value: "first line\nsecond")],
                    presetRef: DocRef(docId: "p1", versionId: "v"))),
            ObservationDoc(meta: meta("o3", createdAt: 200, deleted: true), value: Observation()),
        ]
        let rows = ObservationList.rows(docs, presets: ["p1": preset]) { $0.hash == "h1" ? Data("h1".utf8) : nil }
        XCTAssertEqual(rows.map(\.id), ["o2", "o1"])
        XCTAssertEqual(rows[0].title, "Mining")
        XCTAssertEqual(rows[0].subtitle, "first line")
        XCTAssertEqual(rows[0].photoCount, 0)
        XCTAssertNil(rows[0].thumbnail)
        XCTAssertEqual(rows[1].title, "Observation")
        XCTAssertEqual(rows[1].thumbnail, Data("h1".utf8))
        XCTAssertEqual(rows[1].photoCount, 2)
        XCTAssertEqual(rows[1].photosNotHere, 1)
    }

    func testMembersOrderAndWhoMayRemoveWhom() {
        let members = [
            Member(deviceId: "m1", name: "Zoe", deviceType: .mobile, role: .member, joinedAt: 5),
            Member(deviceId: "me", name: "Ana", deviceType: .mobile, role: .coordinator, joinedAt: 2),
            Member(deviceId: "c0", name: nil, deviceType: nil, role: .creator, joinedAt: nil),
            Member(deviceId: "b1", name: "Bad", deviceType: .mobile, role: .blocked, joinedAt: 3),
        ]
        let rows = MembersScreen.rows(members, ownRole: .coordinator, ownDeviceId: "me")
        XCTAssertEqual(rows.map(\.id), ["c0", "me", "m1", "b1"])
        XCTAssertEqual(rows.map(\.name), ["Device c0", "Ana (this device)", "Zoe", "Bad"])
        XCTAssertEqual(rows.map(\.role), ["Creator", "Coordinator", "Member", "Removed"])
        XCTAssertEqual(rows.map(\.canRemove), [false, false, true, false])
        let asMember = MembersScreen.rows(members, ownRole: .member, ownDeviceId: "m1")
        XCTAssertFalse(asMember.contains(where: \.canRemove))

        let peers = [
            PeerInfo(deviceId: "m1", name: "Zoe", deviceType: .mobile, connected: true),
            PeerInfo(deviceId: "b1", name: "Bad", deviceType: .mobile, connected: true),
            PeerInfo(deviceId: "n1", name: "New", deviceType: .mobile, connected: true),
            PeerInfo(deviceId: "n2", name: "Gone", deviceType: .mobile, connected: false),
        ]
        XCTAssertEqual(MembersScreen.invitable(peers: peers, members: members).map(\.deviceId), ["b1", "n1"])
    }
}

final class DeviceSetupTests: XCTestCase {
    var dirs: [URL] = []

    func tempDir() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-setup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        dirs.append(url)
        return url.appendingPathComponent("data").path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
    }

    func testNamesAndCodeShapes() {
        XCTAssertEqual(DeviceSetup.validName("  Ana  "), .success("Ana"))
        XCTAssertEqual(DeviceSetup.validName(" \n"), .failure(.emptyName))
        XCTAssertEqual(DeviceSetup.validName(String(repeating: "é", count: 101)), .failure(.nameTooLong(max: 100)))
        XCTAssertEqual(DeviceSetup.backupCodeCount("ABCD-EFGH 12"), 10)
        XCTAssertEqual(DeviceSetup.grouped("ABCDEFGH12"), "ABCD EFGH 12")
    }

    func testFirstRunKeepsTheKeyAndALaterStartOpensTheSameDevice() throws {
        let store = MemoryRootKeyStore()
        let dir = try tempDir()
        XCTAssertFalse(try DeviceSetup.isSetUp(store: store))
        XCTAssertNil(try DeviceSetup.open(store: store, dataDir: dir))
        var id: String
        do {
            let mapeo = try DeviceSetup.firstRun(store: store, dataDir: dir, name: " Ana ")
            id = mapeo.deviceId()
            XCTAssertEqual(try mapeo.deviceInfo(), DeviceInfo(name: "Ana", deviceType: .mobile))
        }
        XCTAssertTrue(try DeviceSetup.isSetUp(store: store))
        let again = try XCTUnwrap(try DeviceSetup.open(store: store, dataDir: dir))
        XCTAssertEqual(again.deviceId(), id)
    }

    func testRestoringFromTheBackupCodeGivesTheSameIdentity() throws {
        let original = MemoryRootKeyStore()
        let first = try DeviceSetup.firstRun(store: original, dataDir: try tempDir(), name: "Ana")
        let key = try XCTUnwrap(try original.load())
        let code = try backupCode(rootKey: key)
        XCTAssertEqual(DeviceSetup.backupCodeCount(code), DeviceSetup.backupCodeChars)

        // On a new phone, typed in lower case with the groups.
        let restored = MemoryRootKeyStore()
        let phone = try DeviceSetup.firstRun(
            store: restored, dataDir: try tempDir(), name: "Ana's new phone", backupCode: code.lowercased())
        XCTAssertEqual(phone.deviceId(), first.deviceId())
        XCTAssertEqual(try restored.load(), key)
    }

    func testAMistypedBackupCodeKeepsAndWritesNothing() throws {
        let code = try backupCode(rootKey: generateRootKey())
        // Change one character to another of the alphabet: the checksum catches it.
        var chars = Array(code)
        let i = chars.firstIndex(where: { $0.isLetter || $0.isNumber })!
        chars[i] = chars[i] == "A" ? "B" : "A"
        let store = MemoryRootKeyStore()
        let dir = try tempDir()
        XCTAssertThrowsError(
            try DeviceSetup.firstRun(store: store, dataDir: dir, name: "Ana", backupCode: String(chars))
        ) { error in
            XCTAssertEqual(error as? SetupProblem, .backupCodeInvalid)
        }
        XCTAssertThrowsError(try DeviceSetup.firstRun(store: store, dataDir: dir, name: "Ana", backupCode: "ABCD")) {
            XCTAssertEqual($0 as? SetupProblem, .backupCodeLength(count: 4))
        }
        XCTAssertThrowsError(try DeviceSetup.firstRun(store: store, dataDir: dir, name: " ")) {
            XCTAssertEqual($0 as? SetupProblem, .emptyName)
        }
        XCTAssertNil(try store.load())
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "no data folder made")
    }
}
