//! The local server's paths (after the secret): parsing them into routes, finding what each
//! names in the map store or a project, and rewriting a map's style so that its URLs point
//! back here. Every read is blocking (SQLite, zip, files): callers run it off the async
//! threads.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::icons::{DrawnIcons, drawn_key};
use super::respond::{CACHE_IMMUTABLE, CACHE_REVALIDATE, Content, Resource};
use super::{ProjectMedia, percent_decode, percent_encode};
use crate::attachments::blob_index_doc_id;
use crate::ids::{BlobHash, DocId, ProjectId};
use crate::maps::{MapError, MapId, MapResource, MapStore, fallback_style};
use crate::schema::{DocValue, IconMimeType, IconSize, Variant};

/// How a package names a file inside itself; the store leaves these in the styles it gives.
const PACKAGE_URL_PREFIX: &str = "smp://maps.v1/";
/// Sprite file suffixes, longest first so that `@2x.png` is not read as `.png`.
const SPRITE_SUFFIXES: [&str; 4] = ["@2x.json", "@2x.png", ".json", ".png"];
/// The path segment of the default map (and of the fallback style when none is chosen).
pub(super) const DEFAULT_MAP: &str = "default";
/// The path segment of the built-in fallback style.
pub(super) const FALLBACK_MAP: &str = "fallback";

/// Which map a style is asked for.
#[derive(Debug, PartialEq)]
pub(super) enum StyleOf {
    Default,
    Fallback,
    Map(MapId),
}

/// What a path names.
#[derive(Debug, PartialEq)]
pub(super) enum Route {
    Style(StyleOf),
    Tile {
        map: MapId,
        source: String,
        z: u8,
        x: u32,
        y: u32,
    },
    Glyphs {
        map: MapId,
        fontstack: String,
        range: String,
    },
    Sprite {
        map: MapId,
        sprite: String,
        suffix: &'static str,
    },
    Attachment {
        project: ProjectId,
        original: BlobHash,
        variant: Variant,
    },
    Icon {
        project: ProjectId,
        icon: DocId,
        size: IconSize,
        density: Option<u8>,
        format: Option<IconMimeType>,
    },
}

/// The route of the path's segments after the secret, or `None` for a path that names
/// nothing this server serves.
pub(super) fn parse(segments: &[&str]) -> Option<Route> {
    let decoded: Vec<String> = segments
        .iter()
        .map(|s| percent_decode(s))
        .collect::<Option<_>>()?;
    let s: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["maps", DEFAULT_MAP, "style.json"] => Some(Route::Style(StyleOf::Default)),
        ["maps", FALLBACK_MAP, "style.json"] => Some(Route::Style(StyleOf::Fallback)),
        ["maps", map, "style.json"] => Some(Route::Style(StyleOf::Map(map.parse().ok()?))),
        ["maps", map, "tiles", source, z, x, y] => {
            // A client may add an extension to the row (`3.png`); the package knows its own.
            let y = y.split_once('.').map_or(*y, |(y, _)| y);
            Some(Route::Tile {
                map: map.parse().ok()?,
                source: (*source).to_owned(),
                z: number(z)?,
                x: number(x)?,
                y: number(y)?,
            })
        }
        ["maps", map, "fonts", fontstack, file] => {
            let range = file.strip_suffix(".pbf")?;
            let (lo, hi) = range.split_once('-')?;
            number::<u32>(lo)?;
            number::<u32>(hi)?;
            Some(Route::Glyphs {
                map: map.parse().ok()?,
                fontstack: (*fontstack).to_owned(),
                range: range.to_owned(),
            })
        }
        ["maps", map, "sprites", file] => {
            let suffix = SPRITE_SUFFIXES.into_iter().find(|s| file.ends_with(s))?;
            let sprite = &file[..file.len() - suffix.len()];
            (!sprite.is_empty()).then_some(())?;
            Some(Route::Sprite {
                map: map.parse().ok()?,
                sprite: sprite.to_owned(),
                suffix,
            })
        }
        ["projects", project, "attachments", original, variant] => Some(Route::Attachment {
            project: project.parse().ok()?,
            original: original.parse().ok()?,
            variant: match *variant {
                "original" => Variant::Original,
                "preview" => Variant::Preview,
                "thumbnail" => Variant::Thumbnail,
                _ => return None,
            },
        }),
        ["projects", project, "icons", icon, file] => {
            let (name, format) = match file.rsplit_once('.') {
                Some((name, "svg")) => (name, Some(IconMimeType::Svg)),
                Some((name, "png")) => (name, Some(IconMimeType::Png)),
                Some(_) => return None,
                None => (*file, None),
            };
            let (size, density) = match name.split_once('@') {
                Some((size, d)) => (size, Some(number::<u8>(d.strip_suffix('x')?)?)),
                None => (name, None),
            };
            Some(Route::Icon {
                project: project.parse().ok()?,
                icon: icon.parse().ok()?,
                size: icon_size(size)?,
                density,
                format,
            })
        }
        _ => None,
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    (!s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// An icon size by its name in URLs.
pub(super) fn icon_size(s: &str) -> Option<IconSize> {
    match s {
        "small" => Some(IconSize::Small),
        "medium" => Some(IconSize::Medium),
        "large" => Some(IconSize::Large),
        _ => None,
    }
}

/// The name of an icon size in URLs.
pub(super) fn icon_size_name(s: IconSize) -> &'static str {
    match s {
        IconSize::Small => "small",
        IconSize::Medium => "medium",
        IconSize::Large => "large",
    }
}

/// A failure to read what a route names; not shown to clients.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error(transparent)]
    Map(#[from] MapError),
    #[error("a project could not be read")]
    Project,
    #[error("a style could not be written")]
    Style,
    #[error("a media file could not be opened")]
    Io(#[from] std::io::Error),
}

/// What the routes read from.
pub(super) struct Sources {
    pub(super) maps: Arc<MapStore>,
    pub(super) media: Arc<dyn ProjectMedia>,
    /// PNGs drawn from SVG icons, for phones.
    pub(super) drawn: DrawnIcons,
}

/// Finds what a route names; `Ok(None)` when there is no such thing (404). `base` is the
/// server's URL with its secret, for styles.
pub(super) fn resolve(
    route: Route,
    from: &Sources,
    base: &str,
) -> Result<Option<Resource>, ReadError> {
    let maps = &from.maps;
    let found = |r: Option<MapResource>, etag: String| {
        r.map(|r| Resource {
            content: Content::Bytes(Bytes::from(r.bytes)),
            content_type: r.content_type.to_owned(),
            content_encoding: r.content_encoding,
            etag,
            cache_control: CACHE_IMMUTABLE,
        })
    };
    let unknown_is_none = |e: MapError| match e {
        MapError::UnknownMap => Ok(None),
        e => Err(ReadError::Map(e)),
    };
    match route {
        Route::Style(of) => {
            let style = match of {
                StyleOf::Fallback => fallback_style(),
                StyleOf::Default => match maps.default_map()? {
                    Some(id) => match maps.style(&id) {
                        Ok(style) => rewrite_style(style, &map_base(base, &id)),
                        // Removed between the two reads: the fallback, as if none were chosen.
                        Err(MapError::UnknownMap) => fallback_style(),
                        Err(e) => return Err(e.into()),
                    },
                    None => fallback_style(),
                },
                StyleOf::Map(id) => match maps.style(&id) {
                    Ok(style) => rewrite_style(style, &map_base(base, &id)),
                    Err(e) => return unknown_is_none(e),
                },
            };
            let bytes = serde_json::to_vec(&style).map_err(|_| ReadError::Style)?;
            let etag = etag_of(&[&bytes]);
            Ok(Some(Resource {
                content: Content::Bytes(Bytes::from(bytes)),
                content_type: "application/json".to_owned(),
                content_encoding: None,
                etag,
                cache_control: CACHE_REVALIDATE,
            }))
        }
        Route::Tile {
            map,
            source,
            z,
            x,
            y,
        } => {
            // A map's id is the hash of its package: id and tile name the bytes for good.
            let etag = etag_of(&[
                map.to_string().as_bytes(),
                b"tile",
                source.as_bytes(),
                format!("{z}/{x}/{y}").as_bytes(),
            ]);
            match maps.tile(&map, &source, z, x, y) {
                Ok(r) => Ok(found(r, etag)),
                Err(e) => unknown_is_none(e),
            }
        }
        Route::Glyphs {
            map,
            fontstack,
            range,
        } => {
            let etag = etag_of(&[
                map.to_string().as_bytes(),
                b"glyphs",
                fontstack.as_bytes(),
                range.as_bytes(),
            ]);
            match maps.glyphs(&map, &fontstack, &range) {
                Ok(r) => Ok(found(r, etag)),
                Err(e) => unknown_is_none(e),
            }
        }
        Route::Sprite {
            map,
            sprite,
            suffix,
        } => {
            let etag = etag_of(&[
                map.to_string().as_bytes(),
                b"sprite",
                sprite.as_bytes(),
                suffix.as_bytes(),
            ]);
            match maps.sprite(&map, &sprite, suffix) {
                // A sprite's JSON is JSON whatever the package's bytes look like.
                Ok(Some(mut r)) if suffix.ends_with(".json") => {
                    r.content_type = "application/json";
                    Ok(found(Some(r), etag))
                }
                Ok(r) => Ok(found(r, etag)),
                Err(e) => unknown_is_none(e),
            }
        }
        Route::Attachment {
            project,
            original,
            variant,
        } => {
            let Some(project) = from.media.project(&project) else {
                return Ok(None);
            };
            let index = match project.get(&blob_index_doc_id(&original)) {
                Ok(d) => match d.doc.value {
                    DocValue::BlobIndex(index) if !d.doc.deleted => index,
                    _ => return Ok(None),
                },
                Err(crate::Error::NotFound { .. }) => return Ok(None),
                Err(_) => return Err(ReadError::Project),
            };
            let Some(blob) = index.variant(variant) else {
                return Ok(None);
            };
            let reader = match project.open_blob(&blob.hash) {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(None),
                Err(_) => return Err(ReadError::Project),
            };
            Ok(Some(Resource {
                content: Content::Blob(reader),
                content_type: blob.mime_type.clone(),
                content_encoding: None,
                etag: format!("\"{}\"", blob.hash),
                cache_control: CACHE_IMMUTABLE,
            }))
        }
        Route::Icon {
            project,
            icon,
            size,
            density,
            format,
        } => {
            let Some(project) = from.media.project(&project) else {
                return Ok(None);
            };
            let icon = match project.get(&icon) {
                Ok(d) => match d.doc.value {
                    DocValue::Icon(icon) if !d.doc.deleted => icon,
                    _ => return Ok(None),
                },
                Err(crate::Error::NotFound { .. }) => return Ok(None),
                Err(_) => return Err(ReadError::Project),
            };
            let wants_png =
                format == Some(IconMimeType::Png) || (format.is_none() && density.is_some());
            // Only kept when a PNG may need drawing: an SVG can be half a MiB.
            let svgs: Vec<_> = icon
                .variants
                .iter()
                .filter(|v| wants_png && v.mime_type == IconMimeType::Svg)
                .map(|v| (v.size != size, v.data.clone()))
                .collect();
            let mut candidates: Vec<_> = icon
                .variants
                .into_iter()
                .filter(|v| v.size == size)
                .filter(|v| format.is_none_or(|f| v.mime_type == f))
                .filter(|v| density.is_none_or(|d| v.pixel_density.unwrap_or(1) == d))
                .collect();
            // Unasked, prefer what scales (SVG), then the lowest density.
            candidates.sort_by_key(|v| {
                (
                    v.mime_type != IconMimeType::Svg,
                    v.pixel_density.unwrap_or(1),
                )
            });
            let Some(chosen) = candidates.into_iter().next() else {
                // A PNG asked and none in the categories file: drawn from its SVG, that of
                // the size asked first (an SVG scales, so another size will do).
                return Ok(svgs
                    .into_iter()
                    .min_by_key(|(other_size, _)| *other_size)
                    .and_then(|(_, svg)| {
                        drawn_png(&from.drawn, &svg, size, density.unwrap_or(1))
                    }));
            };
            let etag = etag_of(&[&chosen.data]);
            Ok(Some(Resource {
                content: Content::Bytes(Bytes::from(chosen.data)),
                content_type: chosen.mime_type.as_str().to_owned(),
                content_encoding: None,
                etag,
                cache_control: CACHE_REVALIDATE,
            }))
        }
    }
}

/// The PNG of an SVG icon at a size and density, as a resource; `None` (404) when the SVG
/// cannot be drawn (malformed, past the limits).
fn drawn_png(drawn: &DrawnIcons, svg: &[u8], size: IconSize, density: u8) -> Option<Resource> {
    let key = drawn_key(svg, size, density);
    match drawn.png(key, svg, size, density) {
        Ok(png) => Some(Resource {
            content: Content::Bytes(png),
            content_type: IconMimeType::Png.as_str().to_owned(),
            content_encoding: None,
            // Named by what it is drawn from: the same key, the same bytes.
            etag: etag_of(&[&key.0, b"png", icon_size_name(size).as_bytes(), &[density]]),
            cache_control: CACHE_REVALIDATE,
        }),
        Err(e) => {
            tracing::debug!("local server: {e}");
            None
        }
    }
}

/// A strong ETag from a hash of the parts.
fn etag_of(parts: &[&[u8]]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("\"{}\"", &h.finalize().to_hex()[..32])
}

/// The URL prefix of one map's resources.
pub(super) fn map_base(base: &str, id: &MapId) -> String {
    format!("{base}/maps/{id}")
}

fn is_package_url(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.starts_with(PACKAGE_URL_PREFIX))
}

/// Points a style's package URLs (tiles, glyphs, sprites) at this server; URLs outside the
/// package are left as they are.
pub(super) fn rewrite_style(mut style: Value, map_base: &str) -> Value {
    if let Some(sources) = style.get_mut("sources").and_then(Value::as_object_mut) {
        for (name, source) in sources.iter_mut() {
            let Some(tiles) = source.get_mut("tiles").and_then(Value::as_array_mut) else {
                continue;
            };
            if !tiles.iter().any(is_package_url) {
                continue;
            }
            // The package keeps one set of tiles per source: one URL serves them all.
            let served = Value::String(format!(
                "{map_base}/tiles/{}/{{z}}/{{x}}/{{y}}",
                percent_encode(name)
            ));
            let mut rewritten = vec![served];
            rewritten.extend(tiles.iter().filter(|t| !is_package_url(t)).cloned());
            *tiles = rewritten;
        }
    }
    if let Some(glyphs) = style.get_mut("glyphs")
        && is_package_url(glyphs)
    {
        *glyphs = Value::String(format!("{map_base}/fonts/{{fontstack}}/{{range}}.pbf"));
    }
    match style.get_mut("sprite") {
        Some(sprite @ Value::String(_)) if is_package_url(sprite) => {
            *sprite = Value::String(format!("{map_base}/sprites/default"));
        }
        Some(Value::Array(sprites)) => {
            for sprite in sprites {
                let id = sprite.get("id").and_then(Value::as_str).map(percent_encode);
                if let (Some(id), Some(url)) = (id, sprite.get_mut("url"))
                    && is_package_url(url)
                {
                    *url = Value::String(format!("{map_base}/sprites/{id}"));
                }
            }
        }
        _ => {}
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAP: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn paths_parse_into_routes_and_nonsense_does_not() {
        let p = |s: &str| parse(&s.split('/').collect::<Vec<_>>());
        assert_eq!(
            p("maps/default/style.json"),
            Some(Route::Style(StyleOf::Default))
        );
        assert_eq!(
            p(&format!("maps/{MAP}/tiles/a%20b/3/2/1.png")),
            Some(Route::Tile {
                map: MAP.parse().expect("id"),
                source: "a b".into(),
                z: 3,
                x: 2,
                y: 1
            })
        );
        assert_eq!(
            p(&format!("maps/{MAP}/sprites/default@2x.png")),
            Some(Route::Sprite {
                map: MAP.parse().expect("id"),
                sprite: "default".into(),
                suffix: "@2x.png"
            })
        );
        assert!(p(&format!("maps/{MAP}/fonts/Open%20Sans/0-255.pbf")).is_some());
        assert!(p(&format!("maps/{MAP}/tiles/s/300/0/0")).is_none());
        assert!(p(&format!("maps/{MAP}/tiles/s/-1/0/0")).is_none());
        assert!(p(&format!("maps/{MAP}/tiles/s/1/99999999999/0")).is_none());
        assert!(p("maps/../style.json").is_none());
        assert!(p(&format!("maps/{MAP}/fonts/x/%FF-1.pbf")).is_none());
        assert!(p(&format!("maps/{MAP}/sprites/.png")).is_none());
        assert!(p("projects/zz/attachments/yy/original").is_none());
    }

    #[test]
    fn package_urls_in_a_style_point_at_the_server_and_others_stay() {
        let style = json!({
            "version": 8,
            "sources": {
                "s p": { "type": "raster", "tiles": ["smp://maps.v1/s/0/{z}/{x}/{y}.png"] },
                "web": { "type": "raster", "tiles": ["https://example.org/{z}/{x}/{y}.png"] }
            },
            "glyphs": "smp://maps.v1/fonts/{fontstack}/{range}.pbf.gz",
            "sprite": [{ "id": "a", "url": "smp://maps.v1/sprites/a/sprite" }],
            "layers": []
        });
        let out = rewrite_style(style, "http://127.0.0.1:1/S/maps/M");
        assert_eq!(
            out["sources"]["s p"]["tiles"],
            json!(["http://127.0.0.1:1/S/maps/M/tiles/s%20p/{z}/{x}/{y}"])
        );
        assert_eq!(
            out["sources"]["web"]["tiles"],
            json!(["https://example.org/{z}/{x}/{y}.png"])
        );
        assert_eq!(
            out["glyphs"],
            "http://127.0.0.1:1/S/maps/M/fonts/{fontstack}/{range}.pbf"
        );
        assert_eq!(
            out["sprite"][0]["url"],
            "http://127.0.0.1:1/S/maps/M/sprites/a"
        );
    }
}
