//! The local map and media server over real HTTP on 127.0.0.1: styles of every kind of map
//! pass the MapLibre validator and every URL in them resolves, tiles come back byte for byte
//! with the right headers, the secret guards everything, ranges, ETags, concurrency, and the
//! media of projects (attachments, icons) — gone once the project is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "support/default_config.rs"]
mod default_config;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/map_packages.rs"]
mod map_packages;

use std::sync::Arc;

use common::media;
use http_client::{Reply, get, get_with, request};
use map_packages::{fallback_smp, generated_smp, maplibre_errors, raster_mbtiles, vector_mbtiles};
use mapeo_core::maps::MapId;
use mapeo_core::schema::{
    DocType, DocValue, Icon, IconMimeType, IconSize, IconVariant, ProjectSettings, Variant,
};
use mapeo_core::server::LocalServer;
use mapeo_core::{Manager, Query, RootKey};
use serde_json::Value;

struct Device {
    _dir: tempfile::TempDir,
    manager: Arc<Manager>,
}

fn device(seed: u8) -> Device {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let manager = Arc::new(Manager::open(dir.path(), &RootKey::from_bytes([seed; 16])).unwrap());
    Device { _dir: dir, manager }
}

fn import_bytes(d: &Device, bytes: &[u8]) -> MapId {
    d.manager.maps().unwrap().import(bytes).unwrap().id
}

fn import_path(d: &Device, path: &std::path::Path) -> MapId {
    d.manager.maps().unwrap().import_file(path).unwrap().id
}

async fn style(url: &str) -> Value {
    let reply = get(url).await;
    assert_eq!(reply.status, 200, "style at {url}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    serde_json::from_slice(&reply.body).unwrap()
}

/// Every URL of a style, placeholders filled with a tile that exists (0/0/0), one font stack
/// and range, and the sprite's four files.
fn urls_in(style: &Value) -> Vec<String> {
    let mut urls = Vec::new();
    for source in style["sources"].as_object().unwrap().values() {
        for t in source["tiles"].as_array().into_iter().flatten() {
            let t = t.as_str().unwrap();
            urls.push(
                t.replace("{z}", "0")
                    .replace("{x}", "0")
                    .replace("{y}", "0"),
            );
        }
    }
    if let Some(glyphs) = style["glyphs"].as_str() {
        urls.push(
            glyphs
                .replace("{fontstack}", "Open%20Sans%20Regular")
                .replace("{range}", "0-255"),
        );
    }
    let sprites: Vec<String> = match &style["sprite"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|s| s["url"].as_str().unwrap().to_owned())
            .collect(),
        _ => vec![],
    };
    for s in sprites {
        for suffix in [".json", ".png", "@2x.json", "@2x.png"] {
            urls.push(format!("{s}{suffix}"));
        }
    }
    urls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_style_passes_the_maplibre_validator_and_every_url_in_it_resolves() {
    let d = device(1);
    let tmp = tempfile::tempdir().unwrap();
    let smp = generated_smp();
    let raster = tmp.path().join("raster.mbtiles");
    raster_mbtiles(&raster);
    let vector = tmp.path().join("vector.mbtiles");
    vector_mbtiles(&vector);
    let mut maps = vec![
        ("generated smp", import_bytes(&d, &smp.bytes)),
        ("raster mbtiles", import_path(&d, &raster)),
        ("vector mbtiles", import_path(&d, &vector)),
    ];
    let real = fallback_smp();
    if let Some(path) = &real {
        maps.push(("@comapeo/fallback-smp", import_path(&d, path)));
    }
    // The first import became the default; clear it to serve the style shown with none.
    d.manager.maps().unwrap().set_default(None).unwrap();
    let server = d.manager.local_server().await.unwrap();
    let mut styles = vec![(
        "fallback".to_owned(),
        style(&server.fallback_style_url()).await,
    )];
    styles.push((
        "default (none chosen)".into(),
        style(&server.style_url(None)).await,
    ));
    for (name, id) in &maps {
        styles.push((name.to_string(), style(&server.style_url(Some(id))).await));
    }
    d.manager
        .maps()
        .unwrap()
        .set_default(Some(&maps[0].1))
        .unwrap();
    let default = style(&server.style_url(None)).await;
    assert_eq!(
        default,
        style(&server.style_url(Some(&maps[0].1))).await,
        "the default style is the chosen map's"
    );

    let mut resolved = 0;
    for (name, style) in &styles {
        if let Some(errors) = maplibre_errors(style) {
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
        let text = style.to_string();
        assert!(
            !text.contains("smp://"),
            "{name}: a package URL left in the style"
        );
        for url in urls_in(style) {
            assert!(
                url.starts_with(server.base_url()),
                "{name}: {url} is not ours"
            );
            let reply = get(&url).await;
            assert_eq!(reply.status, 200, "{name}: {url}");
            assert!(!reply.body.is_empty());
            resolved += 1;
        }
    }
    // Generated SMP: 2 tile sources + glyphs + 4 sprite files; each MBTiles: 1 tile source.
    assert_eq!(resolved, 9);
    if real.is_some() {
        let (_, real_style) = styles.last().unwrap();
        assert_eq!(real_style["name"], "Blank");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_come_back_byte_identical_with_their_type_and_encoding_and_missing_ones_404() {
    let d = device(2);
    let tmp = tempfile::tempdir().unwrap();
    let smp = generated_smp();
    let smp_id = import_bytes(&d, &smp.bytes);
    let raster = tmp.path().join("raster.mbtiles");
    let raster_tiles = raster_mbtiles(&raster);
    let raster_id = import_path(&d, &raster);
    let vector = tmp.path().join("vector.mbtiles");
    let vector_tile = vector_mbtiles(&vector);
    let vector_id = import_path(&d, &vector);
    let server = d.manager.local_server().await.unwrap();
    let base = server.base_url();

    for (z, x, y, png) in &smp.png {
        let r = get(&format!("{base}/maps/{smp_id}/tiles/satellite/{z}/{x}/{y}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, png);
        assert_eq!(r.header("content-type"), Some("image/png"));
        assert_eq!(r.header("content-encoding"), None);
    }
    let r = get(&format!("{base}/maps/{smp_id}/tiles/roads/0/0/0")).await;
    assert_eq!(r.body, smp.mvt, "gzipped bytes as stored, not unpacked");
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let r = get(&format!("{base}/maps/{vector_id}/tiles/mbtiles/0/0/0")).await;
    assert_eq!(r.body, vector_tile);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    for (z, x, row, png) in &raster_tiles {
        // MBTiles rows count from the south; URLs from the north.
        let y = (1 << z) - 1 - row;
        let r = get(&format!(
            "{base}/maps/{raster_id}/tiles/mbtiles/{z}/{x}/{y}.png"
        ))
        .await;
        assert_eq!(&r.body, png, "raster tile {z}/{x}/{y}");
        assert_eq!(r.header("content-type"), Some("image/png"));
    }
    let r = get(&format!(
        "{base}/maps/{smp_id}/fonts/Open%20Sans%20Regular/0-255.pbf"
    ))
    .await;
    assert_eq!(r.body, smp.glyphs);
    for (suffix, bytes) in &smp.sprites {
        let r = get(&format!("{base}/maps/{smp_id}/sprites/default{suffix}")).await;
        assert_eq!(&r.body, bytes, "sprite{suffix}");
        let expected = if suffix.ends_with("json") {
            "application/json"
        } else {
            "image/png"
        };
        assert_eq!(r.header("content-type"), Some(expected));
    }

    for missing in [
        format!("{base}/maps/{smp_id}/tiles/satellite/1/0/0"),
        format!("{base}/maps/{smp_id}/tiles/satellite/5/0/0"),
        format!("{base}/maps/{smp_id}/tiles/nosuchsource/0/0/0"),
        format!("{base}/maps/{raster_id}/tiles/mbtiles/1/2/0"),
        format!("{base}/maps/{}/tiles/mbtiles/0/0/0", "0".repeat(32)),
        format!("{base}/maps/{smp_id}/fonts/Other/0-255.pbf"),
        format!("{base}/maps/{raster_id}/sprites/default.png"),
    ] {
        let r = get(&missing).await;
        assert_eq!(r.status, 404, "{missing}");
        assert_eq!(r.body, b"not found");
    }
    // Removed: its tiles go with it.
    d.manager.maps().unwrap().remove(&smp_id).unwrap();
    let r = get(&format!("{base}/maps/{smp_id}/tiles/satellite/0/0/0")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_gets_the_same_404_as_a_missing_resource() {
    let d = device(3);
    let smp = generated_smp();
    let id = import_bytes(&d, &smp.bytes);
    let server = d.manager.local_server().await.unwrap();
    let good = format!("{}/maps/{id}/tiles/satellite/0/0/0", server.base_url());
    assert_eq!(get(&good).await.status, 200);

    let addr = server.address();
    let secret = server.base_url().rsplit('/').next().unwrap().to_owned();
    let mut flipped = secret.clone().into_bytes();
    flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let missing = get(&format!(
        "{}/maps/{id}/tiles/satellite/9/0/0",
        server.base_url()
    ))
    .await;
    let wrong = [
        format!("http://{addr}/{flipped}/maps/{id}/tiles/satellite/0/0/0"),
        format!(
            "http://{addr}/{}/maps/{id}/tiles/satellite/0/0/0",
            &secret[..63]
        ),
        format!("http://{addr}/maps/{id}/tiles/satellite/0/0/0"),
        format!("http://{addr}/"),
        format!("http://{addr}/{flipped}/maps/default/style.json"),
    ];
    // Every header but `Date` (which changes with the second).
    let headers = |r: &Reply| {
        let mut h = r.headers.clone();
        h.remove("date");
        h
    };
    for url in wrong {
        let r = get(&url).await;
        assert_eq!(r.status, missing.status, "{url}");
        assert_eq!(r.body, missing.body, "{url}");
        assert_eq!(headers(&r), headers(&missing), "{url}");
    }
    // A second server has a secret of its own.
    let other = d
        .manager
        .serve_http("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    assert_ne!(other.base_url(), server.base_url());
    let r = get(&format!(
        "http://{}/{secret}/maps/default/style.json",
        other.address()
    ))
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_and_methods_get_errors_never_a_crash() {
    let d = device(4);
    let server = d.manager.local_server().await.unwrap();
    let base = server.base_url();
    for path in [
        "/maps/../../etc/passwd",
        "/maps/%2e%2e/style.json",
        "/maps/default/tiles/s/0/0/0",
        "/maps/0123/style.json",
        "/projects/nothex/attachments/x/original",
        "/maps/%ZZ/style.json",
        "/maps/00000000000000000000000000000000/tiles/s/99999999999999/0/0",
        "/maps/00000000000000000000000000000000/fonts/a/5-x.pbf",
    ] {
        let r = get(&format!("{base}{path}")).await;
        assert_eq!(r.status, 404, "{path}");
    }
    let long = format!("{base}/{}", "a/".repeat(3000));
    assert_eq!(get(&long).await.status, 404);
    let r = request("POST", &server.style_url(None), &[]).await;
    assert_eq!(r.status, 405);
    // Still serving.
    assert_eq!(get(&server.style_url(None)).await.status, 200);
}

struct Media {
    device: Device,
    project: Arc<mapeo_core::Project>,
    photo: mapeo_core::schema::Attachment,
    video: mapeo_core::schema::Attachment,
    video_bytes: Vec<u8>,
    icon_id: mapeo_core::DocId,
    icon_png: Vec<u8>,
    icon_png_2x: Vec<u8>,
    icon_svg: Vec<u8>,
}

fn media_device(seed: u8) -> Media {
    let device = device(seed);
    let project = device
        .manager
        .create_project(ProjectSettings {
            name: Some("Río".into()),
            ..Default::default()
        })
        .unwrap();
    let img = media::quadrants(900, 600, 7);
    let photo = project
        .add_attachment_from_bytes(&media::jpeg_with_exif(&img, 1, 90), "photo.jpg")
        .unwrap();
    let video_bytes = media::fake_mp4(700_000, 5);
    let video = project
        .add_attachment_from_bytes(&video_bytes, "clip.mp4")
        .unwrap();
    let icon_png = map_packages::png_tile(40);
    let icon_png_2x = map_packages::png_tile(41);
    let icon_svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>"#.to_vec();
    let variant = |size, pixel_density, mime_type, data: &Vec<u8>| IconVariant {
        size,
        pixel_density,
        mime_type,
        data: data.clone(),
    };
    let icon = project
        .create(DocValue::Icon(Icon {
            name: "river".into(),
            variants: vec![
                variant(IconSize::Small, Some(1), IconMimeType::Png, &icon_png),
                variant(IconSize::Small, Some(2), IconMimeType::Png, &icon_png_2x),
                variant(IconSize::Medium, None, IconMimeType::Svg, &icon_svg),
            ],
        }))
        .unwrap();
    Media {
        device,
        project,
        photo,
        video,
        video_bytes,
        icon_id: icon.doc.doc_id,
        icon_png,
        icon_png_2x,
        icon_svg,
    }
}

fn attachment_url(
    server: &LocalServer,
    m: &Media,
    a: &mapeo_core::schema::Attachment,
    v: Variant,
) -> String {
    server.attachment_url(&m.project.id(), &a.hash.parse().unwrap(), v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_variants_and_icons_are_served_byte_identical() {
    let m = media_device(5);
    let server = m.device.manager.local_server().await.unwrap();
    for variant in [Variant::Original, Variant::Preview, Variant::Thumbnail] {
        let stored = m
            .project
            .attachment_bytes(&m.photo, variant)
            .unwrap()
            .unwrap();
        let r = get(&attachment_url(&server, &m, &m.photo, variant)).await;
        assert_eq!(r.status, 200, "{variant:?}");
        assert_eq!(r.body, stored, "{variant:?}");
        assert_eq!(r.header("content-type"), Some("image/jpeg"));
        assert!(r.header("etag").is_some());
    }
    let r = get(&attachment_url(&server, &m, &m.video, Variant::Original)).await;
    assert_eq!(r.body, m.video_bytes);
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    // A video has no preview.
    let r = get(&attachment_url(&server, &m, &m.video, Variant::Preview)).await;
    assert_eq!(r.status, 404);

    let pid = m.project.id();
    let icon = |size, density| server.icon_url(&pid, &m.icon_id, size, density);
    let r = get(&icon(IconSize::Small, Some(1))).await;
    assert_eq!((r.status, &r.body), (200, &m.icon_png));
    assert_eq!(r.header("content-type"), Some("image/png"));
    let r = get(&icon(IconSize::Small, Some(2))).await;
    assert_eq!(r.body, m.icon_png_2x);
    let r = get(&icon(IconSize::Small, None)).await;
    assert_eq!(r.body, m.icon_png, "unasked, the lowest density");
    let r = get(&icon(IconSize::Medium, None)).await;
    assert_eq!(r.body, m.icon_svg, "unasked, the SVG");
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert_eq!(get(&icon(IconSize::Large, None)).await.status, 404);
    // No PNG at 3x: drawn from the SVG (another size: an SVG scales), 24 × 3 pixels square.
    let r = get(&icon(IconSize::Small, Some(3))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(png_dimensions(&r.body), (72, 72));
    // Past the densities a phone asks for: nothing drawn.
    assert_eq!(get(&icon(IconSize::Small, Some(4))).await.status, 404);
    // Another project's id, or an unknown one: nothing.
    let stranger = device(6)
        .manager
        .create_project(ProjectSettings::default())
        .unwrap()
        .id();
    let r =
        get(&server.attachment_url(&stranger, &m.photo.hash.parse().unwrap(), Variant::Original))
            .await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_video_cut_on_disk_is_an_error_never_other_bytes() {
    let m = media_device(8);
    let server = m.device.manager.local_server().await.unwrap();
    let url = attachment_url(&server, &m, &m.video, Variant::Original);
    assert_eq!(get(&url).await.body, m.video_bytes);
    // Cut the stored file after two sealed chunks: what remains still authenticates chunk by
    // chunk, so only the length check at open can tell. The server refuses it.
    let hash = m.video.hash.clone();
    let stored = m
        .project
        .path()
        .parent()
        .unwrap()
        .join("blobs")
        .join(&hash[..2])
        .join(&hash);
    let sealed = std::fs::read(&stored).unwrap();
    assert!(mapeo_core::sealed_file::looks_sealed(&sealed));
    let cut = mapeo_core::sealed_file::HEADER_LEN + 2 * mapeo_core::sealed_file::SEALED_CHUNK_LEN;
    let mut perms = std::fs::metadata(&stored).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)] // a test damaging a stored file
    perms.set_readonly(false);
    std::fs::set_permissions(&stored, perms).unwrap();
    std::fs::write(&stored, &sealed[..cut]).unwrap();
    for range in [None, Some("bytes=0-99")] {
        let headers: Vec<(&str, &str)> = range.iter().map(|r| ("range", *r)).collect();
        let r = get_with(&url, &headers).await;
        assert_eq!(r.status, 500, "{range:?}");
        assert_eq!(r.body, b"internal error", "{range:?}");
    }
    assert!(matches!(
        m.project.attachment_bytes(&m.video, Variant::Original),
        Err(mapeo_core::Error::Blob(
            mapeo_core::blobs::BlobError::Damaged
        ))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_requests_give_first_middle_and_suffix_bytes_and_416_past_the_end() {
    let m = media_device(7);
    let server = m.device.manager.local_server().await.unwrap();
    let url = attachment_url(&server, &m, &m.video, Variant::Original);
    let len = m.video_bytes.len();
    // The video is sealed on disk in 64 KiB chunks: ranges inside one, across several.
    let cases: [(&str, std::ops::Range<usize>); 5] = [
        ("bytes=0-99", 0..100),
        ("bytes=300000-300099", 300_000..300_100),
        ("bytes=65530-196613", 65_530..196_614),
        ("bytes=-1000", len - 1000..len),
        ("bytes=699000-", 699_000..len),
    ];
    for (range, expected) in cases {
        let r = get_with(&url, &[("range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, m.video_bytes[expected.clone()], "{range}");
        let content_range = format!("bytes {}-{}/{len}", expected.start, expected.end - 1);
        assert_eq!(r.header("content-range"), Some(content_range.as_str()));
        assert_eq!(
            r.header("content-length"),
            Some(expected.len().to_string().as_str())
        );
    }
    let r = get_with(&url, &[("range", &format!("bytes={len}-"))]).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // Ranges on tiles too (bytes in memory).
    let smp = generated_smp();
    let id = import_bytes(&m.device, &smp.bytes);
    let tile = format!("{}/maps/{id}/tiles/satellite/0/0/0", server.base_url());
    let r = get_with(&tile, &[("range", "bytes=8-15")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &smp.png[0].3[8..16]));
    // HEAD: the length, no body.
    let r = request("HEAD", &url, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
    assert!(r.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_answer_304_when_the_client_has_the_bytes() {
    let m = media_device(8);
    let smp = generated_smp();
    let id = import_bytes(&m.device, &smp.bytes);
    let server = m.device.manager.local_server().await.unwrap();
    let urls = [
        attachment_url(&server, &m, &m.photo, Variant::Thumbnail),
        format!("{}/maps/{id}/tiles/satellite/0/0/0", server.base_url()),
        server.style_url(Some(&id)),
        server.icon_url(&m.project.id(), &m.icon_id, IconSize::Small, Some(1)),
        // Drawn from the SVG.
        server.icon_url(&m.project.id(), &m.icon_id, IconSize::Large, Some(2)),
    ];
    for url in &urls {
        let first = get(url).await;
        assert_eq!(first.status, 200);
        let etag = first.header("etag").expect("an etag").to_owned();
        assert!(first.header("cache-control").is_some());
        let again = get_with(url, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, 304, "{url}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let changed = get_with(url, &[("if-none-match", "\"something-else\"")]).await;
        assert_eq!(changed.status, 200);
        assert_eq!(changed.body, first.body);
    }
    // The blob's ETag is its hash.
    let thumb = m.project.attachment_variants(&m.photo).unwrap().unwrap();
    let hash = thumb.variant(Variant::Thumbnail).unwrap().hash.to_string();
    let r = get(&urls[0]).await;
    assert_eq!(r.header("etag"), Some(format!("\"{hash}\"").as_str()));
}

/// The width and height of a PNG, which must decode.
fn png_dimensions(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(image::guess_format(bytes).unwrap(), image::ImageFormat::Png);
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).unwrap();
    (img.width(), img.height())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_svg_icon_of_the_real_categories_file_comes_as_a_png_at_each_size_and_density() {
    let Some(file) = default_config::default_config() else {
        return;
    };
    let d = device(21);
    let project = d
        .manager
        .create_project(ProjectSettings::default())
        .unwrap();
    mapeo_core::categories::import_file(&project, &file).unwrap();
    let icons = project.list(&Query::all(DocType::Icon)).unwrap();
    assert!(icons.len() > 10, "the default config has its icons");
    let server = d.manager.local_server().await.unwrap();
    let sizes = [
        (IconSize::Small, 24),
        (IconSize::Medium, 48),
        (IconSize::Large, 96),
    ];
    let (mut first_fetch, mut cached_fetch, mut fetched) =
        (std::time::Duration::ZERO, std::time::Duration::ZERO, 0u32);
    for doc in &icons {
        let DocValue::Icon(icon) = doc.value() else {
            panic!("an icon listed as one");
        };
        assert!(
            icon.variants
                .iter()
                .all(|v| v.mime_type == IconMimeType::Svg),
            "this file holds SVG icons only"
        );
        for (size, side) in sizes {
            for density in 1..=3u8 {
                let url = server.icon_url(&project.id(), doc.doc_id(), size, Some(density));
                let started = std::time::Instant::now();
                let r = get(&url).await;
                first_fetch += started.elapsed();
                let what = format!("{} {size:?} @{density}x", icon.name);
                assert_eq!(r.status, 200, "{what}");
                assert_eq!(r.header("content-type"), Some("image/png"), "{what}");
                let expected = side * u32::from(density);
                assert_eq!(png_dimensions(&r.body), (expected, expected), "{what}");
                let img = image::load_from_memory(&r.body).unwrap().to_rgba8();
                let opaque = img.pixels().filter(|p| p.0[3] > 0).count();
                assert!(opaque > 0, "{what} is blank");

                let started = std::time::Instant::now();
                let again = get(&url).await;
                cached_fetch += started.elapsed();
                fetched += 1;
                assert_eq!(again.body, r.body, "{what}: the same PNG from the cache");
                assert_eq!(again.header("etag"), r.header("etag"), "{what}");
            }
        }
    }
    // A figure, not a check: timings depend on the machine.
    println!(
        "icon PNGs drawn from the real SVGs: {fetched}, first fetch (drawn) {:.2} ms, \
         cached fetch {:.2} ms on average",
        first_fetch.as_secs_f64() * 1000.0 / f64::from(fetched),
        cached_fetch.as_secs_f64() * 1000.0 / f64::from(fetched),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_svg_icon_asked_as_a_png_gets_404_and_the_server_keeps_serving() {
    let m = media_device(22);
    let server = m.device.manager.local_server().await.unwrap();
    let broken = |svg: &[u8]| {
        m.project
            .create(DocValue::Icon(Icon {
                name: "broken".into(),
                variants: vec![IconVariant {
                    size: IconSize::Medium,
                    pixel_density: None,
                    mime_type: IconMimeType::Svg,
                    data: svg.to_vec(),
                }],
            }))
            .unwrap()
            .doc
            .doc_id
    };
    let bad = [
        broken(br#"<svg xmlns="http://www.w3.org/2000/svg"><rect width="1""#),
        broken(b"\xff\xfe<svg"),
        broken(br#"<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0"/>"#),
        broken(
            br#"<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>"#,
        ),
        // An image naming a device file is not read.
        broken(
            br#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" height="8"><image xlink:href="/dev/zero" width="8" height="8"/></svg>"#,
        ),
    ];
    for (i, id) in bad.iter().enumerate() {
        let url = server.icon_url(&m.project.id(), id, IconSize::Medium, Some(2));
        let r = get(&url).await;
        if i == bad.len() - 1 {
            // Drawn, without the image: a transparent square.
            assert_eq!(r.status, 200);
            let img = image::load_from_memory(&r.body).unwrap().to_rgba8();
            assert!(img.pixels().all(|p| p.0[3] == 0));
        } else {
            assert_eq!(r.status, 404, "malformed svg {i}");
            assert_eq!(r.body, b"not found");
        }
        // Asked as the file has it, the SVG still comes byte for byte.
        let svg = get(&server.icon_url(&m.project.id(), id, IconSize::Medium, None)).await;
        assert_eq!(svg.status, 200);
    }
    let good = server.icon_url(&m.project.id(), &m.icon_id, IconSize::Small, Some(1));
    assert_eq!(get(&good).await.body, m.icon_png);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_parallel_tile_reads_all_come_back_right() {
    let d = device(9);
    let tmp = tempfile::tempdir().unwrap();
    let raster = tmp.path().join("raster.mbtiles");
    let tiles = raster_mbtiles(&raster);
    let id = import_path(&d, &raster);
    let server = d.manager.local_server().await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (z, x, row, png) = tiles[i % tiles.len()].clone();
        let url = format!(
            "{}/maps/{id}/tiles/mbtiles/{z}/{x}/{}",
            server.base_url(),
            (1 << z) - 1 - row
        );
        tasks.spawn(async move {
            let r: Reply = get(&url).await;
            (r.status, r.body == png)
        });
    }
    let mut ok = 0;
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap(), (200, true));
        ok += 1;
    }
    assert_eq!(ok, 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_of_a_left_project_is_no_longer_served() {
    let m = media_device(10);
    let server = m.device.manager.local_server().await.unwrap();
    let photo = attachment_url(&server, &m, &m.photo, Variant::Original);
    let icon = server.icon_url(&m.project.id(), &m.icon_id, IconSize::Medium, None);
    assert_eq!(get(&photo).await.status, 200);
    assert_eq!(get(&icon).await.status, 200);
    m.device.manager.leave_project(&m.project.id()).unwrap();
    // Our own photo is still on disk (we wrote it), but the project is left: not served.
    let r = get(&photo).await;
    assert_eq!((r.status, &r.body[..]), (404, &b"not found"[..]));
    assert_eq!(get(&icon).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_device_stops_its_server() {
    let d = device(11);
    let server = d.manager.local_server().await.unwrap();
    let same = d.manager.local_server().await.unwrap();
    assert_eq!(server.base_url(), same.base_url(), "one server per device");
    let addr = server.address();
    assert!(addr.ip().is_loopback());
    drop((server, same));
    d.manager.close().await;
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .expect("connect attempt bounded");
    assert!(refused.is_err(), "nothing listens once closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_is_dropped_and_cannot_hold_a_connection_slot() {
    use tokio::io::AsyncReadExt;
    let d = device(12);
    let server = d.manager.local_server().await.unwrap();
    let mut silent = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let limit = mapeo_core::server::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(10);
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(limit, silent.read(&mut buf))
        .await
        .expect("the server closes a silent connection within its header timeout");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed, not answered: {read:?}"
    );
    assert_eq!(get(&server.style_url(None)).await.status, 200);
}
