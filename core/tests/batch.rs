//! Batches of writes to one project: all committed together or none, later writes referring
//! to earlier ones, icons and translations stored like any configuration document.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::Device;
use mapeo_core::schema::{
    DocRef, DocType, DocValue, Geometry, Icon, IconMimeType, IconSize, IconVariant, Preset,
    Translation,
};
use mapeo_core::{Error, Query};

fn preset(name: &str, icon: Option<DocRef>) -> DocValue {
    DocValue::Preset(Preset {
        name: name.into(),
        geometry: vec![Geometry::Point],
        icon_ref: icon,
        ..Preset::default()
    })
}

fn names(p: &mapeo_core::Project) -> Vec<String> {
    let mut out: Vec<String> = p
        .list(&Query::all(DocType::Preset))
        .unwrap()
        .into_iter()
        .map(|d| match d.doc.value {
            DocValue::Preset(p) => p.name,
            other => panic!("not a preset: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

#[test]
fn batch_commits_every_write_with_references_between_them() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let old = p.create(preset("Old", None)).unwrap();
    let (icon, tr) = p
        .batch(|b| {
            let icon = b.create(DocValue::Icon(Icon {
                name: "river".into(),
                variants: vec![IconVariant {
                    size: IconSize::Medium,
                    pixel_density: None,
                    mime_type: IconMimeType::Svg,
                    data: b"<svg/>".to_vec(),
                }],
            }))?;
            let icon_ref = DocRef {
                doc_id: icon.doc_id().clone(),
                version_id: icon.version_id,
            };
            let river = b.create(preset("River", Some(icon_ref)))?;
            let tr = b.create(DocValue::Translation(Translation {
                doc_ref: DocRef {
                    doc_id: river.doc_id().clone(),
                    version_id: river.version_id,
                },
                doc_ref_type: DocType::Preset,
                property_ref: "name".into(),
                language_code: "es".into(),
                region_code: None,
                message: "Río".into(),
            }))?;
            b.delete(old.doc_id())?;
            Ok((icon, tr))
        })
        .unwrap();
    assert_eq!(names(&p), vec!["River".to_owned()]);
    assert_eq!(p.get(icon.doc_id()).unwrap(), icon);
    assert_eq!(p.list(&Query::all(DocType::Translation)).unwrap(), vec![tr]);
}

#[test]
fn a_failing_batch_leaves_the_project_unchanged() {
    let dev = Device::new(2);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let kept = p.create(preset("Kept", None)).unwrap();
    let before = p.have_vector().unwrap();
    let result = p.batch(|b| {
        b.create(preset("New", None))?;
        b.delete(kept.doc_id())?;
        // An invalid document fails the whole batch after two good writes.
        b.create(preset("  ", None))
    });
    assert!(matches!(result, Err(Error::Invalid(_))), "{result:?}");
    assert_eq!(names(&p), vec!["Kept".to_owned()]);
    assert_eq!(p.have_vector().unwrap(), before);
    // Replacing a document with a value of another type is refused too.
    let wrong = p.batch(|b| {
        b.replace(
            kept.doc_id(),
            DocValue::Icon(Icon {
                name: "x".into(),
                variants: vec![IconVariant {
                    size: IconSize::Small,
                    pixel_density: Some(1),
                    mime_type: IconMimeType::Png,
                    data: vec![1],
                }],
            }),
        )
    });
    assert!(wrong.is_err());
    assert_eq!(p.have_vector().unwrap(), before);
}
