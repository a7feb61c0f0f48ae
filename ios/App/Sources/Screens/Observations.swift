// The observation list (thumbnails, newest first), a new observation (category, live GPS
// with accuracy, camera photos, the category's fields, notes) and an observation's detail.
import MapeoKit
import MapeoViewLogic
import SwiftUI

struct ObservationListView: View {
    @EnvironmentObject var model: AppModel
    let project: Project
    @State private var rows: [ObservationRow] = []
    @State private var adding = false

    var body: some View {
        List(rows) { row in
            NavigationLink(destination: ObservationDetailView(project: project, docId: row.id)) {
                HStack(spacing: 12) {
                    Thumbnail(data: row.thumbnail, waiting: row.photosNotHere > 0)
                    VStack(alignment: .leading) {
                        Text(row.title).font(.headline)
                        if let s = row.subtitle { Text(s).lineLimit(1).foregroundColor(.secondary) }
                        Text(Date(timeIntervalSince1970: Double(row.createdAt) / 1000), style: .date)
                            .font(.caption).foregroundColor(.secondary)
                    }
                }
            }
        }
        .overlay { if rows.isEmpty { Text("No observations yet").foregroundColor(.secondary) } }
        .toolbar { Button("Add") { adding = true } }
        .sheet(isPresented: $adding, onDismiss: reload) { NewObservationView(project: project) }
        .onAppear(perform: reload)
        .onReceive(model.$syncStates) { _ in reload() }
        .refreshable { reload() }
    }

    private func reload() {
        let docs = model.run { try project.listObservations(query: Query()) } ?? []
        let presets = model.run { try project.listPresets(query: Query()) } ?? []
        rows = ObservationList.rows(docs, presets: Dictionary(presets.map { ($0.meta.docId, $0) }, uniquingKeysWith: { a, _ in a })) {
            try? project.attachmentBytes(attachment: $0, variant: .thumbnail)
        }
    }
}

/// A small photo from its bytes (read through the core: media are encrypted on the phone).
struct Thumbnail: View {
    let data: Data?
    let waiting: Bool

    var body: some View {
        Group {
            if let data, let image = UIImage(data: data) {
                Image(uiImage: image).resizable().scaledToFill()
            } else {
                Image(systemName: waiting ? "photo.badge.arrow.down" : "mappin.and.ellipse")
                    .foregroundColor(.secondary)
            }
        }
        .frame(width: 56, height: 56)
        .clipped()
        .cornerRadius(6)
    }
}

struct NewObservationView: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.dismiss) private var dismiss
    let project: Project
    /// A point placed on the map (`manualLocation`), if the map opened this form with one.
    var placed: PlacedPoint? = nil
    @StateObject private var location = LocationReader()
    @State private var form = ObservationForm(projectHasPresets: false)
    @State private var presets: [PresetDoc] = []
    @State private var fields: [FieldDoc] = []
    @State private var camera = false
    @State private var now = Int64(Date().timeIntervalSince1970 * 1000)
    private let clock = Timer.publish(every: 1, on: .main, in: .common).autoconnect()

    var body: some View {
        NavigationView {
            Form {
                if !presets.isEmpty {
                    Picker("Category", selection: Binding(
                        get: { form.preset?.meta.docId ?? "" },
                        set: { id in form.choose(preset: presets.first { $0.meta.docId == id }, allFields: fields) }
                    )) {
                        Text("Choose…").tag("")
                        ForEach(presets, id: \.meta.docId) { Text($0.value.name).tag($0.meta.docId) }
                    }
                }
                Section("Location") {
                    Text(AccuracyText.describe(form.fix, nowMs: now))
                    if location.denied { Text("Location is off for Mapeo in Settings.").foregroundColor(.red) }
                }
                Section("Photos") {
                    ScrollView(.horizontal) {
                        HStack {
                            ForEach(form.attachments, id: \.hash) { a in
                                Thumbnail(data: try? project.attachmentBytes(attachment: a, variant: .thumbnail), waiting: false)
                            }
                        }
                    }
                    Button("Take photo") { camera = true }
                }
                ForEach(form.fields, id: \.fieldId) { f in FieldInput(field: f.field, form: $form) }
                Section("Notes") { TextEditor(text: $form.notes).frame(minHeight: 80) }
                ForEach(form.problems(nowMs: now).map(\.message), id: \.self) { text in
                    Text(text).foregroundColor(.orange)
                }
            }
            .navigationTitle("New observation")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) { Button("Cancel") { dismiss() } }
                ToolbarItem(placement: .confirmationAction) {
                    Button("Save") {
                        if let obs = form.observation(nowMs: now), model.run({ try project.createObservation(value: obs) }) != nil {
                            dismiss()
                        }
                    }
                    .disabled(!form.canSave(nowMs: now))
                }
            }
            .sheet(isPresented: $camera) {
                CameraPicker { url in
                    if let a = model.run({ try project.addAttachmentFromPath(path: url.path) }) { form.attachments.append(a) }
                    try? FileManager.default.removeItem(at: url)
                }
            }
        }
        .onAppear {
            presets = model.run { try project.listPresets(query: Query()) } ?? []
            fields = model.run { try project.listFields(query: Query()) } ?? []
            form = ObservationForm(projectHasPresets: !presets.isEmpty)
            location.start()
        }
        .onDisappear { location.stop() }
        .onReceive(location.$fix) { fix in if let fix { form.fix = fix } }
        .onAppear { form.placed = placed }
        .onReceive(clock) { _ in now = Int64(Date().timeIntervalSince1970 * 1000) }
    }
}

/// One of the category's questions, answered as its type says.
struct FieldInput: View {
    let field: Field
    @Binding var form: ObservationForm

    var body: some View {
        Section(header: Text(field.label), footer: field.helperText.map { Text($0) }) {
            switch field.fieldType {
            case .text, .number, .date:
                TextField(
                    field.placeholder ?? (field.fieldType == .date ? "YYYY-MM-DD" : ""),
                    text: Binding(get: { form.textAnswers[field.tagKey] ?? "" }, set: { form.textAnswers[field.tagKey] = $0 })
                )
                .keyboardType(field.fieldType == .number ? .decimalPad : .default)
            case .selectOne, .selectMultiple:
                ForEach(Array(field.options.enumerated()), id: \.offset) { i, option in
                    Button {
                        var chosen = form.selections[field.tagKey] ?? []
                        if chosen.contains(i) {
                            chosen.removeAll { $0 == i }
                        } else {
                            chosen = field.fieldType == .selectOne ? [i] : chosen + [i]
                        }
                        form.selections[field.tagKey] = chosen
                    } label: {
                        HStack {
                            Text(option.label)
                            Spacer()
                            if form.selections[field.tagKey]?.contains(i) == true { Image(systemName: "checkmark") }
                        }
                    }
                }
            }
        }
    }
}

struct ObservationDetailView: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.dismiss) private var dismiss
    let project: Project
    let docId: String
    @State private var doc: ObservationDoc?

    var body: some View {
        List {
            if let doc {
                Section("Photos") {
                    ForEach(doc.value.attachments.filter { $0.kind == .photo }, id: \.hash) { a in
                        // The preview if it is here, else the thumbnail, else a placeholder.
                        let data = (try? project.attachmentBytes(attachment: a, variant: .preview))
                            ?? (try? project.attachmentBytes(attachment: a, variant: .thumbnail))
                        if let data, let image = UIImage(data: data) {
                            Image(uiImage: image).resizable().scaledToFit()
                        } else {
                            Label("Not on this phone yet", systemImage: "photo.badge.arrow.down")
                        }
                    }
                }
                if let lat = doc.value.lat, let lon = doc.value.lon {
                    Section("Location") {
                        Text(String(format: "%.5f, %.5f", lat, lon))
                        if let acc = doc.value.metadata?.position?.coords?.accuracy { Text("±\(Int(acc)) m") }
                    }
                }
                Section("Answers") {
                    ForEach(doc.value.tags.keys.sorted(), id: \.self) { key in
                        HStack { Text(key); Spacer(); Text(describe(doc.value.tags[key])).foregroundColor(.secondary) }
                    }
                }
                Section {
                    Button("Delete", role: .destructive) {
                        if model.run({ try project.deleteObservation(docId: docId) }) != nil { dismiss() }
                    }
                }
            }
        }
        .navigationTitle("Observation")
        .onAppear { doc = model.run { try project.getObservation(docId: docId) } }
    }

    private func describe(_ value: TagValue?) -> String {
        switch value {
        case .text(let t)?: return t
        case .number(let n)?: return String(n)
        case .bool(let b)?: return b ? "yes" : "no"
        case .listOf(let items)?: return items.map { "\($0)" }.joined(separator: ", ")
        case .null?, nil: return ""
        }
    }
}
