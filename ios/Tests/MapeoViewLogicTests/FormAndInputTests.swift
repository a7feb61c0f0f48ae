// The new-observation form (fields from the preset, validation, the observation it saves)
// and the connection-code / address input.
import MapeoKit
import XCTest

@testable import MapeoViewLogic

func meta(_ id: String, version: String? = nil, createdAt: Int64 = 1_700_000_000_000, deleted: Bool = false) -> DocMeta {
    DocMeta(
        docId: id, versionId: version ?? "\(id)/data/0", originalVersionId: nil, createdAt: createdAt,
        updatedAt: createdAt, createdBy: "dev", updatedBy: "dev", links: [], forks: [], deleted: deleted)
}

let now: Int64 = 1_750_000_000_000

final class ObservationFormTests: XCTestCase {
    let fields = [
        FieldDoc(meta: meta("f-count"), value: Field(tagKey: "count", fieldType: .number, label: "How many")),
        FieldDoc(
            meta: meta("f-kind"),
            value: Field(
                tagKey: "kind", fieldType: .selectOne, label: "Kind",
                options: [
                    FieldOption(label: "Gold", value: .text(value: "gold")),
                    FieldOption(label: "Tin", value: .text(value: "tin")),
                ])),
        FieldDoc(
            meta: meta("f-seen"),
            value: Field(
                tagKey: "seen", fieldType: .selectMultiple, label: "Seen",
                options: [
                    FieldOption(label: "Boats", value: .text(value: "boats")),
                    FieldOption(label: "Two", value: .number(value: 2)),
                ])),
        FieldDoc(meta: meta("f-date"), value: Field(tagKey: "since", fieldType: .date, label: "Since")),
        FieldDoc(meta: meta("f-name"), value: Field(tagKey: "who", fieldType: .text, label: "Who")),
    ]

    var mining: PresetDoc {
        PresetDoc(
            meta: meta("p-mining", version: "abc/config/7"),
            value: Preset(
                name: "Mining", geometry: [.point], tags: ["type": .text(value: "mining")],
                addTags: ["checked": .bool(value: false)],
                fieldRefs: ["f-date", "f-count", "f-kind", "f-seen", "f-name", "f-gone"].map {
                    DocRef(docId: $0, versionId: "\($0)/config/0")
                }))
    }

    func testFieldsFollowThePresetAndMissingOnesAreCounted() {
        var form = ObservationForm(projectHasPresets: true)
        form.choose(preset: mining, allFields: fields)
        XCTAssertEqual(form.fields.map(\.field.tagKey), ["since", "count", "kind", "seen", "who"])
        XCTAssertEqual(form.missingFieldCount, 1)
        XCTAssertTrue(form.problems(nowMs: now).contains(.missingFields(count: 1)))
    }

    func testBlockingProblemsComeFirstAndStopSaving() {
        var form = ObservationForm(projectHasPresets: true)
        XCTAssertEqual(form.problems(nowMs: now), [.noPreset, .noLocation])
        XCTAssertNil(form.observation(nowMs: now))
        form.choose(preset: mining, allFields: fields)
        form.textAnswers = ["count": "twelve", "since": "2024-02-30"]
        form.selections = ["kind": [0, 1]]
        form.fix = LocationFix(latitude: 95, longitude: 10, accuracy: 80, timestampMs: now - 180_000)
        XCTAssertEqual(
            form.problems(nowMs: now),
            [
                .notADate(tagKey: "since", label: "Since"), .notANumber(tagKey: "count", label: "How many"),
                .unknownOption(tagKey: "kind", label: "Kind"), .badCoordinates, .poorAccuracy(metres: 80),
                .staleFix(minutes: 3), .missingFields(count: 1),
            ])
        XCTAssertFalse(form.canSave(nowMs: now))
        XCTAssertEqual(FormProblem.notANumber(tagKey: "count", label: "How many").message, "How many: enter a number.")
    }

    func testTheSavedObservationHasPresetTagsAnswersNotesLocationAndPhotos() throws {
        var form = ObservationForm(projectHasPresets: true)
        form.choose(preset: mining, allFields: fields)
        form.textAnswers = ["count": " 3,5 ", "since": "2024-02-29", "who": "  "]
        form.selections = ["kind": [1], "seen": [1, 0]]
        form.notes = "  oil on the water\n"
        form.fix = LocationFix(
            latitude: -3.4653, longitude: -62.2159, altitude: 40, accuracy: 6, timestampMs: now - 1_000)
        let photo = Attachment(name: "IMG_1.jpg", kind: .photo, hash: String(repeating: "ab", count: 32))
        form.attachments = [photo]
        XCTAssertTrue(form.canSave(nowMs: now), "\(form.problems(nowMs: now))")
        XCTAssertEqual(form.problems(nowMs: now), [.missingFields(count: 1)], "a warning only")

        let obs = try XCTUnwrap(form.observation(nowMs: now))
        XCTAssertEqual(obs.lat, -3.4653)
        XCTAssertEqual(obs.lon, -62.2159)
        XCTAssertEqual(obs.presetRef, DocRef(docId: "p-mining", versionId: "abc/config/7"))
        XCTAssertEqual(obs.attachments, [photo])
        XCTAssertEqual(
            obs.tags,
            [
                "type": .text(value: "mining"), "checked": .bool(value: false), "count": .number(value: 3.5),
                "since": .text(value: "2024-02-29"), "kind": .text(value: "tin"),
                "seen": .listOf(items: [.text(value: "boats"), .number(value: 2)]),
                "notes": .text(value: "oil on the water"),
            ])
        XCTAssertEqual(obs.metadata?.manualLocation, false)
        XCTAssertEqual(obs.metadata?.position?.timestamp, now - 1_000)
        XCTAssertEqual(obs.metadata?.position?.coords?.accuracy, 6)
        XCTAssertEqual(obs.metadata?.position?.coords?.altitude, 40)
    }

    func testChangingPresetKeepsOnlyAnswersItAlsoAsks() {
        var form = ObservationForm(projectHasPresets: true)
        form.choose(preset: mining, allFields: fields)
        form.textAnswers = ["count": "4", "who": "Ana"]
        let other = PresetDoc(
            meta: meta("p-other"),
            value: Preset(name: "Other", geometry: [.point], fieldRefs: [DocRef(docId: "f-name", versionId: "x")]))
        form.choose(preset: other, allFields: fields)
        XCTAssertEqual(form.textAnswers, ["who": "Ana"])
    }

    func testWithoutPresetsNoneIsNeededAndNoLocationIsAWarning() throws {
        var form = ObservationForm(projectHasPresets: false)
        form.notes = "a note"
        XCTAssertEqual(form.problems(nowMs: now), [.noLocation])
        let obs = try XCTUnwrap(form.observation(nowMs: now))
        XCTAssertNil(obs.lat)
        XCTAssertNil(obs.metadata)
        XCTAssertEqual(obs.tags, ["notes": .text(value: "a note")])
    }

    func testAccuracyText() {
        XCTAssertEqual(AccuracyText.describe(nil, nowMs: now), "Waiting for GPS…")
        XCTAssertEqual(AccuracyText.describe(LocationFix(latitude: 1, longitude: 2, accuracy: 7.6, timestampMs: now), nowMs: now), "±8 m")
        XCTAssertEqual(
            AccuracyText.describe(LocationFix(latitude: 1, longitude: 2, accuracy: 120, timestampMs: now - 125_000), nowMs: now),
            "±120 m · poor, move to open sky · 2 min old")
        XCTAssertEqual(AccuracyText.describe(LocationFix(latitude: 1, longitude: 2, timestampMs: now), nowMs: now), "accuracy unknown")
    }

    func testNumbersAndDates() {
        XCTAssertEqual(ObservationForm.number("-2.5e3"), -2500)
        XCTAssertNil(ObservationForm.number("inf"))
        XCTAssertNil(ObservationForm.number("nan"))
        XCTAssertNil(ObservationForm.number("1e999"))
        XCTAssertNil(ObservationForm.number("١٢"), "digits other than ASCII are refused, not misread")
        XCTAssertEqual(ObservationForm.date("2000-02-29"), "2000-02-29")
        XCTAssertNil(ObservationForm.date("1900-02-29"))
        XCTAssertNil(ObservationForm.date("2024-13-01"))
        XCTAssertNil(ObservationForm.date("2024-1-01"))
    }
}

final class ConnectionInputTests: XCTestCase {
    func testCodesAreTidiedForTheCore() {
        XCTAssertEqual(ConnectionInput.parse(" mp1a-bcd0 1234\n"), .success(.code("MP1ABCD01234")))
        XCTAssertEqual(ConnectionInput.parse("MP2ABCD"), .failure(.unsupportedCodeVersion))
        XCTAssertEqual(ConnectionInput.parse("MP1ABÇD"), .failure(.badCharacter))
        XCTAssertEqual(ConnectionInput.parse("MP1AUB"), .failure(.badCharacter), "U is not in Crockford base32")
        XCTAssertEqual(ConnectionInput.parse("MP1"), .failure(.notACodeOrAddress))
        XCTAssertEqual(ConnectionInput.parse("hello"), .failure(.notACodeOrAddress))
        XCTAssertEqual(ConnectionInput.parse("   "), .failure(.empty))
        XCTAssertEqual(ConnectionInput.parse("MP1" + String(repeating: "A", count: 300)), .failure(.tooLong))
    }

    func testAddresses() {
        XCTAssertEqual(ConnectionInput.parse("192.168.1.20:47380"), .success(.address("192.168.1.20:47380")))
        XCTAssertEqual(ConnectionInput.parse("[FE80::1]:5"), .success(.address("[fe80::1]:5")))
        XCTAssertEqual(ConnectionInput.parse("192.168.1.20"), .failure(.badPort))
        XCTAssertEqual(ConnectionInput.parse("192.168.1.20:0"), .failure(.badPort))
        XCTAssertEqual(ConnectionInput.parse("192.168.1.20:65536"), .failure(.badPort))
        XCTAssertEqual(ConnectionInput.parse("[::1]"), .failure(.badPort))
        XCTAssertEqual(ConnectionInput.parse("256.1.1.1:80"), .failure(.notACodeOrAddress))
        XCTAssertEqual(ConnectionInput.parse("01.1.1.1:80"), .failure(.notACodeOrAddress))
        XCTAssertEqual(ConnectionInput.parse("example.com:80"), .failure(.notACodeOrAddress))
    }
}
