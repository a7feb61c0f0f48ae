// Sync by file's words and options, against the real library (host build).
import Foundation
import MapeoKit
import XCTest

@testable import MapeoViewLogic

/// A mono 8 kHz 16-bit PCM WAV recording of `samples` samples.
private func wav(samples: Int) -> Data {
    var d = Data()
    func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    let bytes = UInt32(samples * 2)
    d.append(contentsOf: Array("RIFF".utf8)); le32(36 + bytes); d.append(contentsOf: Array("WAVEfmt ".utf8))
    le32(16); le16(1); le16(1); le32(8000); le32(16000); le16(2); le16(16)
    d.append(contentsOf: Array("data".utf8)); le32(bytes)
    for i in 0..<samples { le16(UInt16(bitPattern: Int16((i * 7) % 4000 - 2000))) }
    return d
}

/// Every progress line, from the working thread.
private final class Lines: SyncFileListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String] = []
    var all: [String] { lock.lock(); defer { lock.unlock() }; return seen }
    func clear() { lock.lock(); seen = []; lock.unlock() }
    func onProgress(stage: SyncFileStage, done: UInt64, total: UInt64) throws {
        lock.lock(); seen.append(SyncFileText.progress(stage, done: done, total: total)); lock.unlock()
    }
}

final class SyncFileTests: XCTestCase {
    var dirs: [URL] = []

    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-syncfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        dirs.append(url)
        return url
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
    }

    func testTheChoicesBecomeOptionsAndALimitThatIsNotASizeIsRefused() {
        XCTAssertEqual(
            SyncFileChoice(media: .previews, maxMegabytes: 500, answerTo: "/tmp/office.have").options,
            SyncFileOptions(media: .previews, maxBytes: 500_000_000, forFile: "/tmp/office.have"))
        XCTAssertEqual(SyncFileChoice().options, SyncFileOptions(media: .all, maxBytes: nil, forFile: nil))
        XCTAssertNil(SyncFileChoice(maxMegabytes: 0).options)
        XCTAssertEqual(SyncFileChoice(maxMegabytes: -5).problem, "The size limit must be at least 1 MB.")
        XCTAssertNil(SyncFileChoice(maxMegabytes: Int64.max).options)
    }

    func testAFileSavedUnderALimitSaysWhatWasLeftOutAndADamagedOneIsExplained() throws {
        let dir = try tempDir()
        let device = try Mapeo.open(dataDir: dir.appendingPathComponent("data").path, rootKey: generateRootKey())
        let project = try device.createProject(settings: ProjectSettings(name: "Río Negro"))
        let recording = try project.addAttachmentFromBytes(bytes: wav(samples: 1_500_000), name: "voice-note.wav")
        _ = try project.createObservation(value: Observation(lat: -3.1, lon: -60, attachments: [recording]))
        let lines = Lines()

        let file = dir.appendingPathComponent("card.mapeosync").path
        let options = try XCTUnwrap(SyncFileChoice(media: .all, maxMegabytes: 1).options)
        let written = try project.exportSyncFile(path: file, options: options, listener: lines)
        XCTAssertEqual(written.leftOut.map(\.hash), [recording.hash])
        let summary = SyncFileText.exportSummary(written)
        XCTAssertTrue(summary.hasPrefix("Saved "), summary)
        XCTAssertTrue(summary.contains("Left out to fit the size limit: 1 media file (3.0 MB)"), summary)
        XCTAssertTrue(lines.all.contains { $0.hasPrefix("Writing observations and settings… ") }, "\(lines.all)")

        lines.clear()
        let again = try project.importSyncFile(path: file, listener: lines)
        XCTAssertEqual(SyncFileText.importSummary(again), "Nothing new: this device already had everything in the file.")
        XCTAssertEqual(lines.all.last, "Taking in the data… 100%")

        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[bytes.count / 2] ^= 1
        try bytes.write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try project.importSyncFile(path: file, listener: nil)) { e in
            guard case MapeoError.InvalidInput = e else { return XCTFail("not InvalidInput: \(e)") }
            XCTAssertTrue(SyncFileText.error(e).hasSuffix("Nothing was changed."))
        }
        XCTAssertEqual(try project.listObservations(query: Query()).count, 1)
    }
}
