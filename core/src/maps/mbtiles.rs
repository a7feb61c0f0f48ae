//! MBTiles (SQLite) packages: checks one before import, reads its tiles (stored in TMS rows,
//! served in XYZ) and gives it a generated style. Opened read-only and immutable through the
//! sealed VFS ([`super::sealed_vfs`]), so a read decrypts only the pages it touches and never
//! writes next to the file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::sealed_vfs::SealedDb;
use super::style::{self, image_type};
use super::{
    Bounds, Checked, MAX_ENTRY_SIZE, MAX_STYLE_SIZE, MAX_ZOOM, MBTILES_SOURCE, MapError,
    MapResource, lock,
};
use crate::crypto::FileKey;

const HAS_TABLES: &str = "SELECT count(*) FROM sqlite_master WHERE name IN ('tiles', 'metadata') AND type IN ('table', 'view')";
const QUICK_CHECK: &str = "PRAGMA quick_check";
const METADATA: &str = "SELECT name, value FROM metadata LIMIT 1000";
const ZOOMS: &str = "SELECT min(zoom_level), max(zoom_level) FROM tiles";
const OUT_OF_RANGE: &str = "SELECT count(*) FROM tiles WHERE zoom_level < 0 OR zoom_level > ?1 \
     OR tile_column < 0 OR tile_row < 0 \
     OR tile_column >= (1 << zoom_level) OR tile_row >= (1 << zoom_level)";
const TOO_LARGE: &str = "SELECT count(*) FROM tiles WHERE length(tile_data) > ?1";
const FIRST_TILE: &str = "SELECT tile_data FROM tiles LIMIT 1";
const TILE: &str =
    "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3";

/// What kind of tiles an MBTiles holds.
#[derive(Clone, Copy, PartialEq, Debug)]
enum TileKind {
    Png,
    Jpeg,
    Webp,
    Vector,
}

impl TileKind {
    fn from_format(format: &str) -> Option<Self> {
        match format.to_ascii_lowercase().as_str() {
            "png" => Some(TileKind::Png),
            "jpg" | "jpeg" => Some(TileKind::Jpeg),
            "webp" => Some(TileKind::Webp),
            "pbf" | "mvt" => Some(TileKind::Vector),
            _ => None,
        }
    }

    fn sniff(bytes: &[u8]) -> Option<Self> {
        match image_type(bytes) {
            Some("image/png") => Some(TileKind::Png),
            Some("image/jpeg") => Some(TileKind::Jpeg),
            Some("image/webp") => Some(TileKind::Webp),
            // Vector tiles are protobuf, usually gzipped; the store does not parse them.
            _ => Some(TileKind::Vector),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            TileKind::Png => "png",
            TileKind::Jpeg => "jpg",
            TileKind::Webp => "webp",
            TileKind::Vector => "pbf",
        }
    }
}

/// What the checks learn, also what the reader needs for its style.
struct Summary {
    checked: Checked,
    kind: TileKind,
    vector_layers: Vec<String>,
}

fn damaged(_: rusqlite::Error) -> MapError {
    MapError::Damaged
}

fn summarize(conn: &Connection, check_all: bool) -> Result<Summary, MapError> {
    let tables: i64 = conn
        .query_row(HAS_TABLES, [], |r| r.get(0))
        .map_err(damaged)?;
    if tables < 2 {
        return Err(MapError::NotAMap);
    }
    if check_all {
        let verdict: String = conn
            .query_row(QUICK_CHECK, [], |r| r.get(0))
            .map_err(damaged)?;
        if verdict != "ok" {
            return Err(MapError::Damaged);
        }
    }
    let mut metadata = HashMap::new();
    {
        let mut stmt = conn.prepare(METADATA).map_err(damaged)?;
        let mut rows = stmt.query([]).map_err(damaged)?;
        while let Some(row) = rows.next().map_err(damaged)? {
            let name: String = row.get(0).map_err(|_| MapError::InvalidMetadata)?;
            let value: String = row.get(1).map_err(|_| MapError::InvalidMetadata)?;
            if value.len() as u64 > MAX_STYLE_SIZE {
                return Err(MapError::StyleTooLarge);
            }
            metadata.insert(name, value);
        }
    }
    if check_all {
        let bad: i64 = conn
            .query_row(OUT_OF_RANGE, params![MAX_ZOOM], |r| r.get(0))
            .map_err(damaged)?;
        if bad > 0 {
            return Err(MapError::TileOutOfRange);
        }
        let big: i64 = conn
            .query_row(TOO_LARGE, params![MAX_ENTRY_SIZE as i64], |r| r.get(0))
            .map_err(damaged)?;
        if big > 0 {
            return Err(MapError::EntryTooLarge);
        }
    }
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .query_row(ZOOMS, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(damaged)?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Err(MapError::NoTiles);
    };
    let zoom = |z: i64| u8::try_from(z).ok().filter(|z| *z <= MAX_ZOOM);
    let (Some(min_zoom), Some(max_zoom)) = (zoom(lo), zoom(hi)) else {
        return Err(MapError::TileOutOfRange);
    };
    let kind = match metadata.get("format") {
        Some(f) => TileKind::from_format(f).ok_or(MapError::UnsupportedTileFormat)?,
        None => {
            let first: Vec<u8> = conn
                .query_row(FIRST_TILE, [], |r| r.get(0))
                .map_err(damaged)?;
            TileKind::sniff(&first).ok_or(MapError::UnsupportedTileFormat)?
        }
    };
    let bounds = match metadata.get("bounds") {
        Some(text) => {
            let nums: Result<Vec<f64>, _> = text.split(',').map(|s| s.trim().parse()).collect();
            Bounds::from_slice(&nums.map_err(|_| MapError::InvalidMetadata)?)?
        }
        None => Bounds::WORLD,
    };
    let vector_layers = match metadata.get("json") {
        Some(json) if kind == TileKind::Vector => {
            let v: Value = serde_json::from_str(json).map_err(|_| MapError::InvalidMetadata)?;
            v.get("vector_layers")
                .and_then(Value::as_array)
                .map(|layers| {
                    layers
                        .iter()
                        .filter_map(|l| l.get("id").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let name = metadata
        .get("name")
        .map(|n| n.chars().take(200).collect())
        .unwrap_or_else(|| "Map".to_owned());
    Ok(Summary {
        checked: Checked {
            name,
            bounds,
            min_zoom,
            max_zoom,
        },
        kind,
        vector_layers,
    })
}

/// Checks a whole sealed MBTiles: its tables, integrity, metadata, and every tile's
/// coordinates and size.
pub(super) fn check(path: &Path, key: &FileKey) -> Result<Checked, MapError> {
    let conn = SealedDb::open(path, key, CACHED_CHUNKS)?.connect()?;
    Ok(summarize(&conn, true)?.checked)
}

/// An imported MBTiles, open for reads.
pub(super) struct Reader {
    /// A few connections on one sealed file: a tile read decrypts the chunks its pages lie in
    /// (or finds them in the file's cache of decrypted chunks, shared by the connections), so
    /// reads of several clients run side by side instead of queueing on one connection.
    conns: Vec<Mutex<Connection>>,
    /// Where a read waits when every connection is busy.
    next: AtomicUsize,
    style: Value,
}

/// Connections per open MBTiles.
const READ_CONNECTIONS: usize = 4;

/// Decrypted chunks (64 KiB each) kept per open MBTiles, shared by its connections: 1 MiB.
/// Random tiles find their chunks in it in proportion to the share of the package it holds
/// (a tile of a 20 MB package decrypted 1.6 chunks with it, 1.3 with 64); tiles stored side by
/// side share chunks. Larger, it cost the server far more than its size (64: about 14 MB more
/// at its peak on an 800 MB package, from the allocator's per-thread arenas), and memory must
/// not grow with the package.
const CACHED_CHUNKS: usize = 16;

impl Reader {
    pub(super) fn open(path: &Path, key: &FileKey) -> Result<Self, MapError> {
        let db = SealedDb::open(path, key, CACHED_CHUNKS)?;
        let conn = db.connect()?;
        let s = summarize(&conn, false)?;
        let mut conns = vec![Mutex::new(conn)];
        for _ in 1..READ_CONNECTIONS {
            conns.push(Mutex::new(db.connect()?));
        }
        let style = style::mbtiles_style(
            MBTILES_SOURCE,
            &s.checked,
            s.kind == TileKind::Vector,
            s.kind.extension(),
            &s.vector_layers,
        );
        Ok(Reader {
            conns,
            next: AtomicUsize::new(0),
            style,
        })
    }

    /// A free connection, or (all busy) the next one in turn.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        for c in &self.conns {
            match c.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        lock(&self.conns[i])
    }

    pub(super) fn style(&self) -> Value {
        self.style.clone()
    }

    pub(super) fn tile(
        &self,
        source: &str,
        z: u8,
        x: u32,
        y: u32,
    ) -> Result<Option<MapResource>, MapError> {
        if source != MBTILES_SOURCE {
            return Ok(None);
        }
        // MBTiles rows count from the south (TMS); the caller asks in XYZ, from the north.
        let row = (1i64 << z) - 1 - i64::from(y);
        let conn = self.conn();
        // Prepared once per connection: a map screen asks for tiles by the dozen.
        let bytes: Option<Vec<u8>> = conn
            .prepare_cached(TILE)
            .and_then(|mut s| s.query_row(params![z, x, row], |r| r.get(0)).optional())
            .map_err(damaged)?;
        Ok(bytes.map(|b| MapResource::sniff(b, "application/x-protobuf")))
    }
}
