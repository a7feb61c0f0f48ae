//! The device's map store: imports, lists, removes and reads offline map packages (SMP and
//! MBTiles) kept in one folder, and chooses the default map. Maps belong to the device, not to
//! a project; this module knows nothing of projects, sync or the local server above it.
//!
//! Every file of the folder is sealed at rest ([`crate::sealed_file`], under the data folder's
//! map [`FileKey`]): the packages and the index that names them and their bounds. A copy of
//! the folder shows neither tiles nor styles nor where the team works. Ids, sizes and
//! listings are those of the plaintext package, so a map keeps its id on every device. Reads
//! decrypt only what they touch: an SMP is read through its zip directory over the sealed
//! reader, an MBTiles through a read-only SQLite VFS that serves its pages from the sealed
//! file ([`sealed_vfs`]). An import seals as it hashes and checks the sealed copy, so no
//! plaintext reaches the disk. Packages and indexes of versions before sealing are sealed in
//! place when the store opens (crash-safe: [`at_rest::seal_in_place`]).

mod mbtiles;
mod sealed_vfs;
mod smp;
mod style;

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde::{Deserialize, Serialize};

use crate::at_rest;
use crate::crypto::FileKey;
use crate::ids::Timestamp;
use crate::sealed_file::{self, SealedFileError, SealedReader, SealedWriter};

pub use style::fallback_style;

/// Largest map package accepted for import (bytes on disk).
pub const MAX_PACKAGE_SIZE: u64 = 8 * 1024 * 1024 * 1024;
/// Most entries an SMP may hold; the zip's directory is kept in memory, so this bounds memory.
pub const MAX_ENTRIES: usize = 500_000;
/// Largest single entry of an SMP, or single tile of an MBTiles, once uncompressed.
pub const MAX_ENTRY_SIZE: u64 = 64 * 1024 * 1024;
/// Largest total uncompressed size of an SMP's entries.
pub const MAX_UNPACKED_SIZE: u64 = 16 * 1024 * 1024 * 1024;
/// Largest ratio of uncompressed to compressed size of an SMP entry: past it is a zip bomb.
pub const MAX_COMPRESSION_RATIO: u64 = 100;
/// Entries smaller than this are not held to the compression ratio: tiny files of repeated
/// bytes legitimately compress far, and they cannot blow anything up.
pub const COMPRESSION_RATIO_FLOOR: u64 = 64 * 1024;
/// Largest `style.json` (or MBTiles metadata value); the style is parsed in memory.
pub const MAX_STYLE_SIZE: u64 = 32 * 1024 * 1024;
/// Longest entry name in an SMP, as the SMP specification allows.
pub const MAX_ENTRY_NAME: usize = 255;
/// Highest zoom level a map may have (zoom levels are `0..=MAX_ZOOM`).
pub const MAX_ZOOM: u8 = 22;

/// The purpose of the data folder's file key that seals the map store
/// ([`DataFolderKey::derive_file_key`](crate::crypto::DataFolderKey::derive_file_key)).
pub const FILE_KEY_PURPOSE: &str = "maps";

const INDEX_FILE: &str = "index.json";
const INDEX_TMP: &str = "index.json.tmp";
/// Files being imported or sealed carry this suffix until they are renamed into place.
const PART_SUFFIX: &str = ".part";
const COPY_BUFFER: usize = 64 * 1024;

/// Why a map operation failed. Bad packages each get their own variant and leave the store
/// unchanged.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The file is neither an SMP (zip) nor an MBTiles (SQLite).
    #[error("the file is not a map package")]
    NotAMap,
    /// The package is truncated or its contents do not match their checksums.
    #[error("the map package is damaged or truncated")]
    Damaged,
    /// The package, or its contents once uncompressed, exceed the size limits.
    #[error("the map package is too large")]
    TooLarge,
    /// The SMP has more entries than [`MAX_ENTRIES`].
    #[error("the map package has too many entries")]
    TooManyEntries,
    /// An entry or tile is larger than [`MAX_ENTRY_SIZE`].
    #[error("a file in the map package is too large")]
    EntryTooLarge,
    /// An entry expands beyond [`MAX_COMPRESSION_RATIO`]: a zip bomb.
    #[error("a file in the map package is compressed beyond the allowed ratio")]
    CompressionRatio,
    /// An entry or a style URL names a path outside the package.
    #[error("the map package names a path outside itself")]
    UnsafePath,
    /// The SMP has no `style.json`.
    #[error("the map package has no style")]
    MissingStyle,
    /// The style is larger than [`MAX_STYLE_SIZE`].
    #[error("the map style is too large")]
    StyleTooLarge,
    /// The style is not valid JSON or lacks what a MapLibre style needs.
    #[error("the map style is invalid: {0}")]
    InvalidStyle(&'static str),
    /// The style is not MapLibre style version 8.
    #[error("the map style is not MapLibre style version 8")]
    StyleVersion,
    /// The SMP declares a format version this device does not read.
    #[error("the map package format version is not supported")]
    UnsupportedVersion,
    /// A tile's zoom, column or row is outside the valid range.
    #[error("a tile in the map package is out of range")]
    TileOutOfRange,
    /// Bounds or zoom levels of the map are invalid.
    #[error("the map's bounds or zoom levels are invalid")]
    InvalidMetadata,
    /// The MBTiles tile format is not one this device displays.
    #[error("the map's tile format is not supported")]
    UnsupportedTileFormat,
    /// The MBTiles holds no tiles.
    #[error("the map package holds no tiles")]
    NoTiles,
    /// No map with this id is in the store.
    #[error("no such map")]
    UnknownMap,
    /// The store's index file is damaged.
    #[error("the map index is damaged")]
    DamagedIndex,
    /// The device was wiped: it has no map store any more.
    #[error("the map store is closed: the device was wiped")]
    Closed,
    /// Reading or writing the store's folder failed (full disk, permissions).
    #[error("map storage failed: {0}")]
    Io(#[from] io::Error),
}

/// The id of an imported map: the first 16 bytes of the blake3 hash of the package, in hex.
/// Importing the same package twice yields the same map.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MapId(String);

impl MapId {
    fn from_hash(hash: &blake3::Hash) -> Self {
        MapId(hex::encode(&hash.as_bytes()[..16]))
    }
}

impl fmt::Display for MapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MapId {
    type Err = MapError;
    /// Only 32 lowercase hex digits: an id is also a file name, so nothing else may pass.
    fn from_str(s: &str) -> Result<Self, MapError> {
        if s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(MapId(s.to_owned()))
        } else {
            Err(MapError::UnknownMap)
        }
    }
}

impl TryFrom<String> for MapId {
    type Error = MapError;
    fn try_from(s: String) -> Result<Self, MapError> {
        s.parse()
    }
}

impl From<MapId> for String {
    fn from(id: MapId) -> String {
        id.0
    }
}

/// The kind of package a map was imported from.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum MapFormat {
    /// A Styled Map Package: a zip with a MapLibre style and its resources.
    Smp,
    /// An MBTiles SQLite file of raster or vector tiles; it gets a generated style.
    MbTiles,
}

impl MapFormat {
    fn extension(self) -> &'static str {
        match self {
            MapFormat::Smp => "smp",
            MapFormat::MbTiles => "mbtiles",
        }
    }
}

/// The area a map covers, in WGS 84 degrees. `west > east` crosses the antimeridian.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Bounds {
    /// Western longitude.
    pub west: f64,
    /// Southern latitude.
    pub south: f64,
    /// Eastern longitude.
    pub east: f64,
    /// Northern latitude.
    pub north: f64,
}

impl Bounds {
    /// The whole Web Mercator world.
    pub const WORLD: Bounds = Bounds {
        west: -180.0,
        south: -85.051_129,
        east: 180.0,
        north: 85.051_129,
    };

    fn from_slice(v: &[f64]) -> Result<Bounds, MapError> {
        let [west, south, east, north] = v else {
            return Err(MapError::InvalidMetadata);
        };
        let b = Bounds {
            west: *west,
            south: *south,
            east: *east,
            north: *north,
        };
        let lon = -180.0..=180.0;
        let lat = -90.0..=90.0;
        if lon.contains(&b.west)
            && lon.contains(&b.east)
            && lat.contains(&b.south)
            && lat.contains(&b.north)
            && b.south <= b.north
        {
            Ok(b)
        } else {
            Err(MapError::InvalidMetadata)
        }
    }
}

/// One imported map, as listed.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct MapInfo {
    /// Its id in the store.
    pub id: MapId,
    /// Its name, from the style or the MBTiles metadata.
    pub name: String,
    /// The area it covers.
    pub bounds: Bounds,
    /// Lowest zoom level with data.
    pub min_zoom: u8,
    /// Highest zoom level with data.
    pub max_zoom: u8,
    /// Size of the package as imported, in bytes (sealed on disk, it takes 0.03% more).
    pub size: u64,
    /// The kind of package.
    pub format: MapFormat,
    /// When it was imported on this device.
    pub created: Timestamp,
}

/// A tile, glyph range or sprite file read from a map, ready to be served as is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MapResource {
    /// The bytes exactly as stored in the package.
    pub bytes: Vec<u8>,
    /// Its media type (`image/png`, `application/x-protobuf`…).
    pub content_type: &'static str,
    /// `Some("gzip")` when the bytes are gzip-compressed (vector tiles, glyphs).
    pub content_encoding: Option<&'static str>,
}

impl MapResource {
    fn sniff(bytes: Vec<u8>, fallback_type: &'static str) -> Self {
        let gzip = bytes.starts_with(&[0x1f, 0x8b]);
        let content_type = if gzip {
            "application/x-protobuf"
        } else {
            style::image_type(&bytes).unwrap_or(fallback_type)
        };
        MapResource {
            bytes,
            content_type,
            content_encoding: gzip.then_some("gzip"),
        }
    }
}

/// What a package check learns about a map besides its id and size.
struct Checked {
    name: String,
    bounds: Bounds,
    min_zoom: u8,
    max_zoom: u8,
}

#[derive(Default, Serialize, Deserialize)]
struct Index {
    default: Option<MapId>,
    maps: Vec<MapInfo>,
}

enum Reader {
    // Boxed: the zip reader and its sealed reader hold their state inline.
    Smp(Box<smp::Reader>),
    MbTiles(mbtiles::Reader),
}

/// The device's map store, over one folder (`<data dir>/maps/`): each map is a verified,
/// sealed file named by its id, listed in `index.json` (sealed too, written atomically).
pub struct MapStore {
    dir: PathBuf,
    /// Seals every file of the folder.
    key: FileKey,
    /// Serializes changes to the index (import, remove, default).
    index_lock: Mutex<()>,
    /// Open packages, so that reading many tiles does not reopen or re-parse them.
    readers: Mutex<HashMap<MapId, Arc<Reader>>>,
}

impl MapStore {
    /// Opens the store in `dir` (created if missing), whose files are sealed under `key`.
    /// Every opener of the same folder (with the same key) in this process shares one store,
    /// so that imports, removals and the default are serialized on one index and no opener
    /// sweeps away another's import in progress. The first opener removes imports that a
    /// crash interrupted and seals in place the plaintext files of versions before sealing.
    pub fn open(dir: &Path, key: FileKey) -> Result<Arc<Self>, MapError> {
        static OPEN: Mutex<Vec<(PathBuf, Weak<MapStore>)>> = Mutex::new(Vec::new());
        fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let mut open = lock(&OPEN);
        open.retain(|(_, store)| store.strong_count() > 0);
        let same_key = |s: &MapStore| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                &s.key.expose_bytes()[..],
                &key.expose_bytes()[..],
            ))
        };
        if let Some(store) = open
            .iter()
            .find(|(d, _)| *d == dir)
            .and_then(|(_, s)| s.upgrade())
            .filter(|s| same_key(s))
        {
            return Ok(store);
        }
        // A store of the folder under another key (a wiped folder made anew) is left to
        // whoever still holds it.
        open.retain(|(d, _)| *d != dir);
        let store = Arc::new(Self::open_alone(&dir, key)?);
        open.push((dir, Arc::downgrade(&store)));
        Ok(store)
    }

    fn open_alone(dir: &Path, key: FileKey) -> Result<Self, MapError> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(PART_SUFFIX) || name == INDEX_TMP {
                fs::remove_file(entry.path())?;
            }
        }
        let store = MapStore {
            dir: dir.to_owned(),
            key,
            index_lock: Mutex::new(()),
            readers: Mutex::new(HashMap::new()),
        };
        store.seal_plain_files()?;
        store.load_index()?;
        Ok(store)
    }

    /// Seals in place what versions before sealing wrote in plaintext: the index first (it
    /// names the maps and their bounds), then each package. Each file is sealed into a
    /// `.part` file that the next open sweeps, synced, and renamed over the plaintext one: a
    /// kill at any point leaves every file whole, plaintext (sealed at the next open) or
    /// sealed.
    fn seal_plain_files(&self) -> Result<(), MapError> {
        match fs::read(self.dir.join(INDEX_FILE)) {
            Ok(bytes) if !sealed_file::looks_sealed(&bytes) => {
                let index: Index =
                    serde_json::from_slice(&bytes).map_err(|_| MapError::DamagedIndex)?;
                self.save_index(&index)?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let is_package =
                name.to_str()
                    .and_then(|n| n.rsplit_once('.'))
                    .is_some_and(|(id, ext)| {
                        id.parse::<MapId>().is_ok()
                            && [MapFormat::Smp, MapFormat::MbTiles]
                                .iter()
                                .any(|f| f.extension() == ext)
                    });
            if !is_package || !entry.file_type()?.is_file() {
                continue;
            }
            let mut plain = File::open(entry.path())?;
            let mut head = Vec::with_capacity(sealed_file::HEADER_LEN);
            (&mut plain)
                .take(sealed_file::HEADER_LEN as u64)
                .read_to_end(&mut head)?;
            if sealed_file::looks_sealed(&head) {
                continue;
            }
            plain.seek(SeekFrom::Start(0))?;
            let (tmp, tmp_path) = new_part_file(&self.dir)?;
            at_rest::seal_in_place(
                &self.key,
                io::BufReader::with_capacity(COPY_BUFFER, plain),
                tmp,
                &tmp_path,
                &entry.path(),
                at_rest::Sealed::Whole { read_only: false },
            )?;
        }
        Ok(())
    }

    /// Imports the package at `path` (SMP or MBTiles, told apart by content).
    pub fn import_file(&self, path: &Path) -> Result<MapInfo, MapError> {
        self.import(File::open(path)?)
    }

    /// Imports a package read from `source`: sealed while hashed into a temporary file in the
    /// store's folder, checked there through the sealed reader, then renamed. Any failure
    /// removes the temporary file; no plaintext of the package is ever written.
    /// Importing a package already in the store returns the map already there. When no map is
    /// the default, the imported one becomes it: a team that imports (or is sent) a map
    /// expects to see it, not the blank fallback, without a second step.
    pub fn import(&self, mut source: impl Read) -> Result<MapInfo, MapError> {
        let part = PartFile::create(&self.dir)?;
        let mut hasher = blake3::Hasher::new();
        let mut size: u64 = 0;
        let mut head = Vec::with_capacity(16);
        {
            // The writer seals whole chunks: it buffers them itself.
            let mut out = SealedWriter::new(&self.key, &part.file)?;
            let mut buf = vec![0u8; COPY_BUFFER];
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                size += n as u64;
                if size > MAX_PACKAGE_SIZE {
                    return Err(MapError::TooLarge);
                }
                if head.len() < 16 {
                    let take = (16 - head.len()).min(n);
                    head.extend_from_slice(&buf[..take]);
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])?;
            }
            out.finish()?;
        }
        part.file.sync_all()?;
        let format = sniff_format(&head).ok_or(MapError::NotAMap)?;
        let checked = match format {
            MapFormat::Smp => smp::check(self.open_sealed(&part.path)?)?,
            MapFormat::MbTiles => mbtiles::check(&part.path, &self.key)?,
        };
        let id = MapId::from_hash(&hasher.finalize());

        let _guard = lock(&self.index_lock);
        let mut index = self.load_index()?;
        if let Some(existing) = index.maps.iter().find(|m| m.id == id) {
            return Ok(existing.clone());
        }
        let info = MapInfo {
            id: id.clone(),
            name: checked.name,
            bounds: checked.bounds,
            min_zoom: checked.min_zoom,
            max_zoom: checked.max_zoom,
            size,
            format,
            created: Timestamp::now(),
        };
        let final_path = self.map_path(&id, format);
        part.persist(&final_path)?;
        index.maps.push(info.clone());
        if index.default.is_none() {
            index.default = Some(id);
        }
        if let Err(e) = self.save_index(&index) {
            // The index is the record: a file it does not list must not stay behind.
            let _ = fs::remove_file(&final_path);
            return Err(e);
        }
        Ok(info)
    }

    /// The imported maps, oldest first.
    pub fn list(&self) -> Result<Vec<MapInfo>, MapError> {
        Ok(self.load_index()?.maps)
    }

    /// One imported map.
    pub fn get(&self, id: &MapId) -> Result<MapInfo, MapError> {
        self.load_index()?
            .maps
            .into_iter()
            .find(|m| &m.id == id)
            .ok_or(MapError::UnknownMap)
    }

    /// A map's package as imported, byte for byte (to send it to another device), decrypted
    /// as it is read, with its listing. Its length is checked here; damage found later comes
    /// as an I/O error ([`sealed_file::is_damage`]).
    pub fn open_package(&self, id: &MapId) -> Result<(MapPackage, MapInfo), MapError> {
        let info = self.get(id)?;
        let reader = self.open_sealed(&self.map_path(id, info.format))?;
        if reader.len() != info.size {
            return Err(MapError::Damaged);
        }
        Ok((MapPackage(reader), info))
    }

    /// Removes a map and its file; if it was the default, there is no default afterwards.
    pub fn remove(&self, id: &MapId) -> Result<(), MapError> {
        let _guard = lock(&self.index_lock);
        let mut index = self.load_index()?;
        let pos = index
            .maps
            .iter()
            .position(|m| &m.id == id)
            .ok_or(MapError::UnknownMap)?;
        let info = index.maps.remove(pos);
        if index.default.as_ref() == Some(id) {
            index.default = None;
        }
        self.save_index(&index)?;
        lock(&self.readers).remove(id);
        match fs::remove_file(self.map_path(id, info.format)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Chooses the map shown by default, or none (`None`: the fallback style).
    pub fn set_default(&self, id: Option<&MapId>) -> Result<(), MapError> {
        let _guard = lock(&self.index_lock);
        let mut index = self.load_index()?;
        if let Some(id) = id
            && !index.maps.iter().any(|m| &m.id == id)
        {
            return Err(MapError::UnknownMap);
        }
        index.default = id.cloned();
        self.save_index(&index)
    }

    /// The default map, if one is chosen.
    pub fn default_map(&self) -> Result<Option<MapId>, MapError> {
        Ok(self.load_index()?.default)
    }

    /// The style to show: the default map's, or the built-in fallback when there is none.
    pub fn default_style(&self) -> Result<serde_json::Value, MapError> {
        match self.default_map()? {
            Some(id) => self.style(&id),
            None => Ok(fallback_style()),
        }
    }

    /// A map's MapLibre style, with resource URLs still in package form (`smp://maps.v1/…`):
    /// whoever serves the map rewrites them. An MBTiles gets a generated style whose one
    /// source is named [`MBTILES_SOURCE`].
    pub fn style(&self, id: &MapId) -> Result<serde_json::Value, MapError> {
        match &*self.reader(id)? {
            Reader::Smp(r) => r.style(),
            Reader::MbTiles(r) => Ok(r.style()),
        }
    }

    /// A tile of `source` at XYZ coordinates; `None` when the map has no such tile or the
    /// coordinates are out of range.
    pub fn tile(
        &self,
        id: &MapId,
        source: &str,
        z: u8,
        x: u32,
        y: u32,
    ) -> Result<Option<MapResource>, MapError> {
        if !tile_in_range(i64::from(z), i64::from(x), i64::from(y)) {
            return Ok(None);
        }
        match &*self.reader(id)? {
            Reader::Smp(r) => r.tile(source, z, x, y),
            Reader::MbTiles(r) => r.tile(source, z, x, y),
        }
    }

    /// A glyph range (`0-255`, `256-511`…) of a font stack; `None` when the map has none.
    pub fn glyphs(
        &self,
        id: &MapId,
        fontstack: &str,
        range: &str,
    ) -> Result<Option<MapResource>, MapError> {
        match &*self.reader(id)? {
            Reader::Smp(r) => r.glyphs(fontstack, range),
            Reader::MbTiles(_) => Ok(None),
        }
    }

    /// A sprite file: `sprite_id` is `default` for a style whose `sprite` is one URL, else the
    /// id in its sprite array; `suffix` is `.json`, `.png`, `@2x.json` or `@2x.png`.
    pub fn sprite(
        &self,
        id: &MapId,
        sprite_id: &str,
        suffix: &str,
    ) -> Result<Option<MapResource>, MapError> {
        match &*self.reader(id)? {
            Reader::Smp(r) => r.sprite(sprite_id, suffix),
            Reader::MbTiles(_) => Ok(None),
        }
    }

    fn reader(&self, id: &MapId) -> Result<Arc<Reader>, MapError> {
        if let Some(r) = lock(&self.readers).get(id) {
            return Ok(r.clone());
        }
        let info = self.get(id)?;
        let path = self.map_path(id, info.format);
        let reader = Arc::new(match info.format {
            MapFormat::Smp => Reader::Smp(Box::new(smp::Reader::open(self.open_sealed(&path)?)?)),
            MapFormat::MbTiles => Reader::MbTiles(mbtiles::Reader::open(&path, &self.key)?),
        });
        lock(&self.readers).insert(id.clone(), reader.clone());
        Ok(reader)
    }

    fn map_path(&self, id: &MapId, format: MapFormat) -> PathBuf {
        self.dir.join(format!("{id}.{}", format.extension()))
    }

    /// Opens a sealed file of the store for reading, its length authenticated.
    fn open_sealed(&self, path: &Path) -> Result<SealedReader<File>, MapError> {
        let mut reader = SealedReader::open(&self.key, File::open(path)?).map_err(damaged)?;
        reader.verify_len().map_err(damaged)?;
        Ok(reader)
    }

    fn load_index(&self) -> Result<Index, MapError> {
        let file = match File::open(self.dir.join(INDEX_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(e.into()),
        };
        let index_error = |e: SealedFileError| match e {
            SealedFileError::Io(e) => MapError::Io(e),
            _ => MapError::DamagedIndex,
        };
        let mut reader = SealedReader::open(&self.key, file).map_err(index_error)?;
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| index_error(e.into()))?;
        serde_json::from_slice(&bytes).map_err(|_| MapError::DamagedIndex)
    }

    fn save_index(&self, index: &Index) -> Result<(), MapError> {
        let tmp = self.dir.join(INDEX_TMP);
        let bytes = serde_json::to_vec_pretty(index).map_err(|_| MapError::DamagedIndex)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let how = at_rest::Sealed::Whole { read_only: false };
        at_rest::seal_in_place(
            &self.key,
            &bytes[..],
            file,
            &tmp,
            &self.dir.join(INDEX_FILE),
            how,
        )?;
        Ok(())
    }
}

/// A sealed file that does not open is damaged, unless the disk failed.
fn damaged(e: SealedFileError) -> MapError {
    match e {
        SealedFileError::Io(e) => MapError::Io(e),
        SealedFileError::NotSealed
        | SealedFileError::UnsupportedVersion
        | SealedFileError::Damaged => MapError::Damaged,
    }
}

/// A map's package opened for reading ([`MapStore::open_package`]): `Read + Seek` over the
/// bytes as imported, decrypting only the chunks a read covers. A chunk that does not
/// authenticate fails the read; wrong bytes are never returned.
pub struct MapPackage(SealedReader<File>);

impl fmt::Debug for MapPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MapPackage({} bytes)", self.0.len())
    }
}

impl MapPackage {
    /// The package's size in bytes.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether the package is empty (never, for an imported map).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Read for MapPackage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Seek for MapPackage {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.0.seek(to)
    }
}

/// The source name of the generated style of an MBTiles map.
pub const MBTILES_SOURCE: &str = "mbtiles";

/// A file being imported; removed on drop unless persisted.
struct PartFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl PartFile {
    fn create(dir: &Path) -> Result<Self, MapError> {
        let (file, path) = new_part_file(dir)?;
        Ok(PartFile {
            path,
            file,
            kept: false,
        })
    }

    fn persist(mut self, to: &Path) -> Result<(), MapError> {
        fs::rename(&self.path, to)?;
        self.kept = true;
        if let Some(dir) = to.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// A new, empty `.part` file in `dir` (swept when the store opens).
fn new_part_file(dir: &Path) -> Result<(File, PathBuf), MapError> {
    let mut rand = [0u8; 8];
    getrandom::fill(&mut rand).map_err(|_| io::Error::other("no randomness"))?;
    let path = dir.join(format!(".import-{}{PART_SUFFIX}", hex::encode(rand)));
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((file, path))
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // A rename is durable only once its folder is; some platforms cannot open a folder.
    match File::open(dir) {
        Ok(d) => d.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

fn sniff_format(head: &[u8]) -> Option<MapFormat> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(MapFormat::Smp)
    } else if head.starts_with(b"SQLite format 3\0") {
        Some(MapFormat::MbTiles)
    } else {
        None
    }
}

/// Whether z/x/y name a tile of the XYZ (or TMS) grid within `0..=MAX_ZOOM`.
fn tile_in_range(z: i64, x: i64, y: i64) -> bool {
    (0..=i64::from(MAX_ZOOM)).contains(&z)
        && (0..1i64 << z).contains(&x)
        && (0..1i64 << z).contains(&y)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps or the unit guard half-changed.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_id_accepts_only_its_own_form() {
        assert!("0123456789abcdef0123456789abcdef".parse::<MapId>().is_ok());
        assert!("../../etc/passwd".parse::<MapId>().is_err());
        assert!("0123456789ABCDEF0123456789ABCDEF".parse::<MapId>().is_err());
    }

    #[test]
    fn tile_range_follows_the_zoom() {
        assert!(tile_in_range(0, 0, 0));
        assert!(!tile_in_range(0, 1, 0));
        assert!(tile_in_range(3, 7, 7));
        assert!(!tile_in_range(3, 8, 0));
        assert!(!tile_in_range(23, 0, 0));
        assert!(!tile_in_range(-1, 0, 0));
    }
}
