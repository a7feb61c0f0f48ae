//! Bad input, one row each: every row is a typed error and leaves the store unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Device, copy_missing, observation};
use mapeo_core::schema::{
    self, Coords, DocValue, Preset, TagValue, Track, TrackPoint, ValidationError,
};
use mapeo_core::{DocId, Error, Namespace, Project, Timestamp, VersionId};

fn snapshot(p: &Project) -> String {
    format!("{:?} {:?}", p.have_vector().unwrap(), common::state(p))
}

fn obs_with(f: impl FnOnce(&mut schema::Observation)) -> DocValue {
    let mut v = observation(1.0, 1.0, "ok");
    if let DocValue::Observation(o) = &mut v {
        f(o);
    }
    v
}

type Row = (
    &'static str,
    Box<dyn Fn(&Ctx) -> Result<(), Error>>,
    fn(&Error) -> bool,
);

struct Ctx {
    project: std::sync::Arc<Project>,
    obs: mapeo_core::Document,
    other_obs: mapeo_core::Document,
    preset: mapeo_core::Document,
    foreign_entries: Vec<mapeo_core::feed::Entry>,
}

fn invalid(e: &Error, want: &ValidationError) -> bool {
    matches!(e, Error::Invalid(v) if v == want)
}

#[test]
fn every_bad_input_is_a_typed_error_and_changes_nothing() {
    let a = Device::new(1);
    let b = Device::new(2);
    let p = a.manager.create_project(Default::default()).unwrap();
    let pb = b
        .manager
        .join_project(&a.manager.join_details(&p.id()).unwrap())
        .unwrap();
    p.assign_role(&b.manager.device_id(), mapeo_core::PeerRole::Member, None)
        .unwrap();
    copy_missing(&p, &pb);
    pb.create(observation(0.0, 0.0, "from b")).unwrap();
    let ctx = Ctx {
        obs: p.create(observation(1.0, 1.0, "one")).unwrap(),
        other_obs: p.create(observation(2.0, 2.0, "two")).unwrap(),
        preset: p
            .create(DocValue::Preset(Preset {
                name: "Mining".into(),
                geometry: vec![schema::Geometry::Point],
                ..Default::default()
            }))
            .unwrap(),
        foreign_entries: pb
            .read_entries(&b.manager.device_id(), Namespace::Data, 0, 1)
            .unwrap(),
        project: p,
    };
    let missing_version = VersionId {
        author: ctx.obs.version_id.author,
        namespace: Namespace::Data,
        seq: 999,
    };
    let point = |lat: f64| TrackPoint {
        timestamp: Timestamp(1),
        mocked: false,
        coords: Coords {
            latitude: lat,
            longitude: 0.0,
            ..Default::default()
        },
    };
    let rows: Vec<Row> = vec![
        (
            "latitude above 90",
            Box::new(|c| c.project.create(obs_with(|o| o.lat = Some(90.5))).map(drop)),
            |e| invalid(e, &ValidationError::LatitudeOutOfRange),
        ),
        (
            "longitude below -180",
            Box::new(|c| {
                c.project
                    .create(obs_with(|o| o.lon = Some(-180.1)))
                    .map(drop)
            }),
            |e| invalid(e, &ValidationError::LongitudeOutOfRange),
        ),
        (
            "latitude without longitude",
            Box::new(|c| c.project.create(obs_with(|o| o.lon = None)).map(drop)),
            |e| invalid(e, &ValidationError::LocationIncomplete),
        ),
        (
            "not-a-number coordinate",
            Box::new(|c| {
                c.project
                    .create(obs_with(|o| o.lat = Some(f64::NAN)))
                    .map(drop)
            }),
            |e| matches!(e, Error::Invalid(ValidationError::NotFinite { .. })),
        ),
        (
            "infinite tag number",
            Box::new(|c| {
                c.project
                    .create(obs_with(|o| {
                        o.tags
                            .insert("depth".into(), TagValue::Number(f64::INFINITY));
                    }))
                    .map(drop)
            }),
            |e| matches!(e, Error::Invalid(ValidationError::NotFinite { .. })),
        ),
        (
            "nested list in tags from JSON",
            Box::new(|_| {
                schema::tags_from_json(&serde_json::json!({"a": [[1]]}))
                    .map(drop)
                    .map_err(Error::from)
            }),
            |e| invalid(e, &ValidationError::BadTagValue),
        ),
        (
            "object in tags from JSON",
            Box::new(|_| {
                schema::tags_from_json(&serde_json::json!({"a": {"b": 1}}))
                    .map(drop)
                    .map_err(Error::from)
            }),
            |e| invalid(e, &ValidationError::BadTagValue),
        ),
        (
            "empty tag key",
            Box::new(|c| {
                c.project
                    .create(obs_with(|o| {
                        o.tags.insert(String::new(), TagValue::Null);
                    }))
                    .map(drop)
            }),
            |e| matches!(e, Error::Invalid(ValidationError::Empty { .. })),
        ),
        (
            "update with no links",
            Box::new(|c| c.project.update(&[], observation(0.0, 0.0, "x")).map(drop)),
            |e| invalid(e, &ValidationError::NoLinks),
        ),
        (
            "update linking a version that does not exist",
            Box::new(move |c| {
                c.project
                    .update(&[missing_version], observation(0.0, 0.0, "x"))
                    .map(drop)
            }),
            |e| invalid(e, &ValidationError::LinkNotFound),
        ),
        (
            "update linking versions of two documents",
            Box::new(|c| {
                c.project
                    .update(
                        &[c.obs.version_id, c.other_obs.version_id],
                        observation(0.0, 0.0, "x"),
                    )
                    .map(drop)
            }),
            |e| invalid(e, &ValidationError::LinkToOtherDoc),
        ),
        (
            "update changing the document type",
            Box::new(|c| {
                c.project
                    .update(&[c.preset.version_id], observation(0.0, 0.0, "x"))
                    .map(drop)
            }),
            |e| invalid(e, &ValidationError::LinkToOtherType),
        ),
        (
            "oversized document",
            Box::new(|c| {
                c.project
                    .create(obs_with(|o| {
                        for i in 0..12 {
                            o.tags.insert(
                                format!("t{i}"),
                                TagValue::String("x".repeat(schema::MAX_TEXT_CHARS)),
                            );
                        }
                    }))
                    .map(drop)
            }),
            |e| matches!(e, Error::Invalid(ValidationError::DocTooLarge { .. })),
        ),
        (
            "track with one point",
            Box::new(move |c| {
                c.project
                    .create(DocValue::Track(Track {
                        locations: vec![point(1.0)],
                        ..Default::default()
                    }))
                    .map(drop)
            }),
            |e| invalid(e, &ValidationError::TrackTooShort),
        ),
        (
            "track point out of range",
            Box::new(move |c| {
                c.project
                    .create(DocValue::Track(Track {
                        locations: vec![point(1.0), point(95.0)],
                        ..Default::default()
                    }))
                    .map(drop)
            }),
            |e| invalid(e, &ValidationError::LatitudeOutOfRange),
        ),
        (
            "preset without a name",
            Box::new(|c| {
                c.project
                    .create(DocValue::Preset(Preset {
                        name: "  ".into(),
                        geometry: vec![schema::Geometry::Point],
                        ..Default::default()
                    }))
                    .map(drop)
            }),
            |e| matches!(e, Error::Invalid(ValidationError::Empty { .. })),
        ),
        (
            "preset with a bad color",
            Box::new(|c| {
                c.project
                    .create(DocValue::Preset(Preset {
                        name: "Logging".into(),
                        geometry: vec![schema::Geometry::Point],
                        color: Some("red".into()),
                        ..Default::default()
                    }))
                    .map(drop)
            }),
            |e| invalid(e, &ValidationError::BadColor),
        ),
        (
            "get an unknown document id",
            Box::new(|c| c.project.get(&DocId::random()).map(drop)),
            |e| matches!(e, Error::NotFound { what: "document" }),
        ),
        (
            "delete an unknown document id",
            Box::new(|c| c.project.delete(&DocId::random()).map(drop)),
            |e| matches!(e, Error::NotFound { what: "document" }),
        ),
        (
            "get an unknown version",
            Box::new(move |c| c.project.get_version(&missing_version).map(drop)),
            |e| matches!(e, Error::NotFound { what: "version" }),
        ),
        (
            "a malformed document id",
            Box::new(|_| {
                "not a doc id!"
                    .parse::<DocId>()
                    .map(drop)
                    .map_err(Error::from)
            }),
            |e| matches!(e, Error::Id(_)),
        ),
        (
            "a corrupted entry from a peer",
            Box::new(|c| {
                let mut e = c.foreign_entries.clone();
                let n = e[0].payload.len() - 1;
                e[0].payload[n] ^= 0xff;
                c.project.import(&e).map(drop)
            }),
            |e| matches!(e, Error::Feed(_)),
        ),
        (
            "an entry with a forged signature",
            Box::new(|c| {
                let mut e = c.foreign_entries.clone();
                e[0].signature[3] ^= 0x01;
                c.project.import(&e).map(drop)
            }),
            |e| matches!(e, Error::Feed(mapeo_core::feed::FeedError::BadSignature)),
        ),
    ];
    for (name, run, expected) in &rows {
        let before = snapshot(&ctx.project);
        match run(&ctx) {
            Ok(()) => panic!("{name}: accepted"),
            Err(e) => {
                assert!(expected(&e), "{name}: wrong error {e:?}");
                let text = e.to_string();
                assert!(
                    !text.is_empty() && !text.ends_with('.'),
                    "{name}: message {text:?}"
                );
                assert!(
                    !text.contains("Mining") && !text.contains("90.5"),
                    "{name}: personal data in {text:?}"
                );
            }
        }
        assert_eq!(snapshot(&ctx.project), before, "{name}: store changed");
    }
}
