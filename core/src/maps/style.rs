//! Map styles: the built-in fallback, styles generated for MBTiles, and the package-form URLs
//! (`smp://maps.v1/…`) that name files inside a package. Must not touch files.

use serde_json::{Value, json};

use super::{Bounds, Checked, MAX_ENTRY_NAME, MapError};

/// The prefix of URLs that name a file inside a package.
pub(super) const SMP_PREFIX: &str = "smp://maps.v1/";

/// The id of the source the app fills with observations in the fallback style.
pub const OBSERVATIONS_SOURCE: &str = "observations";

/// The style shown when no map is imported or chosen: a plain background, and an empty
/// `observations` GeoJSON source (drawn as circles) that the app fills with its observations.
pub fn fallback_style() -> Value {
    json!({
        "version": 8,
        "name": "Mapeo fallback",
        "sources": {
            OBSERVATIONS_SOURCE: {
                "type": "geojson",
                "data": { "type": "FeatureCollection", "features": [] }
            }
        },
        "layers": [
            { "id": "background", "type": "background",
              "paint": { "background-color": "#e8e4d8" } },
            { "id": OBSERVATIONS_SOURCE, "type": "circle", "source": OBSERVATIONS_SOURCE,
              "paint": { "circle-radius": 6, "circle-color": "#d84b20",
                         "circle-stroke-width": 1.5, "circle-stroke-color": "#ffffff" } }
        ]
    })
}

/// The generated style of an MBTiles: one source, and for vector tiles simple fill, line and
/// circle layers per layer of the tiles' `vector_layers`, so that it shows something.
pub(super) fn mbtiles_style(
    source: &str,
    map: &Checked,
    vector: bool,
    extension: &str,
    vector_layers: &[String],
) -> Value {
    let tiles = format!("{SMP_PREFIX}s/{source}/{{z}}/{{x}}/{{y}}.{extension}");
    let b = map.bounds;
    let bounds = [b.west, b.south, b.east, b.north];
    let (name, min_zoom, max_zoom) = (&map.name, map.min_zoom, map.max_zoom);
    let mut layers = vec![json!({
        "id": "background", "type": "background",
        "paint": { "background-color": "#f4f1ea" }
    })];
    if vector {
        for layer in vector_layers {
            layers.push(json!({
                "id": format!("{layer}-fill"), "type": "fill", "source": source,
                "source-layer": layer,
                "filter": ["==", ["geometry-type"], "Polygon"],
                "paint": { "fill-color": "#c8d7a8", "fill-opacity": 0.6 }
            }));
            layers.push(json!({
                "id": format!("{layer}-line"), "type": "line", "source": source,
                "source-layer": layer,
                "filter": ["==", ["geometry-type"], "LineString"],
                "paint": { "line-color": "#6b6b6b", "line-width": 1 }
            }));
            layers.push(json!({
                "id": format!("{layer}-point"), "type": "circle", "source": source,
                "source-layer": layer,
                "filter": ["==", ["geometry-type"], "Point"],
                "paint": { "circle-color": "#3b6ea8", "circle-radius": 3 }
            }));
        }
    } else {
        layers.push(json!({ "id": source, "type": "raster", "source": source }));
    }
    json!({
        "version": 8,
        "name": name,
        "sources": {
            source: {
                "type": if vector { "vector" } else { "raster" },
                "tiles": [tiles],
                "bounds": bounds,
                "minzoom": min_zoom,
                "maxzoom": max_zoom,
                "tileSize": if vector { 512 } else { 256 },
            }
        },
        "layers": layers,
        "metadata": { "smp:bounds": bounds, "smp:maxzoom": max_zoom }
    })
}

/// The media type of an image by its magic bytes.
pub(super) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether an entry name stays inside the package: relative, `/`-separated, no `.` or `..`
/// segment, no drive letter or backslash, not too long.
pub(super) fn is_safe_path(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ENTRY_NAME
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && !name.split('/').next().is_some_and(|s| s.contains(':'))
        && name.split('/').all(|s| s != ".." && s != ".")
}

/// The entry path a package-form URL names (percent-decoded), `Ok(None)` for a URL outside
/// the package (http…), or an error for a path that would leave it.
pub(super) fn package_path(url: &str) -> Result<Option<String>, MapError> {
    let Some(rest) = url.strip_prefix(SMP_PREFIX) else {
        return Ok(None);
    };
    let decoded = percent_decode(rest).ok_or(MapError::UnsafePath)?;
    // Placeholders are not part of a real path; check the path with them filled.
    let probe = decoded
        .replace("{z}", "0")
        .replace("{x}", "0")
        .replace("{y}", "0")
        .replace("{fontstack}", "f")
        .replace("{range}", "0-255");
    if is_safe_path(&probe) {
        Ok(Some(decoded))
    } else {
        Err(MapError::UnsafePath)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A tile path template split at its `{z}`, `{x}` and `{y}` placeholders.
#[derive(Debug, Clone)]
pub(super) struct TileTemplate {
    /// Literal pieces; `parts.len() == slots.len() + 1`.
    parts: Vec<String>,
    /// Which coordinate each placeholder is: 0 = z, 1 = x, 2 = y.
    slots: Vec<usize>,
}

impl TileTemplate {
    /// Parses a template; `None` unless it has each of `{z}`, `{x}`, `{y}` exactly once.
    pub(super) fn parse(template: &str) -> Option<Self> {
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        let mut rest = template;
        loop {
            let next = ["{z}", "{x}", "{y}"]
                .iter()
                .enumerate()
                .filter_map(|(slot, p)| rest.find(p).map(|at| (at, slot)))
                .min();
            match next {
                Some((at, slot)) => {
                    parts.push(rest[..at].to_owned());
                    slots.push(slot);
                    rest = &rest[at + 3..];
                }
                None => {
                    parts.push(rest.to_owned());
                    break;
                }
            }
        }
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        (sorted == [0, 1, 2]).then_some(TileTemplate { parts, slots })
    }

    /// The path of one tile.
    pub(super) fn fill(&self, z: u8, x: u32, y: u32) -> String {
        let coords = [u64::from(z), u64::from(x), u64::from(y)];
        let mut out = self.parts[0].clone();
        for (slot, part) in self.slots.iter().zip(&self.parts[1..]) {
            out.push_str(&coords[*slot].to_string());
            out.push_str(part);
        }
        out
    }

    /// The z/x/y of a path this template names, or `None` when it names none. Coordinates are
    /// returned wide so that out-of-range values can be reported rather than wrapped.
    pub(super) fn matches(&self, path: &str) -> Option<[i64; 3]> {
        let mut rest = path.strip_prefix(self.parts[0].as_str())?;
        let mut coords = [0i64; 3];
        for (slot, part) in self.slots.iter().zip(&self.parts[1..]) {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return None;
            }
            coords[*slot] = rest[..digits].parse().ok()?;
            rest = rest[digits..].strip_prefix(part.as_str())?;
        }
        rest.is_empty().then_some(coords)
    }
}

/// Reads a number field of a JSON object as a zoom level within range.
pub(super) fn zoom_field(v: &Value, key: &str) -> Result<Option<u8>, MapError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(z) => {
            let z = z.as_f64().ok_or(MapError::InvalidMetadata)?;
            if (0.0..=f64::from(super::MAX_ZOOM)).contains(&z) {
                // Fractional zooms are legal in styles; tiles exist only at whole levels.
                Ok(Some(z.floor() as u8))
            } else {
                Err(MapError::InvalidMetadata)
            }
        }
    }
}

/// Reads `[west, south, east, north]` from a JSON array.
pub(super) fn bounds_field(v: &Value, key: &str) -> Result<Option<Bounds>, MapError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            let nums: Option<Vec<f64>> = a.iter().map(Value::as_f64).collect();
            Bounds::from_slice(&nums.ok_or(MapError::InvalidMetadata)?).map(Some)
        }
        Some(_) => Err(MapError::InvalidMetadata),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fills_and_matches_in_any_order() {
        let t = TileTemplate::parse("s/0/{z}/{x}/{y}.mvt.gz").expect("template");
        assert_eq!(t.fill(3, 5, 2), "s/0/3/5/2.mvt.gz");
        assert_eq!(t.matches("s/0/3/5/2.mvt.gz"), Some([3, 5, 2]));
        assert_eq!(t.matches("s/0/3/5/2.png"), None);
        assert_eq!(t.matches("s/1/3/5/2.mvt.gz"), None);
        let odd = TileTemplate::parse("t/{x}-{y}@{z}.png").expect("template");
        assert_eq!(odd.matches("t/4-9@30.png"), Some([30, 4, 9]));
        assert!(TileTemplate::parse("s/{z}/{x}.png").is_none());
    }

    #[test]
    fn package_paths_stay_inside() {
        assert_eq!(
            package_path("smp://maps.v1/fonts/Open%20Sans/{range}.pbf.gz").expect("ok"),
            Some("fonts/Open Sans/{range}.pbf.gz".to_owned())
        );
        assert!(package_path("smp://maps.v1/../x/{z}/{x}/{y}").is_err());
        assert!(package_path("smp://maps.v1/%2E%2E/x").is_err());
        assert!(package_path("smp://maps.v1//etc/passwd").is_err());
        assert_eq!(package_path("https://example.org/x").expect("ok"), None);
    }

    #[test]
    fn images_are_told_by_their_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"hello"), None);
    }
}
