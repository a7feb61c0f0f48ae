//! The map's points: observations in the visible area as GeoJSON, styled by their category
//! from the real categories file CoMapeo ships, cut at a named limit (and saying so), and
//! refreshed when sync brings observations in.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "support/default_config.rs"]
mod default_config;

use common::{Device, coordinators, copy_missing, observation};
use mapeo_core::project::{DEFAULT_POINT_COLOR, MAP_POINTS_LIMIT};
use mapeo_core::schema::{DocRef, DocType, DocValue};
use mapeo_core::{BoundingBox, Error, Project, Query};
use serde_json::Value;

const WORLD: BoundingBox = BoundingBox {
    south: -90.0,
    west: -180.0,
    north: 90.0,
    east: 180.0,
};

fn points(p: &Project, bbox: BoundingBox, limit: u32) -> (Value, bool) {
    let got = p.map_points(bbox, limit).unwrap();
    let json: Value = serde_json::from_str(&got.geojson).unwrap();
    assert_eq!(json["type"], "FeatureCollection");
    assert_eq!(json["truncated"], got.truncated);
    assert_eq!(
        json["features"].as_array().unwrap().len(),
        got.count as usize
    );
    (json, got.truncated)
}

fn ids(json: &Value) -> Vec<String> {
    json["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["docId"].as_str().unwrap().to_owned())
        .collect()
}

fn at(p: &Project, lat: f64, lon: f64) -> String {
    p.create(observation(lat, lon, "seen"))
        .unwrap()
        .doc_id()
        .to_string()
}

#[test]
fn points_carry_their_category_name_colour_and_icon_from_the_real_categories_file() {
    let Some(file) = default_config::default_config() else {
        return;
    };
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    mapeo_core::categories::import_file(&p, &file).unwrap();
    let presets = p.list(&Query::all(DocType::Preset)).unwrap();
    let (preset, icon_ref, color) = presets
        .iter()
        .find_map(|d| match d.value() {
            DocValue::Preset(v) if v.name == "Airstrip" => {
                Some((d, v.icon_ref.clone().unwrap(), v.color.clone().unwrap()))
            }
            _ => None,
        })
        .expect("the default config has an Airstrip category");
    let DocValue::Icon(icon) = p.get(&icon_ref.doc_id).unwrap().doc.value else {
        panic!("the icon reference leads to an icon");
    };

    let DocValue::Observation(mut o) = observation(-3.47, -62.21, "runway in the forest") else {
        unreachable!()
    };
    o.preset_ref = Some(DocRef {
        doc_id: preset.doc_id().clone(),
        version_id: preset.version_id,
    });
    let styled = p.create(DocValue::Observation(o)).unwrap();
    let plain = at(&p, -3.48, -62.22);

    let (json, truncated) = points(&p, WORLD, MAP_POINTS_LIMIT);
    assert!(!truncated);
    let features = json["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    let f = features
        .iter()
        .find(|f| f["id"] == styled.doc_id().to_string())
        .unwrap();
    assert_eq!(f["geometry"]["type"], "Point");
    assert_eq!(f["geometry"]["coordinates"][0], -62.21);
    assert_eq!(f["geometry"]["coordinates"][1], -3.47);
    let props = &f["properties"];
    assert_eq!(props["categoryId"], preset.doc_id().to_string());
    assert_eq!(props["categoryName"], "Airstrip");
    assert_eq!(props["color"], color.as_str());
    assert_eq!(props["opacity"], 1.0);
    assert_eq!(props["iconId"], icon_ref.doc_id.to_string());
    assert_eq!(props["iconName"], icon.name.as_str());
    assert_eq!(props["createdAt"], styled.doc.created_at.0);

    let f = features.iter().find(|f| f["id"] == plain.as_str()).unwrap();
    assert_eq!(f["properties"]["color"], DEFAULT_POINT_COLOR);
    assert!(f["properties"]["categoryId"].is_null());
    assert!(f["properties"]["iconId"].is_null());
}

#[test]
fn a_category_colour_with_alpha_comes_as_a_plain_colour_and_an_opacity() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let preset = p
        .create(DocValue::Preset(mapeo_core::schema::Preset {
            name: "Logging".into(),
            geometry: vec![mapeo_core::schema::Geometry::Point],
            color: Some("#E4572E80".into()),
            ..Default::default()
        }))
        .unwrap();
    let DocValue::Observation(mut o) = observation(1.0, 1.0, "felled trees") else {
        unreachable!()
    };
    o.preset_ref = Some(DocRef {
        doc_id: preset.doc_id().clone(),
        version_id: preset.version_id,
    });
    p.create(DocValue::Observation(o)).unwrap();
    let (json, _) = points(&p, WORLD, 10);
    let props = &json["features"][0]["properties"];
    assert_eq!(props["color"], "#E4572E");
    assert_eq!(props["opacity"], 0.502);
    assert_eq!(props["categoryName"], "Logging");
    assert!(props["iconId"].is_null());
}

#[test]
fn only_points_inside_the_visible_area_come_back_also_across_the_antimeridian() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let amazon = at(&p, -3.4, -62.2);
    let fiji_east = at(&p, -17.0, 179.5);
    let fiji_west = at(&p, -17.0, -179.5);
    let deleted = at(&p, -3.41, -62.21);
    p.delete(&deleted.parse().unwrap()).unwrap();

    let view = BoundingBox {
        south: -4.0,
        west: -63.0,
        north: -3.0,
        east: -62.0,
    };
    assert_eq!(ids(&points(&p, view, MAP_POINTS_LIMIT).0), vec![amazon]);

    let across = BoundingBox {
        south: -18.0,
        west: 179.0,
        north: -16.0,
        east: -179.0,
    };
    let mut got = ids(&points(&p, across, MAP_POINTS_LIMIT).0);
    got.sort();
    let mut want = vec![fiji_east, fiji_west];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_crowded_area_returns_the_newest_points_up_to_the_limit_and_says_it_was_cut() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let made: Vec<String> = (0..5)
        .map(|i| at(&p, 10.0 + f64::from(i) * 0.01, 20.0))
        .collect();

    let (json, truncated) = points(&p, WORLD, 3);
    assert!(truncated);
    assert_eq!(
        ids(&json),
        vec![made[4].clone(), made[3].clone(), made[2].clone()]
    );

    let (json, truncated) = points(&p, WORLD, 5);
    assert!(!truncated, "exactly the limit is not cut");
    assert_eq!(ids(&json).len(), 5);
}

#[test]
fn no_caller_gets_more_than_the_named_limit() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let many = (0..=MAP_POINTS_LIMIT)
        .map(|i| {
            observation(
                f64::from(i % 1000) * 0.001,
                f64::from(i / 1000) * 0.001,
                "x",
            )
        })
        .collect();
    p.create_many(many).unwrap();
    let got = p.map_points(WORLD, u32::MAX).unwrap();
    assert_eq!(got.count, MAP_POINTS_LIMIT);
    assert!(got.truncated);
}

#[test]
fn an_area_out_of_range_is_refused() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    for bad in [
        BoundingBox {
            south: -91.0,
            west: 0.0,
            north: 0.0,
            east: 1.0,
        },
        BoundingBox {
            south: 1.0,
            west: 0.0,
            north: 0.0,
            east: 1.0,
        },
        BoundingBox {
            south: 0.0,
            west: f64::NAN,
            north: 1.0,
            east: 1.0,
        },
    ] {
        assert!(matches!(p.map_points(bad, 10), Err(Error::InvalidQuery(_))));
    }
}

#[test]
fn observations_brought_by_sync_signal_the_map_and_appear_in_its_points() {
    let (a, b) = (Device::new(1), Device::new(2));
    let (pa, pb) = coordinators(&a, &b);
    let mut changes = pb.subscribe_changes();
    changes.borrow_and_update();
    assert_eq!(
        points(&pb, WORLD, MAP_POINTS_LIMIT).0["features"],
        Value::Array(vec![])
    );

    let seen = at(&pa, 1.0, 2.0);
    copy_missing(&pa, &pb);
    assert!(
        changes.has_changed().unwrap(),
        "sync tells the map to refresh"
    );
    changes.borrow_and_update();
    assert_eq!(
        ids(&points(&pb, WORLD, MAP_POINTS_LIMIT).0),
        vec![seen.clone()]
    );

    pa.delete(&seen.parse().unwrap()).unwrap();
    copy_missing(&pa, &pb);
    assert!(changes.has_changed().unwrap());
    assert!(ids(&points(&pb, WORLD, MAP_POINTS_LIMIT).0).is_empty());
}
