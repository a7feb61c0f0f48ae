//! Category icons as PNG for phones: Android's `BitmapFactory` and iOS's `UIImage` read no
//! SVG, so when a PNG is asked and a categories file holds only the SVG, the SVG is drawn at
//! the size and density asked (in pure Rust, with `resvg`: no system libraries, no fonts),
//! within named limits, and the PNGs drawn are kept in a bounded memory cache so that a map
//! of many points draws each icon once. Blocking: callers run it off the async threads.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{self, ImageHrefResolver, roxmltree};

use crate::schema::IconSize;

/// Side of a small icon at density 1, in device-independent pixels (dp on Android, points
/// on iOS).
pub const SMALL_ICON_SIDE: u32 = 24;
/// Side of a medium icon at density 1.
pub const MEDIUM_ICON_SIDE: u32 = 48;
/// Side of a large icon at density 1.
pub const LARGE_ICON_SIDE: u32 = 96;
/// Highest pixel density an icon is drawn at, as for the PNGs a categories file may hold;
/// above, 404.
pub const MAX_ICON_DENSITY: u8 = 3;
/// Largest SVG drawn; a larger one is not an icon (the real ones are a few KiB): 404.
pub const MAX_DRAWN_SVG_BYTES: usize = 256 * 1024;
/// Most XML nodes in an SVG drawn, so that parsing stays small whatever a file holds.
pub const MAX_DRAWN_SVG_NODES: u32 = 20_000;
/// Most pixels in a drawn PNG.
pub const MAX_DRAWN_ICON_PIXELS: u32 = 512 * 512;
/// Bytes of drawn PNGs kept in memory; the oldest go first when more are drawn.
pub const DRAWN_ICON_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The side in pixels of an icon of `size` drawn at `density`.
pub fn icon_side(size: IconSize, density: u8) -> u32 {
    let side = match size {
        IconSize::Small => SMALL_ICON_SIDE,
        IconSize::Medium => MEDIUM_ICON_SIDE,
        IconSize::Large => LARGE_ICON_SIDE,
    };
    side * u32::from(density)
}

/// Why an SVG could not be drawn; the client sees only a 404.
#[derive(Debug, thiserror::Error)]
pub(super) enum DrawError {
    /// The SVG, or the PNG asked, is past the limits.
    #[error("the icon is too large to draw")]
    TooLarge,
    /// The bytes are not an SVG that can be read.
    #[error("the icon is not a readable svg")]
    Unreadable,
    /// The SVG has no area to draw.
    #[error("the icon has no size")]
    Empty,
    /// Encoding the PNG failed.
    #[error("the drawn icon could not be encoded")]
    Encode,
}

/// What a drawn PNG is kept under: the SVG's hash, the size and the density.
pub(super) type DrawnKey = ([u8; 32], IconSize, u8);

/// The key of the PNG of `svg` at `size` and `density`.
pub(super) fn drawn_key(svg: &[u8], size: IconSize, density: u8) -> DrawnKey {
    (*blake3::hash(svg).as_bytes(), size, density)
}

/// Drawn PNGs, at most [`DRAWN_ICON_CACHE_BYTES`] of them, oldest out first.
#[derive(Default)]
pub(super) struct DrawnIcons {
    inner: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    pngs: HashMap<DrawnKey, Bytes>,
    order: VecDeque<DrawnKey>,
    bytes: usize,
}

impl DrawnIcons {
    /// The PNG of `svg` at `size` and `density`, from the cache or drawn now (outside the
    /// lock: two requests for a new icon may both draw it, and neither waits on the other).
    pub(super) fn png(
        &self,
        key: DrawnKey,
        svg: &[u8],
        size: IconSize,
        density: u8,
    ) -> Result<Bytes, DrawError> {
        if let Some(png) = self.lock().pngs.get(&key) {
            return Ok(png.clone());
        }
        if density == 0 || density > MAX_ICON_DENSITY {
            return Err(DrawError::TooLarge);
        }
        let png = Bytes::from(draw_png(svg, icon_side(size, density))?);
        self.lock().insert(key, png.clone());
        Ok(png)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic elsewhere while holding it left a cache of whole entries: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Cache {
    fn insert(&mut self, key: DrawnKey, png: Bytes) {
        if png.len() > DRAWN_ICON_CACHE_BYTES || self.pngs.contains_key(&key) {
            return;
        }
        while self.bytes + png.len() > DRAWN_ICON_CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.pngs.remove(&old) {
                self.bytes -= gone.len();
            }
        }
        self.bytes += png.len();
        self.order.push_back(key);
        self.pngs.insert(key, png);
    }
}

/// Draws `svg` into a `side`×`side` PNG, scaled to fit and centred, transparent around.
pub(super) fn draw_png(svg: &[u8], side: u32) -> Result<Vec<u8>, DrawError> {
    if svg.len() > MAX_DRAWN_SVG_BYTES || u64::from(side).pow(2) > u64::from(MAX_DRAWN_ICON_PIXELS)
    {
        return Err(DrawError::TooLarge);
    }
    let text = std::str::from_utf8(svg).map_err(|_| DrawError::Unreadable)?;
    let xml = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            // Icons need no entities; refusing a DTD refuses entity expansion altogether.
            allow_dtd: false,
            nodes_limit: MAX_DRAWN_SVG_NODES,
            ..Default::default()
        },
    )
    .map_err(|_| DrawError::Unreadable)?;
    let options = usvg::Options {
        // An `<image>` may name any path on the device (`/dev/zero`): icons draw none.
        image_href_resolver: ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..Default::default()
    };
    let tree = usvg::Tree::from_xmltree(&xml, &options).map_err(|_| DrawError::Unreadable)?;
    let (w, h) = (tree.size().width(), tree.size().height());
    if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) {
        return Err(DrawError::Empty);
    }
    let side_f = side as f32;
    let scale = (side_f / w).min(side_f / h);
    let transform = Transform::from_scale(scale, scale)
        .post_translate((side_f - w * scale) / 2.0, (side_f - h * scale) / 2.0);
    let mut pixmap = Pixmap::new(side, side).ok_or(DrawError::Empty)?;
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|_| DrawError::Encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOT: &[u8] = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 20"><rect width="10" height="20" fill="red"/></svg>"#;

    #[test]
    fn a_tall_svg_is_drawn_square_centred_and_bad_ones_are_refused() {
        let png = draw_png(DOT, 40).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(img.dimensions(), (40, 40));
        assert_eq!(img.get_pixel(20, 20).0, [255, 0, 0, 255]);
        assert_eq!(
            img.get_pixel(2, 20).0[3],
            0,
            "transparent beside a tall icon"
        );
        assert!(matches!(
            draw_png(b"<svg xmlns=\"http://www.w3.org/2000/svg\"", 40),
            Err(DrawError::Unreadable)
        ));
        assert!(matches!(
            draw_png(b"\xff\xfe", 40),
            Err(DrawError::Unreadable)
        ));
        let laughs = br#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>"#;
        assert!(matches!(draw_png(laughs, 40), Err(DrawError::Unreadable)));
        assert!(matches!(draw_png(DOT, 4096), Err(DrawError::TooLarge)));
        let huge = vec![b' '; MAX_DRAWN_SVG_BYTES + 1];
        assert!(matches!(draw_png(&huge, 40), Err(DrawError::TooLarge)));
    }

    #[test]
    fn the_cache_keeps_drawn_pngs_within_its_budget() {
        let icons = DrawnIcons::default();
        let key = drawn_key(DOT, IconSize::Small, 2);
        let first = icons.png(key, DOT, IconSize::Small, 2).unwrap();
        // Served from the cache: the same bytes even if the SVG given now differs.
        assert_eq!(
            icons.png(key, b"not drawn", IconSize::Small, 2).unwrap(),
            first
        );
        let mut cache = Cache::default();
        let big = Bytes::from(vec![0u8; DRAWN_ICON_CACHE_BYTES / 3 + 1]);
        for d in 1..=4 {
            cache.insert(([d; 32], IconSize::Large, d), big.clone());
        }
        assert!(cache.bytes <= DRAWN_ICON_CACHE_BYTES);
        assert_eq!(cache.pngs.len(), 2);
        assert!(!cache.pngs.contains_key(&([1; 32], IconSize::Large, 1)));
        assert!(cache.pngs.contains_key(&([4; 32], IconSize::Large, 4)));
    }
}
