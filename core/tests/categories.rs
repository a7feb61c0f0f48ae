//! Categories files: the real file CoMapeo ships imports whole (categories, fields, icons,
//! translations, selection order, metadata) and reads back in Spanish and Portuguese;
//! malformed files are refused with a typed error and change nothing; answers are checked
//! against their category on this device's writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "support/default_config.rs"]
mod default_config;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use common::Device;
use mapeo_core::categories::{self, CategoriesError, LocalizedCategory};
use mapeo_core::schema::{
    DocRef, DocType, DocValue, FieldType, Geometry, Observation, TagPrimitive, TagValue,
    ValidationError,
};
use mapeo_core::{Error, Project, Query};
use serde_json::Value;

fn names(list: &[LocalizedCategory]) -> Vec<&str> {
    list.iter().map(|c| c.name.as_str()).collect()
}

fn by_name<'a>(list: &'a [LocalizedCategory], name: &str) -> &'a LocalizedCategory {
    list.iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no category {name}"))
}

/// What a project's categories are, to compare before and after a refused import.
fn snapshot(p: &Project) -> Vec<Vec<mapeo_core::Document>> {
    [
        DocType::Preset,
        DocType::Field,
        DocType::Icon,
        DocType::Translation,
        DocType::ProjectSettings,
    ]
    .into_iter()
    .map(|t| p.list(&Query::all(t)).unwrap())
    .collect()
}

#[test]
fn the_default_config_comapeo_ships_imports_whole_and_reads_in_spanish_and_portuguese() {
    let Some(file) = default_config::default_config() else {
        return;
    };
    let zip = default_config::zip_files(&file);
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();

    let summary = categories::import_file(&p, &file).unwrap();
    let meta = summary.metadata.clone().unwrap();
    assert_eq!(meta.name, "CoMapeo Default Config");
    assert_eq!(meta.version.as_deref(), Some("6.0.0"));
    assert_eq!(meta.build_date.map(|t| t.0), Some(1_760_532_046_202));
    assert_eq!(meta.file_version, "1.0");
    assert_eq!(summary.categories.len(), 27);
    assert_eq!(summary.fields, 11);
    assert_eq!(summary.icons, 26);
    // Every text of every translation file is a known category or field property.
    let texts_in_file: usize = zip
        .iter()
        .filter(|(name, _)| name.starts_with("translations/"))
        .map(|(_, bytes)| {
            let v: Value = serde_json::from_slice(bytes).unwrap();
            v.as_object()
                .unwrap()
                .values()
                .flat_map(|by_id| by_id.as_object().unwrap().values())
                .map(|props| props.as_object().unwrap().len())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(texts_in_file, 795);
    assert_eq!(summary.translations, texts_in_file);
    assert_eq!(summary.skipped_translations, 0);
    assert_eq!(summary.languages.len(), 13, "{:?}", summary.languages);
    assert_eq!(categories::languages(&p).unwrap(), summary.languages);

    assert_eq!(p.list(&Query::all(DocType::Preset)).unwrap().len(), 27);
    assert_eq!(p.list(&Query::all(DocType::Field)).unwrap().len(), 11);
    assert_eq!(p.list(&Query::all(DocType::Icon)).unwrap().len(), 26);
    assert_eq!(
        p.list(&Query::all(DocType::Translation)).unwrap().len(),
        795
    );

    // The metadata is in the project's settings, with when it was imported.
    let settings = p.settings().unwrap();
    let stored = settings.config_metadata.clone().unwrap();
    assert_eq!(stored.name, "CoMapeo Default Config");
    assert!(stored.import_date.0 > 1_760_532_046_202);

    // The selection order of the file, per document type.
    let selection: Value = serde_json::from_slice(&zip["categorySelection.json"]).unwrap();
    let cats: Value = serde_json::from_slice(&zip["categories.json"]).unwrap();
    let names_of = |list: &str| -> Vec<String> {
        selection[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| {
                cats[id.as_str().unwrap()]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let for_observations = categories::categories_for(&p, Geometry::Point, None).unwrap();
    assert_eq!(names(&for_observations), names_of("observation"));
    assert_eq!(for_observations.len(), 26);
    assert_eq!(for_observations[0].name, "New point");
    let for_tracks = categories::categories_for(&p, Geometry::Line, None).unwrap();
    assert_eq!(names(&for_tracks), names_of("track"));
    assert_eq!(
        names(&for_tracks),
        ["New line", "Boundary", "River", "Path", "Stream", "Threat"]
    );
    let all = categories::categories(&p, None).unwrap();
    assert_eq!(all.len(), 27);
    assert_eq!(names(&all)[..26], names_of("observation")[..]);
    assert_eq!(all[26].name, "New line");

    // Icons: the SVG bytes of the file, named by the category.
    let airstrip = by_name(&all, "Airstrip");
    assert_eq!(airstrip.icon_name.as_deref(), Some("airstrip"));
    assert_eq!(airstrip.color.as_deref(), Some("#B209B2"));
    assert_eq!(airstrip.geometry, vec![Geometry::Point]);
    let icon = p.get(&airstrip.icon.as_ref().unwrap().doc_id).unwrap();
    let DocValue::Icon(icon) = icon.doc.value else {
        panic!("not an icon")
    };
    assert_eq!(icon.variants[0].data, zip["icons/airstrip.svg"]);
    assert_eq!(
        by_name(&all, "New point").icon_name.as_deref(),
        Some("estrella")
    );

    // One field's options, in the file's order.
    let building = by_name(&all, "Building");
    let field = &building.fields[0];
    assert_eq!(field.tag_key, "building-type");
    assert_eq!(field.field_type, FieldType::SelectOne);
    assert_eq!(field.label, "Building type");
    let labels: Vec<&str> = field.options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(
        labels,
        ["School", "Hospital", "Homestead", "Church", "Shop", "Other"]
    );
    assert_eq!(field.options[3].value, TagPrimitive::from("Church"));

    // Spanish: names, terms, labels, helper texts and option labels.
    let es = categories::categories(&p, Some("es")).unwrap();
    assert_eq!(
        names(&es)[..3],
        ["Nuevo punto", "Pista de aterrizaje", "Animal"]
    );
    let pista = by_name(&es, "Pista de aterrizaje");
    assert_eq!(pista.doc_id, airstrip.doc_id);
    assert_eq!(
        pista.terms,
        ["campo de aviación", "aeropuerto", "aterrizaje"]
    );
    let edificio = &by_name(&es, "Construcción").fields[0];
    assert_eq!(edificio.label, "Tipo de edificio");
    assert_eq!(
        edificio.helper_text.as_deref(),
        Some("Escuela/hospital/etc")
    );
    let labels: Vec<&str> = edificio.options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Escuela", "Hospital", "Caserío", "Iglesia", "Tienda", "Otro"
        ]
    );
    // Values stay as stored, whatever the language.
    assert_eq!(edificio.options[3].value, TagPrimitive::from("Church"));
    // A region without its own file falls back to the language; `_` works as `-`.
    assert_eq!(categories::categories(&p, Some("es-PE")).unwrap(), es);
    assert_eq!(categories::categories(&p, Some("es_PE")).unwrap(), es);

    // Portuguese: names; this file has no option labels in Portuguese, so they stay as
    // written.
    let pt = categories::categories(&p, Some("pt-BR")).unwrap();
    assert!(names(&pt).contains(&"Pista"));
    assert!(names(&pt).contains(&"Cachoeira"));
    let predio = &by_name(&pt, "Prédio").fields[0];
    assert_eq!(predio.label, "Tipo de prédio");
    assert_eq!(predio.options[0].label, "School");
    let pt_fields = categories::fields(&p, Some("pt")).unwrap();
    assert_eq!(pt_fields.len(), 11);
    assert!(pt_fields.iter().any(|f| f.label == "Tipo de animal"));

    // A language the file does not have: the original texts.
    assert_eq!(categories::categories(&p, Some("qu")).unwrap(), all);
    assert!(matches!(
        categories::categories(&p, Some("not a language")),
        Err(CategoriesError::BadLanguage)
    ));

    // Importing again replaces rather than adds.
    let again = categories::import_file(&p, &file).unwrap();
    assert_eq!(again.replaced, 27 + 11 + 26 + 795);
    assert_eq!(p.list(&Query::all(DocType::Preset)).unwrap().len(), 27);
    assert_eq!(
        categories::categories_for(&p, Geometry::Point, None)
            .unwrap()
            .len(),
        26
    );
}

/// A small, valid categories file in format 1.0, as files by name.
fn small_set() -> BTreeMap<String, Vec<u8>> {
    let files: [(&str, &str); 7] = [
        ("VERSION", "1.0"),
        (
            "metadata.json",
            r#"{"name": "River watch", "version": "1.2", "buildDateValue": 1767225600000, "builderName": "test"}"#,
        ),
        (
            "categories.json",
            r##"{
            "water": {"name": "Water", "appliesTo": ["observation"], "tags": {"type": "water"}, "fields": ["source", "depth"], "icon": "drop", "color": "#00f"},
            "mine": {"name": "Mine", "appliesTo": ["observation", "track"], "tags": {"type": "mine"}, "fields": ["uses"]},
            "road": {"name": "Road", "appliesTo": ["track"], "tags": {"type": "road"}, "fields": []}
        }"##,
        ),
        (
            "categorySelection.json",
            r#"{"observation": ["water", "mine"], "track": ["road", "mine"]}"#,
        ),
        (
            "fields.json",
            r#"{
            "source": {"type": "selectOne", "tagKey": "source", "label": "Source", "options": [{"label": "River", "value": "river"}, {"label": "Well", "value": "well"}]},
            "depth": {"type": "number", "tagKey": "depth", "label": "Depth"},
            "uses": {"type": "selectMultiple", "tagKey": "uses", "label": "Uses", "options": [{"label": "Gold", "value": "gold"}, {"label": "Sand", "value": "sand"}]}
        }"#,
        ),
        (
            "icons/drop.svg",
            r#"<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>"#,
        ),
        (
            "translations/es.json",
            r#"{"category": {"water": {"name": "Agua"}, "ghost": {"name": "?"}},
             "field": {"source": {"options[value=\"well\"].label": "Pozo", "options[value=\"lake\"].label": "?"}}}"#,
        ),
    ];
    files
        .into_iter()
        .map(|(n, t)| (n.to_owned(), t.as_bytes().to_vec()))
        .collect()
}

fn write_zip(path: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for (name, data) in files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_small_file_imports_its_selection_translations_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.comapeocat");
    write_zip(&file, &small_set());
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let summary = categories::import_file(&p, &file).unwrap();
    assert_eq!(summary.categories, ["Water", "Mine", "Road"]);
    assert_eq!(summary.translations, 2);
    assert_eq!(
        summary.skipped_translations, 2,
        "unknown category and option"
    );
    let es = categories::categories(&p, Some("es")).unwrap();
    assert_eq!(names(&es), ["Agua", "Mine", "Road"]);
    assert_eq!(es[0].color.as_deref(), Some("#0000ff"), "#rgb widened");
    let source = &es[0].fields[0];
    assert_eq!(source.options[1].label, "Pozo");
    assert_eq!(source.options[0].label, "River");
    let tracks = categories::categories_for(&p, Geometry::Line, Some("es")).unwrap();
    assert_eq!(names(&tracks), ["Road", "Mine"]);
    let meta = p.settings().unwrap().config_metadata.unwrap();
    assert_eq!(meta.builder_name.as_deref(), Some("test"));
    // Renaming the project keeps the selection and metadata.
    let mut renamed = mapeo_core::schema::ProjectSettings {
        name: Some("Renamed".into()),
        ..Default::default()
    };
    p.set_settings(renamed.clone()).unwrap();
    let after = p.settings().unwrap();
    assert_eq!(after.name.as_deref(), Some("Renamed"));
    assert_eq!(after.config_metadata.unwrap().name, "River watch");
    assert_eq!(
        names(&categories::categories_for(&p, Geometry::Line, None).unwrap()),
        ["Road", "Mine"]
    );
    renamed.name = None;
    p.set_settings(renamed).unwrap();
    assert!(p.settings().unwrap().default_presets.is_some());
}

#[test]
fn malformed_categories_files_are_refused_with_typed_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let good = dir.path().join("good.comapeocat");
    write_zip(&good, &small_set());
    categories::import_file(&p, &good).unwrap();
    let before = snapshot(&p);

    type Change = Box<dyn Fn(&mut BTreeMap<String, Vec<u8>>)>;
    let set = |name: &'static str, text: &'static str| -> Change {
        Box::new(move |f| {
            f.insert(name.to_owned(), text.as_bytes().to_vec());
        })
    };
    let remove = |name: &'static str| -> Change {
        Box::new(move |f| {
            f.remove(name);
        })
    };
    type Expected = fn(&CategoriesError) -> bool;
    let cases: Vec<(&str, Change, Expected)> = vec![
        ("no selection", remove("categorySelection.json"), |e| {
            matches!(
                e,
                CategoriesError::Missing {
                    file: "categorySelection.json"
                }
            )
        }),
        ("no metadata", remove("metadata.json"), |e| {
            matches!(
                e,
                CategoriesError::Missing {
                    file: "metadata.json"
                }
            )
        }),
        ("no version", remove("VERSION"), |e| {
            matches!(e, CategoriesError::Missing { file: "VERSION" })
        }),
        ("no categories", remove("categories.json"), |e| {
            matches!(e, CategoriesError::NoCategories)
        }),
        (
            "bad json",
            set("categories.json", "{not json"),
            |e| matches!(e, CategoriesError::BadJson { file, .. } if file == "categories.json"),
        ),
        (
            "wrong shape",
            set("fields.json", r#"{"source": {"label": "no type"}}"#),
            |e| matches!(e, CategoriesError::BadJson { file, .. } if file == "fields.json"),
        ),
        (
            "unknown field",
            set(
                "categories.json",
                r#"{"a": {"name": "A", "appliesTo": ["observation"], "tags": {}, "fields": ["nope"]}}"#,
            ),
            |e| {
                matches!(e, CategoriesError::UnknownField { category, field }
                    if category == "a" && field == "nope")
            },
        ),
        (
            "unknown icon",
            set(
                "categories.json",
                r#"{"a": {"name": "A", "appliesTo": ["observation"], "tags": {}, "fields": [], "icon": "ghost"}}"#,
            ),
            |e| matches!(e, CategoriesError::UnknownIcon { icon, .. } if icon == "ghost"),
        ),
        (
            "applies to nothing known",
            set(
                "categories.json",
                r#"{"a": {"name": "A", "appliesTo": ["spaceship"], "tags": {}, "fields": []}}"#,
            ),
            |e| matches!(e, CategoriesError::AppliesToNothing { category } if category == "a"),
        ),
        (
            "empty name",
            set(
                "categories.json",
                r#"{"water": {"name": " ", "appliesTo": ["observation"], "tags": {}, "fields": []}}"#,
            ),
            |e| {
                matches!(
                    e,
                    CategoriesError::Invalid {
                        source: ValidationError::Empty { field: "name" },
                        ..
                    }
                )
            },
        ),
        (
            "select without options",
            set(
                "fields.json",
                r#"{"source": {"type": "selectOne", "tagKey": "s", "label": "S", "options": []}}"#,
            ),
            |e| {
                matches!(
                    e,
                    CategoriesError::Invalid {
                        source: ValidationError::NoOptions,
                        ..
                    }
                )
            },
        ),
        (
            "selection of an unknown category",
            set(
                "categorySelection.json",
                r#"{"observation": ["ghost"], "track": []}"#,
            ),
            |e| matches!(e, CategoriesError::UnknownSelected { category, .. } if category == "ghost"),
        ),
        (
            "a track category selected for observations",
            set(
                "categorySelection.json",
                r#"{"observation": ["road"], "track": []}"#,
            ),
            |e| {
                matches!(e, CategoriesError::NotApplicable { list, category }
                    if list == "observation" && category == "road")
            },
        ),
        (
            "not svg",
            set("icons/drop.svg", "hello"),
            |e| matches!(e, CategoriesError::NotSvg { icon } if icon == "drop"),
        ),
        ("newer version", set("VERSION", "2.0"), |e| {
            matches!(e, CategoriesError::NewerVersion { major: 2 })
        }),
        ("bad version", set("VERSION", "one"), |e| {
            matches!(e, CategoriesError::BadVersion)
        }),
        ("path traversal", set("../escape.json", "{}"), |e| {
            matches!(e, CategoriesError::UnsafeEntryName)
        }),
        (
            "zip bomb",
            Box::new(|f| {
                f.insert("fields.json".into(), vec![b' '; 8 * 1024 * 1024]);
            }),
            |e| matches!(e, CategoriesError::CompressionRatio { file, .. } if file == "fields.json"),
        ),
        (
            "too many entries",
            Box::new(|f| {
                for i in 0..=categories::MAX_ENTRIES {
                    f.insert(format!("extra/{i}.txt"), Vec::new());
                }
            }),
            |e| matches!(e, CategoriesError::TooManyEntries { .. }),
        ),
    ];
    for (what, change, expected) in cases {
        let mut files = small_set();
        change(&mut files);
        let path = dir
            .path()
            .join(format!("{}.comapeocat", what.replace(' ', "_")));
        write_zip(&path, &files);
        let err = categories::import_file(&p, &path).unwrap_err();
        assert!(expected(&err), "{what}: {err:?}");
        let text = err.to_string();
        assert!(
            !text.contains(dir.path().to_str().unwrap()),
            "{what}: {text}"
        );
        assert_eq!(snapshot(&p), before, "{what} changed the categories");
    }

    let not_zip = dir.path().join("plain.comapeocat");
    std::fs::write(&not_zip, "just text").unwrap();
    assert!(matches!(
        categories::import_file(&p, &not_zip),
        Err(CategoriesError::NotZip)
    ));
    assert!(matches!(
        categories::import_file(&p, &dir.path().join("absent.comapeocat")),
        Err(CategoriesError::Unreadable(std::io::ErrorKind::NotFound))
    ));
    assert_eq!(snapshot(&p), before);
}

#[test]
fn a_member_cannot_replace_the_categories() {
    let coordinator = common::Peer::creator(1);
    let member = common::Peer::member_of(2, &coordinator);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.comapeocat");
    write_zip(&file, &small_set());
    let before = snapshot(&member.project);
    let err = categories::import_file(&member.project, &file).unwrap_err();
    assert!(
        matches!(err, CategoriesError::Project(Error::NotAllowed(_))),
        "{err:?}"
    );
    assert_eq!(snapshot(&member.project), before);
}

fn observation_with(preset: &LocalizedCategory, tags: &[(&str, TagValue)]) -> DocValue {
    DocValue::Observation(Observation {
        lat: Some(1.0),
        lon: Some(2.0),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        preset_ref: Some(DocRef {
            doc_id: preset.doc_id.clone(),
            version_id: preset.version_id,
        }),
        ..Observation::default()
    })
}

#[test]
fn answers_are_checked_against_their_category_on_this_devices_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.comapeocat");
    write_zip(&file, &small_set());
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    categories::import_file(&p, &file).unwrap();
    let all = categories::categories(&p, None).unwrap();
    let (water, mine, road) = (
        by_name(&all, "Water"),
        by_name(&all, "Mine"),
        by_name(&all, "Road"),
    );
    let good = p
        .create(observation_with(
            water,
            &[
                ("source", "well".into()),
                ("depth", TagValue::Number(3.5)),
                ("notes", "anything".into()),
            ],
        ))
        .unwrap();
    p.create(observation_with(
        mine,
        &[("uses", TagValue::List(vec!["gold".into(), "sand".into()]))],
    ))
    .unwrap();
    let refused: Vec<(DocValue, ValidationError)> = vec![
        (
            observation_with(water, &[("depth", "deep".into())]),
            ValidationError::AnswerNotANumber {
                tag_key: "depth".into(),
            },
        ),
        (
            observation_with(water, &[("source", "lake".into())]),
            ValidationError::AnswerNotAnOption {
                tag_key: "source".into(),
            },
        ),
        (
            observation_with(mine, &[("uses", "gold".into())]),
            ValidationError::AnswerNotAList {
                tag_key: "uses".into(),
            },
        ),
        (
            observation_with(mine, &[("uses", TagValue::List(vec!["oil".into()]))]),
            ValidationError::AnswerNotAnOption {
                tag_key: "uses".into(),
            },
        ),
        (
            observation_with(road, &[]),
            ValidationError::CategoryNotFor {
                doc_type: DocType::Observation,
            },
        ),
    ];
    let count = || p.list(&Query::all(DocType::Observation)).unwrap().len();
    for (value, expected) in refused {
        let err = p.create(value.clone()).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(e) if *e == expected),
            "{err:?}"
        );
        // An edit is checked the same way.
        let err = p.update(&[good.version_id], value).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(e) if *e == expected),
            "{err:?}"
        );
        assert_eq!(count(), 2);
    }
    assert_eq!(p.get(good.doc_id()).unwrap().version_id, good.version_id);
}

#[test]
fn a_peers_answers_are_indexed_whatever_categories_arrived_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.comapeocat");
    write_zip(&file, &small_set());
    let a = common::Peer::creator(1);
    let b = common::Peer::member_of(2, &a);
    categories::import_file(&a.project, &file).unwrap();
    let water = categories::categories(&a.project, None).unwrap();
    let water = by_name(&water, "Water");
    // The member has not received the categories yet: nothing to check its answer against.
    let written = b
        .project
        .create(observation_with(water, &[("depth", "deep".into())]))
        .unwrap();
    common::copy_missing(&b.project, &a.project);
    common::copy_missing(&a.project, &b.project);
    for p in [&a.project, &b.project] {
        let got = p.get(written.doc_id()).unwrap();
        assert_eq!(got.version_id, written.version_id);
        assert_eq!(categories::categories(p, None).unwrap().len(), 3);
    }
    // Once the categories are there, the member's own edits are checked.
    let err = b
        .project
        .update(
            &[written.version_id],
            observation_with(water, &[("depth", "still deep".into())]),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid(ValidationError::AnswerNotANumber { .. })
    ));
}
