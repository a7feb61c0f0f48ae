//! Attachments on one device: photos made in the test (JPEG and PNG, with an EXIF
//! orientation and a GPS position) get an upright preview and thumbnail of the right size
//! with no metadata left, the original kept byte for byte; audio and video keep only their
//! original; the type comes from the content; bad media is an error and stores nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::path::{Path, PathBuf};

use common::Device;
use common::media::{
    BLUE, GREEN, RED, WHITE, fake_mp4, fake_wav, jpeg_markers, jpeg_with_exif, near, png_with_exif,
    quadrants,
};
use image::{GenericImageView, ImageDecoder};
use mapeo_core::attachments::{AttachmentError, PREVIEW_MAX_PX, THUMBNAIL_MAX_PX};
use mapeo_core::schema::{
    Attachment, AttachmentKind, DocType, DocValue, Observation, Variant, VariantBlob,
};
use mapeo_core::{BlobPolicy, Error, Project, Query};

/// Every file under the project's blob folder (complete, temporary or partial).
fn blob_files(p: &Project) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(&p.path().parent().unwrap().join("blobs"), &mut out);
    out
}

fn variant(p: &Project, a: &Attachment, v: Variant) -> Vec<u8> {
    p.attachment_bytes(a, v).unwrap().expect("variant is here")
}

fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).unwrap()
}

/// The colour near a corner of an image (a few pixels in, away from JPEG's edge effects).
fn corner(img: &image::DynamicImage, right: bool, bottom: bool) -> [u8; 3] {
    let (w, h) = img.dimensions();
    let x = if right { w - 6 } else { 5 };
    let y = if bottom { h - 6 } else { 5 };
    let p = img.get_pixel(x, y).0;
    [p[0], p[1], p[2]]
}

/// A derived variant has no metadata: only JFIF, tables and frame segments before the
/// image data, no EXIF the image decoder or an EXIF parser could find, no GPS anywhere.
fn assert_no_metadata(jpeg: &[u8]) {
    for m in jpeg_markers(jpeg) {
        assert!(
            !(0xE1..=0xEF).contains(&m) && m != 0xFE,
            "metadata segment {m:#x} in a derived variant"
        );
    }
    let mut dec = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg)).unwrap();
    assert_eq!(dec.exif_metadata().unwrap(), None);
    assert_eq!(dec.xmp_metadata().unwrap(), None);
    assert!(
        exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(jpeg))
            .is_err(),
        "no EXIF at all"
    );
}

/// The original really carries the tags the test relies on.
fn assert_has_gps(bytes: &[u8]) {
    let e = exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(bytes))
        .unwrap();
    assert!(
        e.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
            .is_some()
    );
    assert!(
        e.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .is_some()
    );
}

fn entry(variants: &[VariantBlob], v: Variant) -> &VariantBlob {
    variants.iter().find(|x| x.variant == v).unwrap()
}

#[test]
fn jpeg_photo_gets_an_upright_preview_and_thumbnail_without_metadata() {
    let d = Device::new(1);
    let p = d.manager.create_project(Default::default()).unwrap();
    // Stored landscape 1600×1000, tagged "rotate 90° clockwise to display" (6).
    let original = jpeg_with_exif(&quadrants(1600, 1000, 1), 6, 92);
    assert_has_gps(&original);
    let a = p
        .add_attachment_from_bytes(&original, "IMG_0001.jpg")
        .unwrap();
    assert_eq!(a.kind, AttachmentKind::Photo);
    assert_eq!(a.name, "IMG_0001.jpg");
    assert_eq!(a.hash, blake3::hash(&original).to_hex().as_str());

    assert_eq!(
        variant(&p, &a, Variant::Original),
        original,
        "original untouched"
    );
    let preview = variant(&p, &a, Variant::Preview);
    let thumbnail = variant(&p, &a, Variant::Thumbnail);
    let (pv, th) = (decode(&preview), decode(&thumbnail));
    // Upright: portrait, longest side at the limit.
    assert_eq!(pv.dimensions(), (750, PREVIEW_MAX_PX));
    assert_eq!(th.dimensions(), (250, THUMBNAIL_MAX_PX));
    for img in [&pv, &th] {
        // Turned clockwise: the stored bottom-left (blue) is now top-left, the stored
        // top-left (red) top-right, bottom-right (white) bottom-left.
        assert!(
            near(corner(img, false, false), BLUE, 24),
            "{:?}",
            corner(img, false, false)
        );
        assert!(near(corner(img, true, false), RED, 24));
        assert!(near(corner(img, false, true), WHITE, 24));
        assert!(near(corner(img, true, true), GREEN, 24));
    }
    assert_no_metadata(&preview);
    assert_no_metadata(&thumbnail);

    // The blob index records every variant's hash, size and type.
    let index = p.attachment_variants(&a).unwrap().unwrap();
    assert_eq!(index.kind, AttachmentKind::Photo);
    assert_eq!(index.variants.len(), 3);
    let o = entry(&index.variants, Variant::Original);
    assert_eq!(o.mime_type, "image/jpeg");
    assert_eq!(o.size, original.len() as u64);
    let pe = entry(&index.variants, Variant::Preview);
    assert_eq!(pe.size, preview.len() as u64);
    assert_eq!(
        pe.hash.to_string(),
        blake3::hash(&preview).to_hex().as_str()
    );
    assert_eq!(
        entry(&index.variants, Variant::Thumbnail).mime_type,
        "image/jpeg"
    );

    // The attachment goes on an observation like any other.
    let obs = p
        .create(DocValue::Observation(Observation {
            attachments: vec![a.clone()],
            ..Default::default()
        }))
        .unwrap();
    let DocValue::Observation(o) = p.get(obs.doc_id()).unwrap().doc.value else {
        panic!("an observation")
    };
    assert_eq!(o.attachments, vec![a]);
}

#[test]
fn png_photo_gets_an_upright_preview_and_thumbnail_without_metadata() {
    let d = Device::new(2);
    let p = d.manager.create_project(Default::default()).unwrap();
    // Stored 2000×900, tagged "rotate 90° counter-clockwise to display" (8).
    let original = png_with_exif(&quadrants(2000, 900, 2), 8);
    assert_has_gps(&original);
    let a = p.add_attachment_from_bytes(&original, "scan.png").unwrap();
    assert_eq!(variant(&p, &a, Variant::Original), original);
    let preview = variant(&p, &a, Variant::Preview);
    let thumbnail = variant(&p, &a, Variant::Thumbnail);
    let (pv, th) = (decode(&preview), decode(&thumbnail));
    assert_eq!(pv.dimensions(), (540, PREVIEW_MAX_PX));
    assert_eq!(th.dimensions(), (180, THUMBNAIL_MAX_PX));
    for img in [&pv, &th] {
        // Turned counter-clockwise: the stored top-right (green) is now top-left.
        assert!(
            near(corner(img, false, false), GREEN, 24),
            "{:?}",
            corner(img, false, false)
        );
        assert!(near(corner(img, true, false), WHITE, 24));
        assert!(near(corner(img, false, true), RED, 24));
        assert!(near(corner(img, true, true), BLUE, 24));
    }
    assert_no_metadata(&preview);
    assert_no_metadata(&thumbnail);
    let index = p.attachment_variants(&a).unwrap().unwrap();
    assert_eq!(
        entry(&index.variants, Variant::Original).mime_type,
        "image/png"
    );
}

#[test]
fn a_small_photo_is_never_scaled_up() {
    let d = Device::new(3);
    let p = d.manager.create_project(Default::default()).unwrap();
    let original = jpeg_with_exif(&quadrants(300, 200, 3), 1, 90);
    let a = p.add_attachment_from_bytes(&original, "small.jpg").unwrap();
    assert_eq!(
        decode(&variant(&p, &a, Variant::Preview)).dimensions(),
        (300, 200)
    );
    assert_eq!(
        decode(&variant(&p, &a, Variant::Thumbnail)).dimensions(),
        (300, 200)
    );
    assert_no_metadata(&variant(&p, &a, Variant::Preview));
}

#[test]
fn audio_and_video_from_a_path_keep_only_their_original_typed_by_content() {
    let d = Device::new(4);
    let p = d.manager.create_project(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The names lie; the content decides.
    let video = fake_mp4(3 * 1024 * 1024 + 17, 1);
    let video_path = dir.path().join("VID_0001.jpg");
    std::fs::write(&video_path, &video).unwrap();
    let audio = fake_wav(200_000, 2);
    let audio_path = dir.path().join("note.mp4");
    std::fs::write(&audio_path, &audio).unwrap();
    let v = p.add_attachment_from_path(&video_path).unwrap();
    let a = p.add_attachment_from_path(&audio_path).unwrap();
    assert_eq!(
        (v.kind, v.name.as_str()),
        (AttachmentKind::Video, "VID_0001.jpg")
    );
    assert_eq!(
        (a.kind, a.name.as_str()),
        (AttachmentKind::Audio, "note.mp4")
    );
    assert_eq!(variant(&p, &v, Variant::Original), video);
    assert_eq!(variant(&p, &a, Variant::Original), audio);
    for x in [&v, &a] {
        assert!(p.attachment_bytes(x, Variant::Preview).unwrap().is_none());
        assert!(p.open_attachment(x, Variant::Thumbnail).unwrap().is_none());
        assert_eq!(p.attachment_variants(x).unwrap().unwrap().variants.len(), 1);
    }
    let index = p.attachment_variants(&v).unwrap().unwrap();
    assert_eq!(index.variants[0].mime_type, "video/mp4");
    assert_eq!(index.variants[0].size, video.len() as u64);
    assert_eq!(
        p.attachment_variants(&a).unwrap().unwrap().variants[0].mime_type,
        "audio/x-wav"
    );
    // A photo from a path gets its variants too.
    let photo_path = dir.path().join("photo");
    std::fs::write(&photo_path, jpeg_with_exif(&quadrants(800, 600, 4), 1, 90)).unwrap();
    let photo = p.add_attachment_from_path(&photo_path).unwrap();
    assert_eq!(photo.kind, AttachmentKind::Photo);
    assert!(
        p.open_attachment(&photo, Variant::Thumbnail)
            .unwrap()
            .is_some()
    );
    // Only complete blobs are on disk: no temporary or partial file.
    assert_eq!(blob_files(&p).len(), 2 + 3);
}

#[test]
fn unsupported_or_unreadable_media_is_an_error_and_stores_nothing() {
    let d = Device::new(5);
    let p = d.manager.create_project(Default::default()).unwrap();
    let good = jpeg_with_exif(&quadrants(640, 480, 5), 6, 90);
    let mut truncated = good[..good.len() / 3].to_vec();
    truncated.extend_from_slice(&[0u8; 64]);
    let mut corrupt = good.clone();
    for b in &mut corrupt[200..2000] {
        *b = 0xFF;
    }
    let mut png_garbage = b"\x89PNG\r\n\x1a\n".to_vec();
    png_garbage.extend_from_slice(&[7u8; 500]);
    let gif = b"GIF89a\x01\0\x01\0\0\0\0;".to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a PDF", b"%PDF-1.7\n1 0 obj\n".to_vec()),
        ("plain text", b"just some notes".to_vec()),
        ("a GIF (not taken)", gif),
        ("a truncated JPEG", truncated),
        ("a corrupt JPEG", corrupt),
        ("garbage after a PNG signature", png_garbage),
        ("nothing", Vec::new()),
    ];
    for (what, bytes) in cases {
        let err = p
            .add_attachment_from_bytes(&bytes, "x.jpg")
            .expect_err(what);
        assert!(
            matches!(
                err,
                Error::Attachment(AttachmentError::Unsupported)
                    | Error::Attachment(AttachmentError::Unreadable)
                    | Error::Attachment(AttachmentError::Empty)
            ),
            "{what}: {err:?}"
        );
        assert!(err.to_string().len() < 80 && !err.to_string().contains("x.jpg"));
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(
        p.add_attachment_from_path(&dir.path().join("missing.jpg"))
            .is_err()
    );
    assert!(matches!(
        p.add_attachment_from_bytes(&good, "  "),
        Err(Error::Attachment(AttachmentError::BadName))
    ));
    assert!(
        blob_files(&p).is_empty(),
        "nothing stored: {:?}",
        blob_files(&p)
    );
    assert!(p.list(&Query::all(DocType::BlobIndex)).unwrap().is_empty());
}

#[test]
fn the_same_photo_added_twice_is_stored_once() {
    let d = Device::new(6);
    let p = d.manager.create_project(Default::default()).unwrap();
    let photo = jpeg_with_exif(&quadrants(900, 700, 6), 3, 90);
    let a = p.add_attachment_from_bytes(&photo, "a.jpg").unwrap();
    let b = p.add_attachment_from_bytes(&photo, "b.jpg").unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(blob_files(&p).len(), 3);
    assert_eq!(p.list(&Query::all(DocType::BlobIndex)).unwrap().len(), 1);
}

#[test]
fn attachments_and_the_blob_policy_survive_a_restart() {
    let mut d = Device::new(7);
    let p = d.manager.create_project(Default::default()).unwrap();
    let id = p.id();
    let photo = jpeg_with_exif(&quadrants(500, 400, 7), 1, 90);
    let a = p.add_attachment_from_bytes(&photo, "a.jpg").unwrap();
    assert_eq!(
        d.manager.blob_policy().unwrap(),
        BlobPolicy::ARCHIVE,
        "archive by default"
    );
    d.manager
        .set_blob_policy(BlobPolicy::PREVIEWS_ONLY)
        .unwrap();
    assert_eq!(
        p.blob_policy(),
        BlobPolicy::PREVIEWS_ONLY,
        "applied to open projects"
    );
    drop(p);
    d.restart();
    let p = d.manager.open_project(&id).unwrap();
    assert_eq!(d.manager.blob_policy().unwrap(), BlobPolicy::PREVIEWS_ONLY);
    assert_eq!(p.blob_policy(), BlobPolicy::PREVIEWS_ONLY);
    assert_eq!(variant(&p, &a, Variant::Original), photo);
    // Its own original is kept whatever the policy: the policy is about downloads.
    assert!(p.wanted_blobs().unwrap().is_empty());
    let unknown = Attachment {
        name: "x".into(),
        kind: AttachmentKind::Photo,
        hash: "ab".repeat(32),
    };
    assert!(
        p.attachment_bytes(&unknown, Variant::Original)
            .unwrap()
            .is_none()
    );
}
