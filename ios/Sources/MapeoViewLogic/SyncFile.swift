// Sync by file as the app shows it: "Save to Files / share as a file" and "Open a sync file".
// What the person chose becomes the bindings' SyncFileOptions; the core's progress, results
// and refusals become the words on screen. The SwiftUI side (document picker, share sheet)
// is ios/App's SyncFileScreen.
import Foundation
import MapeoKit

/// Bytes in a megabyte as people (and memory card labels) count them.
private let megabyte: UInt64 = 1_000_000

/// What the person chose: which media to carry, a size limit in megabytes (`nil`: none), and
/// a have-file or sync file from the other device to answer (a path; `nil`: everything).
public struct SyncFileChoice: Equatable, Sendable {
    public var media: SyncFileMedia
    public var maxMegabytes: Int64?
    public var answerTo: String?

    public init(media: SyncFileMedia = .all, maxMegabytes: Int64? = nil, answerTo: String? = nil) {
        self.media = media
        self.maxMegabytes = maxMegabytes
        self.answerTo = answerTo
    }

    /// Why this choice cannot be written, in words; `nil` when it can.
    public var problem: String? {
        guard let mb = maxMegabytes else { return nil }
        if mb <= 0 { return "The size limit must be at least 1 MB." }
        if UInt64(mb) > UInt64.max / megabyte { return "The size limit is too large." }
        return nil
    }

    /// The bindings' options, or `nil` when [problem] says why not.
    public var options: SyncFileOptions? {
        guard problem == nil else { return nil }
        return SyncFileOptions(media: media, maxBytes: maxMegabytes.map { UInt64($0) * megabyte }, forFile: answerTo)
    }
}

/// The words of sync by file.
public enum SyncFileText {
    /// The progress line: what is happening, and how far (entries or bytes).
    public static func progress(_ stage: SyncFileStage, done: UInt64, total: UInt64) -> String {
        let percent = total == 0 ? 100 : Int(min(100, Double(done) * 100 / Double(total)))
        switch stage {
        case .writingEntries: return "Writing observations and settings… \(done) of \(total)"
        case .writingMedia:
            return "Writing photos and recordings… \(ByteText.format(done)) of \(ByteText.format(total))"
        case .checking: return "Checking the file… \(percent)%"
        case .importing: return "Taking in the data… \(percent)%"
        }
    }

    /// What a saved file holds, and what the size limit left out.
    public static func exportSummary(_ e: SyncFileExport) -> String {
        var text = "Saved \(ByteText.format(e.fileBytes)): \(count(e.entries, "entry", "entries")), "
            + "\(count(e.mediaFiles, "media file", "media files")) (\(ByteText.format(e.mediaBytes)))."
        if !e.leftOut.isEmpty {
            let bytes = e.leftOut.reduce(UInt64(0)) { $0 + $1.size }
            text += "\nLeft out to fit the size limit: \(count(UInt64(e.leftOut.count), "media file", "media files")) "
                + "(\(ByteText.format(bytes))). They go with a later file or the next sync."
        }
        return text
    }

    /// What an import took in.
    public static func importSummary(_ i: SyncFileImport) -> String {
        if i.entriesAdded == 0 && i.mediaAdded == 0 {
            return "Nothing new: this device already had everything in the file."
        }
        return "Took in \(count(i.entriesAdded, "new entry", "new entries")) (of \(i.entriesInFile) in the file) "
            + "and \(count(i.mediaAdded, "new media file", "new media files"))."
    }

    /// The words for a refused or failed save or import; a refused file changed nothing.
    public static func error(_ e: Error) -> String {
        switch e {
        case MapeoError.InvalidInput:
            return "This file cannot be used: it is damaged, cut short, of another project or not a sync file. "
                + "Nothing was changed."
        case MapeoError.Storage:
            return "The file could not be read or written. Is there room on the device? "
                + "Opening the same file again completes an interrupted import."
        default:
            return "The file could not be read or written."
        }
    }

    private static func count(_ n: UInt64, _ one: String, _ many: String) -> String {
        n == 1 ? "1 \(one)" : "\(n) \(many)"
    }
}
