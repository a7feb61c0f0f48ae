//! `mapeo maps`: import a map package (with a progress bar), list, remove and choose the
//! default map of this device; and the URLs `mapeo serve --http` prints. Checking, storing
//! and serving are the core's (`mapeo_core::maps`, `mapeo_core::server`); this parses the
//! command line, calls it and renders the result.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use mapeo_core::Manager;
use mapeo_core::maps::{MapError, MapFormat, MapId, MapInfo, MapStore};
use mapeo_core::server::LocalServer;
use serde_json::{Value, json};

use crate::args::MapsCommand;
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, iso, table};

/// Runs a maps command.
pub fn run(dir: &Path, cmd: MapsCommand, json: bool) -> CliResult<Output> {
    match cmd {
        MapsCommand::Sharing(share) => super::map_share::run(dir, share, json),
        MapsCommand::Import { file } => {
            let home = Home::open(dir, Access::Write)?;
            let maps = store(&home.manager)?;
            import(&maps, &file)
        }
        MapsCommand::List => {
            let home = Home::open(dir, Access::Read)?;
            list(&*store(&home.manager)?)
        }
        MapsCommand::Remove { map } => {
            let home = Home::open(dir, Access::Write)?;
            let maps = store(&home.manager)?;
            let info = select(&maps, &map)?;
            maps.remove(&info.id).map_err(|e| error(e, &map))?;
            Ok(Output::new(
                json!({ "removed": map_json(&info, false) }),
                format!("Removed {} ({}).", info.name, short(&info.id)),
            ))
        }
        MapsCommand::Default { map, clear } => {
            let access = if map.is_some() || clear {
                Access::Write
            } else {
                Access::Read
            };
            let home = Home::open(dir, access)?;
            let maps = store(&home.manager)?;
            if clear {
                maps.set_default(None).map_err(|e| error(e, ""))?;
            } else if let Some(selection) = &map {
                let info = select(&maps, selection)?;
                maps.set_default(Some(&info.id))
                    .map_err(|e| error(e, selection))?;
            }
            show_default(&maps)
        }
    }
}

fn store(manager: &Manager) -> CliResult<Arc<MapStore>> {
    manager.maps().map_err(|e| error(e, ""))
}

/// The core's error, as the CLI reports it: an unknown map is not found; a refused package
/// changed nothing.
fn error(e: MapError, selection: &str) -> CliError {
    match e {
        MapError::UnknownMap => CliError::UnknownDoc {
            what: "map",
            selection: selection.to_owned(),
        },
        other => CliError::BadInput(format!("maps: {other}")),
    }
}

fn import(maps: &MapStore, path: &Path) -> CliResult<Output> {
    let file = File::open(path).map_err(|e| CliError::file("cannot read", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| CliError::file("cannot read", path, e))?
        .len();
    // indicatif draws on stderr, and nothing when it is not a terminal.
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("Importing");
    let result = maps.import(bar.wrap_read(file));
    bar.finish_and_clear();
    let info = result.map_err(|e| match e {
        MapError::Io(io) => CliError::file("cannot import", path, io),
        other => CliError::BadInput(format!("map not imported, nothing changed: {other}")),
    })?;
    let default = maps.default_map().map_err(|e| error(e, ""))?.as_ref() == Some(&info.id);
    Ok(Output::new(
        json!({ "imported": map_json(&info, default) }),
        format!(
            "Imported {} ({}): {}, zoom {}–{}, {}. {}",
            info.name,
            short(&info.id),
            format_name(info.format),
            info.min_zoom,
            info.max_zoom,
            HumanBytes(info.size),
            if default {
                "It is the default map.".to_owned()
            } else {
                format!("Choose it with `mapeo maps default {}`.", short(&info.id))
            }
        ),
    ))
}

fn list(maps: &MapStore) -> CliResult<Output> {
    let all = maps.list().map_err(|e| error(e, ""))?;
    let default = maps.default_map().map_err(|e| error(e, ""))?;
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|m| {
            let b = m.bounds;
            vec![
                short(&m.id),
                m.name.clone(),
                format_name(m.format).to_owned(),
                format!("{}–{}", m.min_zoom, m.max_zoom),
                format!("{:.2},{:.2},{:.2},{:.2}", b.west, b.south, b.east, b.north),
                HumanBytes(m.size).to_string(),
                if default.as_ref() == Some(&m.id) {
                    "yes".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let text = if all.is_empty() {
        "No maps: import one with `mapeo maps import FILE` (SMP or MBTiles).".to_owned()
    } else {
        table(
            &["ID", "NAME", "FORMAT", "ZOOM", "BOUNDS", "SIZE", "DEFAULT"],
            &rows,
        )
    };
    Ok(Output::new(
        json!({
            "count": all.len(),
            "default": default.as_ref().map(ToString::to_string),
            "maps": all
                .iter()
                .map(|m| map_json(m, default.as_ref() == Some(&m.id)))
                .collect::<Vec<_>>(),
        }),
        text,
    ))
}

fn show_default(maps: &MapStore) -> CliResult<Output> {
    match maps.default_map().map_err(|e| error(e, ""))? {
        Some(id) => {
            let info = maps.get(&id).map_err(|e| error(e, ""))?;
            Ok(Output::new(
                json!({ "default": map_json(&info, true) }),
                format!("Default map: {} ({}).", info.name, short(&info.id)),
            ))
        }
        None => Ok(Output::new(
            json!({ "default": null }),
            "No default map: apps show the built-in fallback style.",
        )),
    }
}

/// Picks one map: by exact id, unique id prefix, or unique prefix of its name
/// (case-insensitive).
fn select(maps: &MapStore, selection: &str) -> CliResult<MapInfo> {
    let all = maps.list().map_err(|e| error(e, selection))?;
    let lower = selection.to_lowercase();
    if let Some(m) = all.iter().find(|m| m.id.to_string() == lower) {
        return Ok(m.clone());
    }
    let matches: Vec<&MapInfo> = all
        .iter()
        .filter(|m| {
            !lower.is_empty()
                && (m.id.to_string().starts_with(&lower)
                    || m.name.to_lowercase().starts_with(&lower))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::UnknownDoc {
            what: "map",
            selection: selection.to_owned(),
        }),
        _ => Err(CliError::AmbiguousDoc {
            what: "map",
            selection: selection.to_owned(),
        }),
    }
}

fn short(id: &MapId) -> String {
    id.to_string().chars().take(8).collect()
}

fn format_name(f: MapFormat) -> &'static str {
    match f {
        MapFormat::Smp => "smp",
        MapFormat::MbTiles => "mbtiles",
    }
}

fn map_json(m: &MapInfo, default: bool) -> Value {
    let b = m.bounds;
    json!({
        "id": m.id.to_string(),
        "name": m.name,
        "bounds": [b.west, b.south, b.east, b.north],
        "minZoom": m.min_zoom,
        "maxZoom": m.max_zoom,
        "size": m.size,
        "format": format_name(m.format),
        "created": iso(m.created),
        "default": default,
    })
}

/// Starts the read-only map and media server of `mapeo serve --http` and says what it serves:
/// the style URL of the default map, of the fallback and of each map, and the media prefix
/// of each project. The server stops when the returned handle is dropped.
pub async fn serve_http(
    manager: &Arc<Manager>,
    addr: SocketAddr,
) -> CliResult<(LocalServer, Value, String)> {
    let server = manager
        .serve_http(addr)
        .await
        .map_err(|e| CliError::Network(format!("cannot serve maps on {addr}: {e}")))?;
    let maps = store(manager)?.list().map_err(|e| error(e, ""))?;
    let projects = manager.list_projects()?;
    let mut rows = vec![
        ("default style".to_owned(), server.style_url(None)),
        ("fallback style".to_owned(), server.fallback_style_url()),
    ];
    rows.extend(
        maps.iter()
            .map(|m| (format!("map {}", m.name), server.style_url(Some(&m.id)))),
    );
    rows.extend(projects.iter().map(|p| {
        let name = p.settings.name.as_deref().unwrap_or("(unnamed)");
        (
            format!("media of {name}"),
            server.media_base_url(&p.project_id),
        )
    }));
    let width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = format!(
        "Maps and media on {} (read-only; the URLs hold this start's secret):",
        server.address()
    );
    for (label, url) in &rows {
        text.push_str(&format!("\n  {label:<width$}  {url}"));
    }
    let json = json!({
        "address": server.address().to_string(),
        "base": server.base_url(),
        "defaultStyle": server.style_url(None),
        "fallbackStyle": server.fallback_style_url(),
        "maps": maps.iter().map(|m| json!({
            "id": m.id.to_string(),
            "name": m.name,
            "style": server.style_url(Some(&m.id)),
        })).collect::<Vec<_>>(),
        "media": projects.iter().map(|p| json!({
            "projectId": p.project_id.to_string(),
            "base": server.media_base_url(&p.project_id),
        })).collect::<Vec<_>>(),
    });
    Ok((server, json, text))
}
