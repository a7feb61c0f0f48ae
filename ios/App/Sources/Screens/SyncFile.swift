// Sync by file for one project (not compiled on Linux: needs Apple's SDK): "Save to Files or a
// memory card" (the file is written to a temporary folder, then `.fileMover` lets the person
// place it), "Share as a file" (UIActivityViewController) and "Open a sync file"
// (`.fileImporter`, copied into a temporary file under the security-scoped access, since the
// core reads a path). Options, progress, summaries and errors in words: MapeoViewLogic's
// SyncFile.swift.
import MapeoKit
import MapeoViewLogic
import SwiftUI
import UIKit
import UniformTypeIdentifiers

/// Progress from the core's working thread to the screen.
private final class ProgressRelay: SyncFileListener, @unchecked Sendable {
    let show: @Sendable (String, Double) -> Void
    init(show: @escaping @Sendable (String, Double) -> Void) { self.show = show }
    func onProgress(stage: SyncFileStage, done: UInt64, total: UInt64) throws {
        let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
        show(SyncFileText.progress(stage, done: done, total: total), fraction)
    }
}

/// The share sheet, for a file URL.
private struct ShareSheet: UIViewControllerRepresentable {
    let url: URL
    func makeUIViewController(context: Context) -> UIActivityViewController {
        UIActivityViewController(activityItems: [url], applicationActivities: nil)
    }
    func updateUIViewController(_ controller: UIActivityViewController, context: Context) {}
}

struct SyncFileView: View {
    @EnvironmentObject var model: AppModel
    let projectId: String
    @State private var media: SyncFileMedia = .all
    @State private var limitText = ""
    @State private var progressText = ""
    @State private var fraction: Double?
    @State private var result = ""
    @State private var busy = false
    @State private var saving: URL?
    @State private var sharing: URL?
    @State private var opening = false

    private var choice: SyncFileChoice {
        SyncFileChoice(media: media, maxMegabytes: Int64(limitText.trimmingCharacters(in: .whitespaces)))
    }

    /// A limit typed that is not a whole number, or not a size.
    private var limitProblem: String? {
        let typed = limitText.trimmingCharacters(in: .whitespaces)
        if !typed.isEmpty && Int64(typed) == nil { return "Type the size limit as a whole number of MB." }
        return choice.problem
    }

    var body: some View {
        Form {
            Section {
                Picker("Carry", selection: $media) {
                    Text("Everything, with photos and recordings").tag(SyncFileMedia.all)
                    Text("Photo previews only").tag(SyncFileMedia.previews)
                    Text("No photos or recordings").tag(SyncFileMedia.none)
                }
                TextField("Size limit in MB (optional)", text: $limitText).keyboardType(.numberPad)
                if let problem = limitProblem { Text(problem).foregroundColor(.red) }
            } footer: {
                Text("For a device you cannot meet: carry this project's data on a memory card or send it as a file.")
            }
            Section {
                Button("Save to Files or a memory card") { export { saving = $0 } }
                Button("Share as a file") { export { sharing = $0 } }
                Button("Open a sync file") { opening = true }
            }
            .disabled(busy)
            if busy || !result.isEmpty {
                Section {
                    if let fraction, busy { ProgressView(value: fraction) }
                    if busy { Text(progressText).font(.footnote) }
                    if !result.isEmpty { Text(result) }
                }
            }
        }
        .navigationTitle("Sync by file")
        .fileMover(isPresented: Binding(get: { saving != nil }, set: { if !$0 { saving = nil } }), file: saving) { _ in
            saving = nil
        }
        .sheet(isPresented: Binding(get: { sharing != nil }, set: { if !$0 { sharing = nil } })) {
            if let sharing { ShareSheet(url: sharing) }
        }
        .fileImporter(isPresented: $opening, allowedContentTypes: [.data]) { picked in
            if case .success(let url) = picked { importFile(url) }
        }
    }

    private func relay() -> ProgressRelay {
        ProgressRelay { text, f in
            DispatchQueue.main.async {
                progressText = text
                fraction = f
            }
        }
    }

    /// Writes the file off the main thread into a temporary folder, then hands it on.
    private func export(then: @escaping (URL) -> Void) {
        guard limitProblem == nil, let options = choice.options, let project = model.project(projectId) else { return }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-\(UUID().uuidString).mapeosync")
        let listener = relay()
        work({ SyncFileText.exportSummary(try project.exportSyncFile(path: url.path, options: options, listener: listener)) }) {
            then(url)
        }
    }

    /// Copies the picked document to a temporary file (the core reads a path), imports it, deletes the copy.
    private func importFile(_ picked: URL) {
        guard let project = model.project(projectId) else { return }
        let listener = relay()
        work({
            let copy = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString).mapeosync")
            let scoped = picked.startAccessingSecurityScopedResource()
            defer {
                if scoped { picked.stopAccessingSecurityScopedResource() }
                try? FileManager.default.removeItem(at: copy)
            }
            try FileManager.default.copyItem(at: picked, to: copy)
            return SyncFileText.importSummary(try project.importSyncFile(path: copy.path, listener: listener))
        }) {}
    }

    private func work(_ body: @escaping () throws -> String, then: @escaping () -> Void) {
        busy = true
        result = ""
        DispatchQueue.global(qos: .userInitiated).async {
            let outcome = Result { try body() }
            DispatchQueue.main.async {
                busy = false
                switch outcome {
                case .success(let summary):
                    result = summary
                    then()
                case .failure(let error):
                    result = SyncFileText.error(error)
                }
            }
        }
    }
}
