//! Media made in the test: JPEG and PNG photos with an EXIF orientation tag and GPS position
//! (the EXIF written by hand, as a camera would), and stand-ins for audio and video files.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use image::{ImageEncoder, Rgb, RgbImage};

/// Quadrant colours of the test photos: top-left, top-right, bottom-left, bottom-right.
pub const RED: [u8; 3] = [220, 30, 30];
pub const GREEN: [u8; 3] = [30, 200, 40];
pub const BLUE: [u8; 3] = [30, 40, 220];
pub const WHITE: [u8; 3] = [250, 250, 250];

/// A `w`×`h` picture in four coloured quadrants, with faint noise so it compresses like a
/// photo. `seed` makes different pictures.
pub fn quadrants(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let c = match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        };
        let n =
            (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ seed.wrapping_mul(2_654_435_761)) % 7;
        Rgb(c.map(|v| v.saturating_sub(n as u8)))
    })
}

fn push_entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&value);
}

/// An EXIF block (TIFF, little-endian) with an orientation and, in a GPS IFD, a position of
/// 3°27'55" S, 62°12'57" W.
pub fn exif_tiff(orientation: u16) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;
    let ifd0 = 8u32;
    let gps_ifd = ifd0 + 2 + 2 * 12 + 4;
    let lat = gps_ifd + 2 + 4 * 12 + 4;
    let lon = lat + 24;
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&ifd0.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    let o = orientation.to_le_bytes();
    push_entry(&mut t, 0x0112, SHORT, 1, [o[0], o[1], 0, 0]);
    push_entry(&mut t, 0x8825, LONG, 1, gps_ifd.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len() as u32, gps_ifd);
    t.extend_from_slice(&4u16.to_le_bytes());
    push_entry(&mut t, 0x0001, ASCII, 2, *b"S\0\0\0");
    push_entry(&mut t, 0x0002, RATIONAL, 3, lat.to_le_bytes());
    push_entry(&mut t, 0x0003, ASCII, 2, *b"W\0\0\0");
    push_entry(&mut t, 0x0004, RATIONAL, 3, lon.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len() as u32, lat);
    for (num, den) in [(3u32, 1u32), (27, 1), (55, 1), (62, 1), (12, 1), (57, 1)] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t
}

/// A JPEG of `img` with an APP1 EXIF segment (orientation and GPS) right after SOI.
pub fn jpeg_with_exif(img: &RgbImage, orientation: u16, quality: u8) -> Vec<u8> {
    let mut plain = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, quality)
        .encode_image(img)
        .unwrap();
    let tiff = exif_tiff(orientation);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A PNG of `img` with an eXIf chunk (orientation and GPS).
pub fn png_with_exif(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut out);
    enc.set_exif_metadata(exif_tiff(orientation)).unwrap();
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

/// The markers of a JPEG's segments before its image data.
pub fn jpeg_markers(jpeg: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "starts with SOI");
    let mut at = 2;
    let mut markers = Vec::new();
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let len = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
        at += 2 + len;
    }
    markers
}

/// Bytes that look like an MP4 video (an `ftyp` box) followed by `len` pseudo-random bytes.
pub fn fake_mp4(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 0x18];
    out.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    out.extend(noise(len, seed));
    out
}

/// Bytes that look like a WAV recording followed by `len` pseudo-random bytes.
pub fn fake_wav(len: usize, seed: u64) -> Vec<u8> {
    let mut out = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
    out.extend(noise(len, seed));
    out
}

/// `len` pseudo-random bytes from a seed (blake3 in XOF mode).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Whether two colours are within `tolerance` on every channel (JPEG is lossy).
pub fn near(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}
