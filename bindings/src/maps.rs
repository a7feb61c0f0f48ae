//! Offline maps and the local map and media server as the app sees them: importing, listing
//! and removing map packages (SMP, MBTiles), choosing the default map, and the URLs a map
//! view or an image view loads — a map's style, an attachment's file, a category's icon —
//! from the device's server on `127.0.0.1`, started on first use. Every method is a core call
//! (`mapeo_core::maps`, `mapeo_core::server`) and a conversion.

use std::path::Path;

use mapeo_core::maps::{self as core_maps, MapError, MapId};
use mapeo_core::server::ServerError;

use crate::attachments::AttachmentVariant;
use crate::device::Mapeo;
use crate::documents::Attachment;
use crate::error::MapeoError;
use crate::records::project_id;
use crate::runtime::run;

/// The area a map covers, in WGS 84 degrees; `west > east` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct MapBounds {
    /// Western longitude.
    pub west: f64,
    /// Southern latitude.
    pub south: f64,
    /// Eastern longitude.
    pub east: f64,
    /// Northern latitude.
    pub north: f64,
}

/// The kind of package a map came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MapFormat {
    /// A Styled Map Package (`.smp`).
    Smp,
    /// An MBTiles file (it gets a generated style).
    MbTiles,
}

/// An imported map.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MapInfo {
    /// Its id (32 hex characters; the same package always gets the same id).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The area it covers.
    pub bounds: MapBounds,
    /// Lowest zoom level with data.
    pub min_zoom: u8,
    /// Highest zoom level with data.
    pub max_zoom: u8,
    /// Size of the package, in bytes.
    pub size: u64,
    /// The kind of package.
    pub format: MapFormat,
    /// When it was imported on this device (ms since the Unix epoch).
    pub created_at: i64,
    /// Whether it is the default map.
    pub is_default: bool,
}

/// The size an icon is drawn at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IconSize {
    /// Small (lists).
    Small,
    /// Medium.
    Medium,
    /// Large.
    Large,
}

impl From<IconSize> for mapeo_core::schema::IconSize {
    fn from(s: IconSize) -> Self {
        match s {
            IconSize::Small => Self::Small,
            IconSize::Medium => Self::Medium,
            IconSize::Large => Self::Large,
        }
    }
}

fn map_info(m: core_maps::MapInfo, default: Option<&MapId>) -> MapInfo {
    MapInfo {
        is_default: default == Some(&m.id),
        id: m.id.to_string(),
        name: m.name,
        bounds: MapBounds {
            west: m.bounds.west,
            south: m.bounds.south,
            east: m.bounds.east,
            north: m.bounds.north,
        },
        min_zoom: m.min_zoom,
        max_zoom: m.max_zoom,
        size: m.size,
        format: match m.format {
            core_maps::MapFormat::Smp => MapFormat::Smp,
            core_maps::MapFormat::MbTiles => MapFormat::MbTiles,
        },
        created_at: m.created.0,
    }
}

impl From<MapError> for MapeoError {
    fn from(e: MapError) -> Self {
        match e {
            MapError::UnknownMap => MapeoError::NotFound {
                reason: e.to_string(),
            },
            // The OS's text may name a path: its kind only.
            MapError::Io(io) => MapeoError::Storage {
                reason: format!("map storage failed ({})", io.kind()),
            },
            MapError::DamagedIndex => MapeoError::Storage {
                reason: e.to_string(),
            },
            MapError::Closed => MapeoError::closed(),
            // A package the app gave: what is wrong with it, in fixed words.
            other => MapeoError::InvalidInput {
                reason: other.to_string(),
            },
        }
    }
}

impl From<ServerError> for MapeoError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Map(m) => m.into(),
            ServerError::UnknownPreset => MapeoError::NotFound {
                reason: e.to_string(),
            },
            ServerError::ProjectUnreadable => MapeoError::Storage {
                reason: e.to_string(),
            },
            ServerError::Listen(_) | ServerError::Randomness => MapeoError::Network {
                reason: e.to_string(),
            },
        }
    }
}

fn map_id(text: &str) -> Result<MapId, MapeoError> {
    Ok(text.parse::<MapId>()?)
}

#[uniffi::export]
impl Mapeo {
    /// Imports the map package at `path` (SMP or MBTiles, told apart by content). It is
    /// checked whole first (this takes a moment for a large map: call it off the UI thread);
    /// a bad package (`InvalidInput`: not a map, damaged, too large, unsafe paths, a style
    /// that is not MapLibre version 8…) leaves nothing behind.
    pub fn import_map(&self, path: String) -> Result<MapInfo, MapeoError> {
        let maps = self.manager()?.maps()?;
        let info = maps.import_file(Path::new(&path))?;
        Ok(map_info(info, maps.default_map()?.as_ref()))
    }

    /// The imported maps, oldest first.
    pub fn maps(&self) -> Result<Vec<MapInfo>, MapeoError> {
        let maps = self.manager()?.maps()?;
        let default = maps.default_map()?;
        Ok(maps
            .list()?
            .into_iter()
            .map(|m| map_info(m, default.as_ref()))
            .collect())
    }

    /// Removes a map and its file; if it was the default, there is none afterwards.
    pub fn remove_map(&self, map_id: String) -> Result<(), MapeoError> {
        Ok(self.manager()?.maps()?.remove(&self::map_id(&map_id)?)?)
    }

    /// Chooses the map shown by default; unset: none (the built-in fallback style).
    pub fn set_default_map(&self, map_id: Option<String>) -> Result<(), MapeoError> {
        let id = map_id.as_deref().map(self::map_id).transpose()?;
        Ok(self.manager()?.maps()?.set_default(id.as_ref())?)
    }

    /// The URL of a map's MapLibre style on the device's local server; unset: the default
    /// map's, or the built-in fallback style when none is chosen. Its tiles, glyphs and
    /// sprites are served there too. The URL holds a secret made when the server started:
    /// valid until the device is closed.
    pub async fn map_style_url(&self, map_id: Option<String>) -> Result<String, MapeoError> {
        let manager = self.manager()?.clone();
        let id = map_id.as_deref().map(self::map_id).transpose()?;
        run(async move {
            let server = manager.local_server().await?;
            Ok::<_, MapeoError>(server.style_url(id.as_ref()))
        })
        .await
    }

    /// The URL of one file of an attachment on the device's local server (it answers 404
    /// until that file is on this device). Range requests work, for audio and video.
    pub async fn attachment_url(
        &self,
        project_id: String,
        attachment: Attachment,
        variant: AttachmentVariant,
    ) -> Result<String, MapeoError> {
        let manager = self.manager()?.clone();
        let project = self::project_id(&project_id)?;
        let original = attachment
            .hash
            .parse::<mapeo_core::BlobHash>()
            .map_err(|e| MapeoError::from(mapeo_core::Error::Id(e)))?;
        run(async move {
            let server = manager.local_server().await?;
            Ok::<_, MapeoError>(server.attachment_url(&project, &original, variant.into()))
        })
        .await
    }

    /// The URL of a category's (preset's) icon at a size on the device's local server; with
    /// a pixel density, its PNG at that density, else its SVG (or its smallest PNG). Unset
    /// when the category has no icon.
    pub async fn icon_url(
        &self,
        project_id: String,
        preset_doc_id: String,
        size: IconSize,
        pixel_density: Option<u8>,
    ) -> Result<Option<String>, MapeoError> {
        let manager = self.manager()?.clone();
        let project = manager.open_project(&self::project_id(&project_id)?)?;
        let preset = preset_doc_id
            .parse::<mapeo_core::DocId>()
            .map_err(|e| MapeoError::from(mapeo_core::Error::Id(e)))?;
        run(async move {
            let server = manager.local_server().await?;
            Ok::<_, MapeoError>(server.preset_icon_url(
                &project,
                &preset,
                size.into(),
                pixel_density,
            )?)
        })
        .await
    }
}
