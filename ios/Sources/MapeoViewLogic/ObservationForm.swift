// The new-observation form: the chosen preset's fields in its order, the answers as typed, a
// GPS fix, photos and notes; what is wrong with them, and the `Observation` to save. The
// core checks the document again when it is written; this catches what the user can fix on
// the screen, in words about the screen.
import Foundation
import MapeoKit

/// A position reading from the device (CoreLocation on iOS), in the core's units: degrees,
/// metres, metres per second, ms since the epoch.
public struct LocationFix: Equatable, Sendable {
    public var latitude: Double
    public var longitude: Double
    public var altitude: Double?
    /// Horizontal accuracy (radius), metres; `nil` if the device gave none.
    public var accuracy: Double?
    public var altitudeAccuracy: Double?
    public var heading: Double?
    public var speed: Double?
    public var timestampMs: Int64
    public var mocked: Bool

    public init(
        latitude: Double, longitude: Double, altitude: Double? = nil, accuracy: Double? = nil,
        altitudeAccuracy: Double? = nil, heading: Double? = nil, speed: Double? = nil,
        timestampMs: Int64, mocked: Bool = false
    ) {
        self.latitude = latitude
        self.longitude = longitude
        self.altitude = altitude
        self.accuracy = accuracy
        self.altitudeAccuracy = altitudeAccuracy
        self.heading = heading
        self.speed = speed
        self.timestampMs = timestampMs
        self.mocked = mocked
    }
}

/// A point placed by hand on the map, degrees.
public struct PlacedPoint: Equatable, Sendable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }
}

/// Text for the GPS line of the form.
public enum AccuracyText {
    /// Accuracy worse than this (metres) is shown as poor, and warned about on save.
    public static let poorAccuracyMetres = 50.0
    /// A fix older than this (ms) is shown as old, and warned about on save.
    public static let staleFixMs: Int64 = 60_000

    /// "Waiting for GPS…", "±8 m", "±120 m · poor, move to open sky", "±8 m · 2 min old".
    public static func describe(_ fix: LocationFix?, nowMs: Int64) -> String {
        guard let fix else { return "Waiting for GPS…" }
        var text: String
        if let accuracy = fix.accuracy, accuracy.isFinite, accuracy >= 0 {
            text = "±\(Int(accuracy.rounded())) m"
            if accuracy > poorAccuracyMetres { text += " · poor, move to open sky" }
        } else {
            text = "accuracy unknown"
        }
        let age = nowMs - fix.timestampMs
        if age > staleFixMs { text += " · \(age / 60_000) min old" }
        return text
    }
}

/// One field of the form, with how it is answered.
public struct FormField: Equatable, Sendable {
    /// The field's document id.
    public let fieldId: String
    /// The field itself (label, type, options, tag key).
    public let field: Field
}

/// Something to fix before saving (`isBlocking`) or to confirm.
public enum FormProblem: Equatable, Sendable {
    /// The project has categories and none was chosen.
    case noPreset
    /// A number field holds something that is not a number.
    case notANumber(tagKey: String, label: String)
    /// A date field holds something that is not a date (`YYYY-MM-DD`).
    case notADate(tagKey: String, label: String)
    /// A select field holds a value that is not one of its options.
    case unknownOption(tagKey: String, label: String)
    /// The position is outside the valid range of latitude and longitude.
    case badCoordinates
    /// No GPS fix yet: the observation would have no location.
    case noLocation
    /// The fix is poor (metres).
    case poorAccuracy(metres: Int)
    /// The fix is old (minutes).
    case staleFix(minutes: Int64)
    /// Fields of the preset that this device does not have (the preset names them, they
    /// have not arrived by sync): they are not shown.
    case missingFields(count: Int)

    /// Whether saving must wait until it is fixed; the others are warnings to confirm.
    public var isBlocking: Bool {
        switch self {
        case .noPreset, .notANumber, .notADate, .unknownOption, .badCoordinates: return true
        case .noLocation, .poorAccuracy, .staleFix, .missingFields: return false
        }
    }

    /// What to tell the user.
    public var message: String {
        switch self {
        case .noPreset: return "Choose a category."
        case .notANumber(_, let label): return "\(label): enter a number."
        case .notADate(_, let label): return "\(label): enter a date as YYYY-MM-DD."
        case .unknownOption(_, let label): return "\(label): choose one of the options."
        case .badCoordinates: return "The location is not valid."
        case .noLocation: return "No GPS location yet. Save without a location?"
        case .poorAccuracy(let m): return "The GPS location is only accurate to \(m) m."
        case .staleFix(let min): return "The GPS location is \(min) min old."
        case .missingFields(let n): return "\(n) question\(n == 1 ? "" : "s") of this category not on this device yet."
        }
    }
}

/// The state of the new-observation screen.
public struct ObservationForm: Equatable, Sendable {
    /// The note's tag (as in the reference data model).
    public static let notesTag = "notes"

    /// The chosen preset, if any.
    public private(set) var preset: PresetDoc?
    /// Its fields, in the preset's order.
    public private(set) var fields: [FormField] = []
    /// How many of the preset's fields this device does not have.
    public private(set) var missingFieldCount = 0
    /// Whether the project has presets (then one must be chosen).
    public let projectHasPresets: Bool
    /// Text answers (text, number, date fields) by tag key, as typed.
    public var textAnswers: [String: String] = [:]
    /// Chosen option indices (select fields) by tag key.
    public var selections: [String: [Int]] = [:]
    /// The notes.
    public var notes = ""
    /// The latest GPS fix.
    public var fix: LocationFix?
    /// A point the user placed on the map (`manualLocation`): wins over the fix.
    public var placed: PlacedPoint?
    /// Photos added (from `Project.addAttachmentFromPath`).
    public var attachments: [Attachment] = []

    public init(projectHasPresets: Bool) {
        self.projectHasPresets = projectHasPresets
    }

    /// Chooses a preset; its fields are looked up in `allFields` by the ids the preset names.
    /// Answers to fields the new preset also has are kept; others are dropped.
    public mutating func choose(preset: PresetDoc?, allFields: [FieldDoc]) {
        self.preset = preset
        let byId = Dictionary(allFields.map { ($0.meta.docId, $0) }, uniquingKeysWith: { a, _ in a })
        let refs = preset?.value.fieldRefs ?? []
        fields = refs.compactMap { ref in byId[ref.docId].map { FormField(fieldId: $0.meta.docId, field: $0.value) } }
        missingFieldCount = refs.count - fields.count
        let keys = Set(fields.map(\.field.tagKey))
        textAnswers = textAnswers.filter { keys.contains($0.key) }
        selections = selections.filter { keys.contains($0.key) }
    }

    /// Everything to fix or confirm, blocking ones first.
    public func problems(nowMs: Int64) -> [FormProblem] {
        var out: [FormProblem] = []
        if projectHasPresets && preset == nil { out.append(.noPreset) }
        for f in fields {
            let key = f.field.tagKey
            let label = f.field.label
            switch f.field.fieldType {
            case .number:
                if let raw = answer(key), Self.number(raw) == nil { out.append(.notANumber(tagKey: key, label: label)) }
            case .date:
                if let raw = answer(key), Self.date(raw) == nil { out.append(.notADate(tagKey: key, label: label)) }
            case .selectOne, .selectMultiple:
                let chosen = selections[key] ?? []
                if chosen.contains(where: { !f.field.options.indices.contains($0) })
                    || (f.field.fieldType == .selectOne && chosen.count > 1)
                {
                    out.append(.unknownOption(tagKey: key, label: label))
                }
            case .text:
                break
            }
        }
        if let fix {
            if !(-90...90).contains(fix.latitude) || !(-180...180).contains(fix.longitude) {
                out.append(.badCoordinates)
            }
            if let a = fix.accuracy, a.isFinite, a > AccuracyText.poorAccuracyMetres {
                out.append(.poorAccuracy(metres: Int(a.rounded())))
            }
            let age = nowMs - fix.timestampMs
            if age > AccuracyText.staleFixMs { out.append(.staleFix(minutes: age / 60_000)) }
        } else if placed == nil {
            out.append(.noLocation)
        }
        if let placed, !(-90...90).contains(placed.latitude) || !(-180...180).contains(placed.longitude) {
            out.append(.badCoordinates)
        }
        if missingFieldCount > 0 { out.append(.missingFields(count: missingFieldCount)) }
        return out.filter(\.isBlocking) + out.filter { !$0.isBlocking }
    }

    /// Whether saving is allowed (no blocking problem).
    public func canSave(nowMs: Int64) -> Bool {
        !problems(nowMs: nowMs).contains(where: \.isBlocking)
    }

    /// The observation to create: the preset's tags and added tags, the answers (empty ones
    /// left out), the notes, the location with how it was read, and the photos. `nil` while
    /// a blocking problem remains.
    public func observation(nowMs: Int64) -> Observation? {
        guard canSave(nowMs: nowMs) else { return nil }
        var tags: [String: TagValue] = [:]
        if let p = preset?.value {
            tags.merge(p.tags) { _, new in new }
            tags.merge(p.addTags) { _, new in new }
        }
        for f in fields {
            let key = f.field.tagKey
            switch f.field.fieldType {
            case .text:
                if let raw = answer(key) { tags[key] = .text(value: raw) }
            case .number:
                if let raw = answer(key), let n = Self.number(raw) { tags[key] = .number(value: n) }
            case .date:
                if let raw = answer(key), let d = Self.date(raw) { tags[key] = .text(value: d) }
            case .selectOne:
                if let i = selections[key]?.first { tags[key] = Self.tagValue(f.field.options[i].value) }
            case .selectMultiple:
                let chosen = (selections[key] ?? []).sorted()
                if !chosen.isEmpty { tags[key] = .listOf(items: chosen.map { f.field.options[$0].value }) }
            }
        }
        let trimmedNotes = notes.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmedNotes.isEmpty { tags[Self.notesTag] = .text(value: trimmedNotes) }

        var metadata: ObservationMetadata?
        if let fix {
            let coords = Coords(
                latitude: fix.latitude, longitude: fix.longitude, altitude: fix.altitude,
                altitudeAccuracy: fix.altitudeAccuracy, heading: fix.heading, speed: fix.speed,
                accuracy: fix.accuracy)
            metadata = ObservationMetadata(
                manualLocation: placed != nil,
                position: Position(timestamp: fix.timestampMs, mocked: fix.mocked, coords: coords),
                positionProvider: nil)
        } else if placed != nil {
            metadata = ObservationMetadata(manualLocation: true, position: nil, positionProvider: nil)
        }
        return Observation(
            lat: placed?.latitude ?? fix?.latitude, lon: placed?.longitude ?? fix?.longitude, attachments: attachments, tags: tags,
            metadata: metadata,
            presetRef: preset.map { DocRef(docId: $0.meta.docId, versionId: $0.meta.versionId) })
    }

    private func answer(_ key: String) -> String? {
        let raw = textAnswers[key]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return raw.isEmpty ? nil : raw
    }

    /// A finite number; a decimal comma is read as a point ("3,5" is 3.5).
    static func number(_ raw: String) -> Double? {
        let text = raw.replacingOccurrences(of: ",", with: ".")
        guard text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
            let n = Double(text), n.isFinite
        else { return nil }
        return n
    }

    /// A calendar date `YYYY-MM-DD` that exists, returned as written.
    static func date(_ raw: String) -> String? {
        let parts = raw.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1
        else { return nil }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return d <= days ? raw : nil
    }

    static func tagValue(_ p: TagPrimitive) -> TagValue {
        switch p {
        case .null: return .null
        case .bool(let v): return .bool(value: v)
        case .number(let v): return .number(value: v)
        case .text(let v): return .text(value: v)
        }
    }
}
