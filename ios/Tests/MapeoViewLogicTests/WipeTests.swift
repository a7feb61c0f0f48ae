// The emergency wipe: the gesture, the order and bounds of its steps, and the whole of it
// against the real library (host build): what is left on the phone afterwards.
import Foundation
import MapeoKit
import XCTest

@testable import MapeoViewLogic

/// The Keychain as a test sees it: the key in memory, every `delete` counted (and the first
/// `failures` of them failing, as a broken Keychain would), `onDelete` run before forgetting.
private final class TestKeys: RootKeyStore, @unchecked Sendable {
    private let lock = NSLock()
    private var key: Data?
    private var failures: Int
    private(set) var deletes = 0
    var onDelete: (() -> Void)?

    init(failures: Int = 0) { self.failures = failures }

    func load() throws -> Data? { lock.lock(); defer { lock.unlock() }; return key }
    func save(_ key: Data) throws { lock.lock(); self.key = key; lock.unlock() }
    func delete() throws {
        onDelete?()
        lock.lock()
        defer { lock.unlock() }
        deletes += 1
        if failures > 0 {
            failures -= 1
            throw CocoaError(.fileWriteUnknown)
        }
        key = nil
    }
}

/// Names of what is in `folder` (nothing when it does not exist).
private func contents(_ folder: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
}

/// Copies whatever files of `from` are still there while something deletes them: what
/// someone copying the folder at that moment would get.
private func copyWhatIsThere(from: URL, to: URL) {
    let fm = FileManager.default
    guard let walk = fm.enumerator(at: from, includingPropertiesForKeys: [.isDirectoryKey]) else { return }
    for case let url as URL in walk {
        let rel = String(url.path.dropFirst(from.path.count + 1))
        let target = to.appendingPathComponent(rel)
        if (try? url.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true {
            try? fm.createDirectory(at: target, withIntermediateDirectories: true)
        } else {
            try? fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? fm.copyItem(at: url, to: target)
        }
    }
}

/// Held for the whole hold time and the word typed: ready for "Wipe now".
private func confirmed(_ gesture: WipeGesture, word: String = defaultWipeWord) -> WipeGesture {
    gesture.press(now: 100)
    gesture.tick(now: 100 + WipeTimes.hold)
    gesture.release(now: 100 + WipeTimes.hold + 0.1)
    gesture.type(word)
    return gesture
}

final class WipeTests: XCTestCase {
    var dirs: [URL] = []

    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-wipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        dirs.append(url)
        return url
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
    }

    /// A set-up phone: the key kept in `keys`, a project with an observation in `data`.
    private func phone(_ data: URL, keys: RootKeyStore) throws -> Mapeo {
        let device = try DeviceSetup.firstRun(store: keys, dataDir: data.path, name: "Ana")
        let project = try device.createProject(settings: ProjectSettings(name: "River watch"))
        _ = try project.createObservation(
            value: Observation(lat: 1.5, lon: 2.5, tags: ["notes": .text(value: "camp by the ford")]))
        XCTAssertEqual(try project.listObservations(query: Query()).count, 1)
        return device
    }

    func testTheWipeNeedsAFullHoldAndTheTypedWordAndCanBeCancelledBeforeItRuns() async {
        let g = WipeGesture(confirmWord: "BORRAR")
        XCTAssertEqual(g.press(now: 100), .holding(startedAt: 100, progress: 0))
        XCTAssertEqual(g.tick(now: 100 + WipeTimes.hold / 2), .holding(startedAt: 100, progress: 0.5))
        XCTAssertEqual(WipeText.describe(g.state), "Keep holding… let go to cancel.")
        // Let go early: nothing.
        XCTAssertEqual(g.release(now: 100 + WipeTimes.hold - 0.001), .idle)
        XCTAssertFalse(g.confirm())
        g.press(now: 0)
        XCTAssertEqual(g.tick(now: WipeTimes.hold), .confirm(typed: "", canWipe: false))
        // Letting go after the hold keeps the confirmation.
        XCTAssertEqual(g.release(now: WipeTimes.hold + 0.01), .confirm(typed: "", canWipe: false))
        XCTAssertEqual(g.type("borra"), .confirm(typed: "borra", canWipe: false))
        XCTAssertFalse(g.confirm())
        XCTAssertEqual(g.type(" borrar "), .confirm(typed: " borrar ", canWipe: true))
        XCTAssertEqual(g.cancel(), .idle)
        XCTAssertFalse(g.confirm())

        // A word with an accent matches however it was composed.
        let accented = confirmed(WipeGesture(confirmWord: "EFFACÉ"), word: "efface\u{301}")
        XCTAssertEqual(accented.state, .confirm(typed: "efface\u{301}", canWipe: true))

        _ = confirmed(g, word: "BORRAR")
        XCTAssertTrue(g.confirm())
        XCTAssertEqual(g.state, .wiping)
        XCTAssertEqual(WipeText.describe(g.state), "Erasing…")
        // Once running it cannot be cancelled or pressed again.
        XCTAssertEqual(g.cancel(), .wiping)
        XCTAssertEqual(g.press(now: 0), .wiping)
        XCTAssertEqual(g.finished(WipeOutcome(failed: [.deviceData])), .failed([.deviceData]))
        XCTAssertEqual(
            WipeText.describe(g.state),
            "Erasing did not finish (device data). Try again, or uninstall the app.")
        // A failed wipe can be started again.
        XCTAssertEqual(g.press(now: 5), .holding(startedAt: 5, progress: 0))
        g.tick(now: 5 + WipeTimes.hold)
        g.type("borrar")
        let outcome = await g.wipeNow { WipeOutcome(failed: []) }
        XCTAssertEqual(outcome, WipeOutcome(failed: []))
        XCTAssertEqual(g.state, .wiped)
        XCTAssertEqual(WipeText.describe(g.state), "This phone was erased.")
        XCTAssertEqual(
            WipeText.describe(.idle), "Hold the button for 3 seconds to erase everything on this phone.")
        XCTAssertTrue(WipeText.describe(.confirm(typed: "", canWipe: false), word: "BORRAR").hasPrefix("Type BORRAR "))
    }

    /// Through the real library: every way of not finishing the gesture leaves the phone as it was.
    func testAnUnfinishedOrCancelledGestureWipesNothing() async throws {
        let root = try tempDir()
        let data = root.appendingPathComponent("data")
        let keys = TestKeys()
        let device = try phone(data, keys: keys)
        let key = try XCTUnwrap(try keys.load())
        var runs = 0
        let wipe = DeviceWipe(device: device, dataDir: data.path, keys: keys)
        let steps: () async -> WipeOutcome = {
            runs += 1
            return await wipe.run()
        }

        let g = WipeGesture()
        // "Wipe now" before anything was held.
        var outcome = await g.wipeNow(steps)
        XCTAssertNil(outcome)
        // Let go a moment too early.
        g.press(now: 0)
        g.release(now: WipeTimes.hold - 0.01)
        outcome = await g.wipeNow(steps)
        XCTAssertNil(outcome)
        // Held, but the wrong word.
        g.press(now: 10)
        g.tick(now: 10 + WipeTimes.hold)
        g.type("WIP")
        outcome = await g.wipeNow(steps)
        XCTAssertNil(outcome)
        // Held, the right word, then cancelled.
        g.type("wipe")
        g.cancel()
        outcome = await g.wipeNow(steps)
        XCTAssertNil(outcome)
        XCTAssertEqual(g.state, .idle)

        XCTAssertEqual(runs, 0)
        XCTAssertEqual(keys.deletes, 0)
        XCTAssertEqual(try keys.load(), key)
        XCTAssertFalse(device.isClosed())
        let summary = try XCTUnwrap(try device.listProjects().first)
        XCTAssertEqual(summary.settings.name, "River watch")
        let project = try device.openProject(projectId: summary.projectId)
        XCTAssertEqual(try project.listObservations(query: Query()).count, 1)
    }

    /// Through the real library: after the gesture, nothing on the phone opens with the old
    /// key, the key is forgotten, the app's files are gone, and the app is at its first run.
    func testTheWipeLeavesNoReadableDataNoKeyNoFilesAndTheAppAtFirstRun() async throws {
        let root = try tempDir()
        let data = root.appendingPathComponent("data")
        let appTemp = root.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: appTemp, withIntermediateDirectories: true)
        try Data("jpeg".utf8).write(to: appTemp.appendingPathComponent("IMG_1.jpg"))
        try Data("sync".utf8).write(to: appTemp.appendingPathComponent("mapeo-1.mapeosync"))
        let keys = TestKeys()
        let device = try phone(data, keys: keys)
        let key = try XCTUnwrap(try keys.load())
        let oldId = device.deviceId()
        // What someone copying the folder gets right after the core's wipe returned (the key
        // is forgotten next), while the core is still deleting the files.
        let late = root.appendingPathComponent("late-copy")
        keys.onDelete = { copyWhatIsThere(from: data, to: late) }

        let g = confirmed(WipeGesture())
        let outcome = await g.wipeNow {
            await DeviceWipe(device: device, dataDir: data.path, keys: keys, appFolders: [appTemp]).run()
        }
        XCTAssertEqual(outcome, WipeOutcome(failed: []))
        XCTAssertEqual(g.state, .wiped)

        // The device the app held is closed: nothing can use it by mistake.
        XCTAssertTrue(device.isClosed())
        XCTAssertThrowsError(try device.listProjects()) { e in
            guard case MapeoError.Closed = e else { return XCTFail("not Closed: \(e)") }
        }
        // The key is forgotten: the app's next start is a first run.
        XCTAssertEqual(keys.deletes, 1)
        XCTAssertNil(try keys.load())
        XCTAssertFalse(try DeviceSetup.isSetUp(store: keys))
        XCTAssertNil(try DeviceSetup.open(store: keys, dataDir: data.path))
        XCTAssertEqual(contents(appTemp), [])
        XCTAssertEqual(contents(data), [])

        // The copy taken mid-deletion, with the old key: refused, or nothing in it.
        do {
            let thief = try Mapeo.open(dataDir: late.path, rootKey: key)
            XCTAssertEqual(try thief.listProjects().count, 0)
            try await thief.close()
        } catch MapeoError.Storage {
            // The keys are destroyed: the core's words for it.
        }
        // The first run that follows, in the same folder: a new identity with nothing in it.
        let fresh = try DeviceSetup.firstRun(store: keys, dataDir: data.path, name: "New phone")
        XCTAssertNotEqual(fresh.deviceId(), oldId)
        XCTAssertEqual(try fresh.listProjects().count, 0)
    }

    /// Through the real library: a Keychain that fails once leaves the wipe failed and named;
    /// the data is unreadable anyway, and the gesture done again finishes the job.
    func testAWipeThatFailedCanBeDoneAgainAndFinishes() async throws {
        let root = try tempDir()
        let data = root.appendingPathComponent("data")
        let keys = TestKeys(failures: 1)
        let device = try phone(data, keys: keys)
        let wipe = DeviceWipe(device: device, dataDir: data.path, keys: keys)

        let g = confirmed(WipeGesture())
        let first = await g.wipeNow { await wipe.run() }
        XCTAssertEqual(first, WipeOutcome(failed: [.rootKey]))
        XCTAssertEqual(g.state, .failed([.rootKey]))
        XCTAssertEqual(WipeText.describe(g.state), "Erasing did not finish (root key). Try again, or uninstall the app.")
        XCTAssertNotNil(try keys.load())
        XCTAssertTrue(device.isClosed())
        XCTAssertEqual(contents(data), [])

        // Again, with the same (already wiped) device: the core's wipe runs again harmlessly.
        let second = await confirmed(g).wipeNow { await wipe.run() }
        XCTAssertEqual(second, WipeOutcome(failed: []))
        XCTAssertEqual(g.state, .wiped)
        XCTAssertEqual(keys.deletes, 2)
        XCTAssertNil(try keys.load())
    }

    func testTheStepsRunInOrderAndAFailedOneDoesNotStopTheOthers() async throws {
        let root = try tempDir()
        let data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("projects"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: data.appendingPathComponent("device.db"))
        let appTemp = root.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: appTemp, withIntermediateDirectories: true)
        try Data("p".utf8).write(to: appTemp.appendingPathComponent("IMG_1.jpg"))
        let order = Order()
        let keys = TestKeys()
        try keys.save(Data(repeating: 7, count: 16))
        keys.onDelete = { order.add("key") }

        struct CoreFailed: Error {}
        let outcome = await DeviceWipe(
            wipeCore: { order.add("core"); throw CoreFailed() }, closeCore: { order.add("close") },
            dataDir: data.path, keys: keys, appFolders: [appTemp]
        ).run()
        XCTAssertEqual(order.all, ["core", "close", "key"])
        // The core's wipe failed: the folder is deleted anyway, but the wipe says it failed.
        XCTAssertEqual(outcome, WipeOutcome(failed: [.deviceData]))
        XCTAssertEqual(contents(data), [])
        XCTAssertEqual(contents(appTemp), [])
        XCTAssertNil(try keys.load())

        // No device open and nothing in its folder: nothing to wipe there.
        try keys.save(Data(repeating: 7, count: 16))
        let none = await DeviceWipe(device: nil, dataDir: data.path, keys: keys).run()
        XCTAssertEqual(none, WipeOutcome(failed: []))
        XCTAssertNil(try keys.load())
    }

    /// A core wipe that never answers does not hold the wipe up: the key and the files go
    /// anyway, and the wipe says the device's data is not known to be gone.
    func testACoreWipeThatNeverAnswersDoesNotHoldTheWipeUp() async throws {
        let root = try tempDir()
        let data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: data.appendingPathComponent("device.db"))
        let keys = TestKeys()
        try keys.save(Data(repeating: 7, count: 16))
        // "Never" is 30 s: with no limit the wipe would end complete after it, and fail here.
        let hang: @Sendable () async throws -> Void = { try await Task.sleep(nanoseconds: 30_000_000_000) }

        let outcome = await DeviceWipe(
            wipeCore: hang, closeCore: hang, dataDir: data.path, keys: keys, coreLimit: 0.2, deletionLimit: 0.2
        ).run()
        XCTAssertEqual(outcome, WipeOutcome(failed: [.deviceData]))
        XCTAssertNil(try keys.load())
        XCTAssertEqual(contents(data), [])
    }

    /// The core's deletion leaving files behind past the limit: the app deletes them, so the
    /// first run that follows finds the folder empty.
    func testFilesTheCoreLeftBehindAreDeletedAfterTheLimit() async throws {
        let root = try tempDir()
        let data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("projects/p1"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: data.appendingPathComponent("projects/p1/project.db"))
        let keys = TestKeys()
        try keys.save(Data(repeating: 7, count: 16))

        let outcome = await DeviceWipe(
            wipeCore: {}, closeCore: {}, dataDir: data.path, keys: keys, deletionLimit: 0.2
        ).run()
        XCTAssertEqual(outcome, WipeOutcome(failed: []))
        XCTAssertEqual(contents(data), [])
    }
}

/// The order steps ran in, from any thread.
private final class Order: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String] = []
    var all: [String] { lock.lock(); defer { lock.unlock() }; return seen }
    func add(_ s: String) { lock.lock(); seen.append(s); lock.unlock() }
}
