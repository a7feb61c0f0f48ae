//! Styled Map Packages (SMP): checks a zip before import, and reads its style, tiles, glyphs
//! and sprites by random access through the zip's central directory. The zip is never
//! unpacked; only entries that are asked for are read, from any `Read + Seek` source (the
//! store's sealed reader, which decrypts only the chunks an entry lies in).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;

use serde_json::Value;
use zip::ZipArchive;
use zip::result::ZipError;

use super::style::{self, TileTemplate};
use super::{
    Bounds, COMPRESSION_RATIO_FLOOR, Checked, MAX_COMPRESSION_RATIO, MAX_ENTRIES, MAX_ENTRY_SIZE,
    MAX_STYLE_SIZE, MAX_UNPACKED_SIZE, MapError, MapResource, lock, tile_in_range,
};
use crate::sealed_file::SealedReader;

const STYLE_ENTRY: &str = "style.json";
const VERSION_ENTRY: &str = "VERSION";
/// The one major version of the SMP format this reader knows.
const SUPPORTED_MAJOR: &str = "1";
/// Max zoom the SMP specification gives GeoJSON-only packages.
const GEOJSON_MAX_ZOOM: u8 = 16;
const SPRITE_SUFFIXES: [&str; 4] = [".json", ".png", "@2x.json", "@2x.png"];

/// What the style of a package says about the files inside it.
struct PackageStyle {
    name: String,
    bounds: Bounds,
    min_zoom: u8,
    max_zoom: u8,
    tiles: HashMap<String, TileTemplate>,
    glyphs: Option<String>,
    sprites: HashMap<String, String>,
}

/// Checks a whole package: every entry's name, size, compression ratio and checksum, the style,
/// and that every tile it holds is within range.
pub(super) fn check(mut package: impl Read + Seek) -> Result<Checked, MapError> {
    // The zip reader loads the whole central directory: count its entries before it does.
    if declared_entries(&mut package)? > MAX_ENTRIES as u64 {
        return Err(MapError::TooManyEntries);
    }
    let mut zip = ZipArchive::new(package).map_err(|_| MapError::Damaged)?;
    if zip.len() > MAX_ENTRIES {
        return Err(MapError::TooManyEntries);
    }
    check_version(&mut zip)?;
    let style = read_style(&mut zip)?;
    let parsed = parse_style(&style)?;
    drop(style);
    let templates: Vec<&TileTemplate> = parsed.tiles.values().collect();
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|_| MapError::Damaged)?;
        let name = entry.name().map_err(|_| MapError::UnsafePath)?.into_owned();
        let dir = entry.is_dir();
        let bare = if dir {
            name.trim_end_matches('/')
        } else {
            &name
        };
        if !style::is_safe_path(bare) || entry.is_symlink() {
            return Err(MapError::UnsafePath);
        }
        if dir {
            continue;
        }
        check_ratio(entry.size(), entry.compressed_size())?;
        // The declared sizes may lie: count what actually comes out.
        let mut counter = Counter(0);
        io::copy(&mut (&mut entry).take(MAX_ENTRY_SIZE + 1), &mut counter)
            .map_err(|_| MapError::Damaged)?;
        let actual = counter.0;
        check_ratio(actual, entry.compressed_size())?;
        total += actual;
        if total > MAX_UNPACKED_SIZE {
            return Err(MapError::TooLarge);
        }
        for t in &templates {
            if let Some([z, x, y]) = t.matches(&name)
                && !tile_in_range(z, x, y)
            {
                return Err(MapError::TileOutOfRange);
            }
        }
    }
    Ok(Checked {
        name: parsed.name,
        bounds: parsed.bounds,
        min_zoom: parsed.min_zoom,
        max_zoom: parsed.max_zoom,
    })
}

const EOCD_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const ZIP64_LOCATOR_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
const ZIP64_EOCD_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
/// The end-of-central-directory record is 22 bytes plus a comment of at most 65535.
const EOCD_SEARCH: u64 = 22 + 65_535;

/// The number of entries the zip's end-of-central-directory record declares (its zip64 record
/// when there is one), read from the file's tail only.
fn declared_entries(file: &mut (impl Read + Seek)) -> Result<u64, MapError> {
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(EOCD_SEARCH);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let at = tail
        .windows(4)
        .rposition(|w| w == EOCD_SIGNATURE)
        .filter(|at| at + 22 <= tail.len())
        .ok_or(MapError::Damaged)?;
    let entries = u64::from(u16::from_le_bytes([tail[at + 10], tail[at + 11]]));
    if entries != 0xffff {
        return Ok(entries);
    }
    // Zip64: a 20-byte locator just before the record gives the zip64 record's offset.
    let locator = at.checked_sub(20).ok_or(MapError::Damaged)?;
    if tail[locator..locator + 4] != ZIP64_LOCATOR_SIGNATURE {
        return Err(MapError::Damaged);
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&tail[locator + 8..locator + 16]);
    let offset = u64::from_le_bytes(offset);
    if offset.checked_add(56).is_none_or(|end| end > len) {
        return Err(MapError::Damaged);
    }
    let mut record = [0u8; 56];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut record)?;
    if record[..4] != ZIP64_EOCD_SIGNATURE {
        return Err(MapError::Damaged);
    }
    let mut total = [0u8; 8];
    total.copy_from_slice(&record[32..40]);
    Ok(u64::from_le_bytes(total))
}

fn check_ratio(size: u64, compressed: u64) -> Result<(), MapError> {
    if size > MAX_ENTRY_SIZE {
        return Err(MapError::EntryTooLarge);
    }
    if size >= COMPRESSION_RATIO_FLOOR && size > compressed.saturating_mul(MAX_COMPRESSION_RATIO) {
        return Err(MapError::CompressionRatio);
    }
    Ok(())
}

fn check_version(zip: &mut ZipArchive<impl Read + Seek>) -> Result<(), MapError> {
    let mut entry = match zip.by_name(VERSION_ENTRY) {
        Ok(e) => e,
        Err(ZipError::FileNotFound) => return Ok(()),
        Err(_) => return Err(MapError::Damaged),
    };
    let mut text = String::new();
    (&mut entry)
        .take(64)
        .read_to_string(&mut text)
        .map_err(|_| MapError::UnsupportedVersion)?;
    match text.trim().split('.').next() {
        Some(SUPPORTED_MAJOR) => Ok(()),
        _ => Err(MapError::UnsupportedVersion),
    }
}

fn read_style(zip: &mut ZipArchive<impl Read + Seek>) -> Result<Value, MapError> {
    let mut entry = match zip.by_name(STYLE_ENTRY) {
        Ok(e) => e,
        Err(ZipError::FileNotFound) => return Err(MapError::MissingStyle),
        Err(_) => return Err(MapError::Damaged),
    };
    if entry.size() > MAX_STYLE_SIZE {
        return Err(MapError::StyleTooLarge);
    }
    check_ratio(entry.size(), entry.compressed_size())?;
    let mut bytes = Vec::new();
    (&mut entry)
        .take(MAX_STYLE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| MapError::Damaged)?;
    if bytes.len() as u64 > MAX_STYLE_SIZE {
        return Err(MapError::StyleTooLarge);
    }
    serde_json::from_slice(&bytes).map_err(|_| MapError::InvalidStyle("not valid JSON"))
}

fn parse_style(style: &Value) -> Result<PackageStyle, MapError> {
    if !style.is_object() {
        return Err(MapError::InvalidStyle("not a JSON object"));
    }
    if style.get("version").and_then(Value::as_u64) != Some(8) {
        return Err(MapError::StyleVersion);
    }
    let sources = style
        .get("sources")
        .and_then(Value::as_object)
        .ok_or(MapError::InvalidStyle("no sources"))?;
    if !style.get("layers").is_some_and(Value::is_array) {
        return Err(MapError::InvalidStyle("no layers"));
    }
    let mut tiles = HashMap::new();
    let mut source_bounds: Option<Bounds> = None;
    let mut min_zoom: Option<u8> = None;
    let mut max_zoom: Option<u8> = None;
    for (id, source) in sources {
        for key in ["url", "data"] {
            if let Some(url) = source.get(key).and_then(Value::as_str) {
                style::package_path(url)?;
            }
        }
        let Some(urls) = source.get("tiles").and_then(Value::as_array) else {
            continue;
        };
        for url in urls {
            let url = url
                .as_str()
                .ok_or(MapError::InvalidStyle("tile url not a string"))?;
            if let Some(path) = style::package_path(url)? {
                let template = TileTemplate::parse(&path)
                    .ok_or(MapError::InvalidStyle("tile url without {z}, {x} and {y}"))?;
                tiles.entry(id.clone()).or_insert(template);
            }
        }
        let lo = style::zoom_field(source, "minzoom")?.unwrap_or(0);
        let hi = style::zoom_field(source, "maxzoom")?.unwrap_or(GEOJSON_MAX_ZOOM.max(lo));
        if lo > hi {
            return Err(MapError::InvalidMetadata);
        }
        min_zoom = Some(min_zoom.map_or(lo, |m| m.min(lo)));
        max_zoom = Some(max_zoom.map_or(hi, |m| m.max(hi)));
        if let Some(b) = style::bounds_field(source, "bounds")? {
            source_bounds = Some(match source_bounds {
                None => b,
                Some(u) => Bounds {
                    west: u.west.min(b.west),
                    south: u.south.min(b.south),
                    east: u.east.max(b.east),
                    north: u.north.max(b.north),
                },
            });
        }
    }
    let glyphs = match style.get("glyphs") {
        Some(Value::String(url)) => style::package_path(url)?,
        None => None,
        Some(_) => return Err(MapError::InvalidStyle("glyphs not a string")),
    };
    let mut sprites = HashMap::new();
    match style.get("sprite") {
        Some(Value::String(url)) => {
            if let Some(path) = style::package_path(url)? {
                sprites.insert("default".to_owned(), path);
            }
        }
        Some(Value::Array(list)) => {
            for s in list {
                let (Some(id), Some(url)) = (
                    s.get("id").and_then(Value::as_str),
                    s.get("url").and_then(Value::as_str),
                ) else {
                    return Err(MapError::InvalidStyle("sprite without id or url"));
                };
                if let Some(path) = style::package_path(url)? {
                    sprites.insert(id.to_owned(), path);
                }
            }
        }
        None => {}
        Some(_) => return Err(MapError::InvalidStyle("sprite not a string or list")),
    }
    let metadata = style.get("metadata").cloned().unwrap_or(Value::Null);
    let bounds = style::bounds_field(&metadata, "smp:bounds")?
        .or(source_bounds)
        .unwrap_or(Bounds::WORLD);
    let min_zoom = min_zoom.unwrap_or(0);
    let max_zoom = style::zoom_field(&metadata, "smp:maxzoom")?
        .or(max_zoom)
        .unwrap_or(GEOJSON_MAX_ZOOM);
    if min_zoom > max_zoom {
        return Err(MapError::InvalidMetadata);
    }
    let name: String = style
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Map")
        .chars()
        .take(200)
        .collect();
    Ok(PackageStyle {
        name,
        bounds,
        min_zoom,
        max_zoom,
        tiles,
        glyphs,
        sprites,
    })
}

/// Bytes of a stream, counted and dropped.
struct Counter(u64);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An imported SMP, open for reads.
pub(super) struct Reader {
    zip: Mutex<ZipArchive<SealedReader<File>>>,
    tiles: HashMap<String, TileTemplate>,
    glyphs: Option<String>,
    sprites: HashMap<String, String>,
}

impl Reader {
    pub(super) fn open(package: SealedReader<File>) -> Result<Self, MapError> {
        let mut zip = ZipArchive::new(package).map_err(|_| MapError::Damaged)?;
        let parsed = parse_style(&read_style(&mut zip)?)?;
        Ok(Reader {
            zip: Mutex::new(zip),
            tiles: parsed.tiles,
            glyphs: parsed.glyphs,
            sprites: parsed.sprites,
        })
    }

    pub(super) fn style(&self) -> Result<Value, MapError> {
        read_style(&mut lock(&self.zip))
    }

    pub(super) fn tile(
        &self,
        source: &str,
        z: u8,
        x: u32,
        y: u32,
    ) -> Result<Option<MapResource>, MapError> {
        let Some(template) = self.tiles.get(source) else {
            return Ok(None);
        };
        Ok(self
            .read_entry(&template.fill(z, x, y))?
            .map(|b| MapResource::sniff(b, "application/x-protobuf")))
    }

    pub(super) fn glyphs(
        &self,
        fontstack: &str,
        range: &str,
    ) -> Result<Option<MapResource>, MapError> {
        let Some(template) = &self.glyphs else {
            return Ok(None);
        };
        let range_ok = range
            .split_once('-')
            .is_some_and(|(a, b)| is_number(a) && is_number(b));
        if !range_ok || fontstack.is_empty() || fontstack.contains('/') {
            return Ok(None);
        }
        let path = template
            .replace("{fontstack}", fontstack)
            .replace("{range}", range);
        if !style::is_safe_path(&path) {
            return Ok(None);
        }
        Ok(self
            .read_entry(&path)?
            .map(|b| MapResource::sniff(b, "application/x-protobuf")))
    }

    pub(super) fn sprite(
        &self,
        sprite_id: &str,
        suffix: &str,
    ) -> Result<Option<MapResource>, MapError> {
        let (Some(base), true) = (
            self.sprites.get(sprite_id),
            SPRITE_SUFFIXES.contains(&suffix),
        ) else {
            return Ok(None);
        };
        let fallback = if suffix.ends_with(".json") {
            "application/json"
        } else {
            "image/png"
        };
        Ok(self
            .read_entry(&format!("{base}{suffix}"))?
            .map(|b| MapResource::sniff(b, fallback)))
    }

    fn read_entry(&self, path: &str) -> Result<Option<Vec<u8>>, MapError> {
        let mut zip = lock(&self.zip);
        let mut entry = match zip.by_name(path) {
            Ok(e) => e,
            Err(ZipError::FileNotFound) => return Ok(None),
            Err(_) => return Err(MapError::Damaged),
        };
        if entry.is_dir() {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(entry.size().min(MAX_ENTRY_SIZE) as usize);
        (&mut entry)
            .take(MAX_ENTRY_SIZE)
            .read_to_end(&mut bytes)
            .map_err(|_| MapError::Damaged)?;
        Ok(Some(bytes))
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit())
}
