//! Finding what the user named: a project by id, unique id prefix or name; a document by id
//! or unique id prefix; a preset by id or name; a device (member, connected peer) and an
//! invite by id or unique id prefix; a device's name.

use std::sync::Arc;

use mapeo_core::project::device_info_doc_id;
use mapeo_core::schema::{DocRef, DocType, DocValue};
use mapeo_core::{
    DeviceId, DocId, Document, Manager, Project, ProjectStatus, ProjectSummary, Query,
};

use crate::error::{CliError, CliResult};

/// Picks one project: by exact id, unique id prefix, or name (case-insensitive); with no
/// selection, the only joined project there is.
pub fn project_summary(manager: &Manager, selection: Option<&str>) -> CliResult<ProjectSummary> {
    let all = manager.list_projects()?;
    let Some(sel) = selection else {
        let joined: Vec<&ProjectSummary> = all
            .iter()
            .filter(|p| p.status == ProjectStatus::Joined)
            .collect();
        return match joined.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(CliError::BadInput(
                "this device has no project yet: create one with `mapeo project create NAME`"
                    .into(),
            )),
            _ => Err(CliError::BadInput(
                "this device has several projects: choose one with --project (id, id prefix or name)"
                    .into(),
            )),
        };
    };
    let lower = sel.to_lowercase();
    if let Some(p) = all.iter().find(|p| p.project_id.to_string() == lower) {
        return Ok(p.clone());
    }
    let by_prefix: Vec<&ProjectSummary> = all
        .iter()
        .filter(|p| !lower.is_empty() && p.project_id.to_string().starts_with(&lower))
        .collect();
    let by_name: Vec<&ProjectSummary> = all
        .iter()
        .filter(|p| {
            p.settings
                .name
                .as_deref()
                .is_some_and(|n| n.to_lowercase() == lower)
        })
        .collect();
    let mut matches = by_prefix;
    for p in by_name {
        if !matches.iter().any(|m| m.project_id == p.project_id) {
            matches.push(p);
        }
    }
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => match all.iter().find(|p| p.damaged) {
            Some(d) => Err(CliError::UnknownProjectMaybeDamaged {
                selection: sel.to_owned(),
                damaged: d.project_id.short(),
            }),
            None => Err(CliError::UnknownProject(sel.to_owned())),
        },
        many => Err(CliError::AmbiguousProject {
            selection: sel.to_owned(),
            candidates: many
                .iter()
                .map(|p| p.project_id.short())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Opens the selected project.
pub fn project(manager: &Manager, selection: Option<&str>) -> CliResult<Arc<Project>> {
    let summary = project_summary(manager, selection)?;
    Ok(manager.open_project(&summary.project_id)?)
}

/// Finds a document of `doc_type` by exact id or unique id prefix.
pub fn document(project: &Project, doc_type: DocType, selection: &str) -> CliResult<Document> {
    let unknown = || CliError::UnknownDoc {
        what: doc_type.schema_name(),
        selection: selection.to_owned(),
    };
    if let Ok(id) = selection.parse::<DocId>() {
        match project.get(&id) {
            Ok(d) if d.doc.doc_type() == doc_type => return Ok(d),
            Ok(_) => return Err(unknown()),
            Err(mapeo_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if selection.is_empty() {
        return Err(unknown());
    }
    let mut found: Vec<Document> = project
        .list(&Query::all(doc_type))?
        .into_iter()
        .filter(|d| d.doc.doc_id.as_str().starts_with(selection))
        .collect();
    match found.len() {
        0 => Err(unknown()),
        1 => Ok(found.remove(0)),
        _ => Err(CliError::AmbiguousDoc {
            what: doc_type.schema_name(),
            selection: selection.to_owned(),
        }),
    }
}

/// Finds a preset by id, unique id prefix or name (case-insensitive); returns it with a
/// reference to its current version.
pub fn preset(project: &Project, selection: &str) -> CliResult<(Document, DocRef)> {
    let lower = selection.to_lowercase();
    let presets = project.list(&Query::all(DocType::Preset))?;
    let by_name: Vec<&Document> = presets
        .iter()
        .filter(|d| matches!(&d.doc.value, DocValue::Preset(p) if p.name.to_lowercase() == lower))
        .collect();
    let chosen = match by_name.as_slice() {
        [one] => (*one).clone(),
        [] => document(project, DocType::Preset, selection).map_err(|e| match e {
            CliError::UnknownDoc { .. } => CliError::UnknownPreset {
                selection: selection.to_owned(),
                hint: if presets.is_empty() {
                    "; this project has no categories yet: import them with `mapeo categories import FILE`"
                } else {
                    " (see `mapeo categories list`)"
                },
            },
            other => other,
        })?,
        _ => {
            return Err(CliError::AmbiguousDoc {
                what: "preset",
                selection: selection.to_owned(),
            });
        }
    };
    let reference = DocRef {
        doc_id: chosen.doc.doc_id.clone(),
        version_id: chosen.version_id,
    };
    Ok((chosen, reference))
}

/// The name a device gave itself in a project, if its device info has arrived.
pub fn device_name(project: &Project, device: &DeviceId) -> Option<String> {
    match project.get(&device_info_doc_id(device)) {
        Ok(d) => match d.doc.value {
            DocValue::DeviceInfo(info) => Some(info.name),
            _ => None,
        },
        Err(_) => None,
    }
}

/// The name of the category an observation or track refers to: the preset's current name,
/// or, if the preset was deleted since (categories replaced), the name of the version it
/// referred to.
pub fn category_name(project: &Project, doc: &Document) -> Option<String> {
    let reference = match &doc.doc.value {
        DocValue::Observation(o) => o.preset_ref.as_ref(),
        DocValue::Track(t) => t.preset_ref.as_ref(),
        _ => None,
    }?;
    let name = |d: Document| match d.doc.value {
        DocValue::Preset(p) => Some(p.name),
        _ => None,
    };
    match project.get(&reference.doc_id) {
        Ok(d) => name(d),
        Err(_) => project
            .get_version(&reference.version_id)
            .ok()
            .and_then(name),
    }
}

/// A role's name as the command line shows it.
pub fn role_name(role: mapeo_core::PeerRole) -> &'static str {
    use mapeo_core::PeerRole as R;
    match role {
        R::Creator => "creator",
        R::Coordinator => "coordinator",
        R::Member => "member",
        R::Blocked => "blocked",
        R::Left => "left",
        R::NoRole => "none",
    }
}

/// Whether `selection` could be the start of a hex id (a prefix given by a person).
fn hex_prefix(selection: &str) -> Option<String> {
    let lower = selection.trim().to_lowercase();
    (!lower.is_empty() && lower.bytes().all(|b| b.is_ascii_hexdigit())).then_some(lower)
}

/// Picks the one item whose id (hex) starts with `selection`.
fn by_prefix<T: Clone>(
    items: &[T],
    id: impl Fn(&T) -> String,
    selection: &str,
    unknown: impl FnOnce() -> CliError,
    ambiguous: impl FnOnce() -> CliError,
) -> CliResult<T> {
    let Some(prefix) = hex_prefix(selection) else {
        return Err(unknown());
    };
    let found: Vec<&T> = items
        .iter()
        .filter(|i| id(i).starts_with(&prefix))
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(unknown()),
        _ => Err(ambiguous()),
    }
}

/// A device of the project's member list (left and blocked included), by id or unique id
/// prefix.
pub fn member(project: &Project, selection: &str) -> CliResult<mapeo_core::Member> {
    let members = project.members(true)?;
    by_prefix(
        &members,
        |m| m.device_id.to_string(),
        selection,
        || CliError::UnknownDevice {
            among: "member of this project",
            selection: selection.to_owned(),
            hint: " (see `mapeo members list --all`)",
        },
        || CliError::AmbiguousDevice(selection.to_owned()),
    )
}

/// A device to invite: a full device id (it may not be connected yet), or a unique id
/// prefix of a connected peer.
pub fn invitee(manager: &Manager, selection: &str) -> CliResult<DeviceId> {
    if let Ok(id) = selection.trim().parse::<DeviceId>() {
        return Ok(id);
    }
    let connected: Vec<DeviceId> = manager
        .peers()
        .into_iter()
        .filter(|p| p.connected)
        .map(|p| p.device_id)
        .collect();
    by_prefix(
        &connected,
        ToString::to_string,
        selection,
        || CliError::UnknownDevice {
            among: "connected peer",
            selection: selection.to_owned(),
            hint: "; give the full device id to wait for it to connect",
        },
        || CliError::AmbiguousDevice(selection.to_owned()),
    )
}

/// The fewest hex characters of a device id `--accept-invites-from` takes: the short form
/// every command shows (`mapeo identity`, peers, members). Fewer would let a device whose id
/// merely starts alike join unattended.
pub const MIN_INVITER_PREFIX: usize = 8;

/// A device `--accept-invites-from` names: its id or a prefix of it (at least
/// [`MIN_INVITER_PREFIX`] hex characters), matched against the inviter's id when an invite
/// arrives, as `members invite` matches a prefix against connected peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviterPrefix(String);

impl InviterPrefix {
    /// Whether an invite from `device` is one this names.
    pub fn matches(&self, device: &DeviceId) -> bool {
        device.to_string().starts_with(&self.0)
    }

    /// The hex characters given (lowercase), without any ellipsis.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it names exactly one device id (all of it).
    pub fn is_full(&self) -> bool {
        self.0.len() == 64
    }
}

impl std::fmt::Display for InviterPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_full() {
            f.write_str(&self.0)
        } else {
            write!(f, "{}…", self.0)
        }
    }
}

impl std::str::FromStr for InviterPrefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        // A short form copied with its ellipsis (`9d3e41a7…`) is still that prefix.
        let trimmed = text.trim().trim_end_matches(['…', '.']);
        let Some(prefix) = hex_prefix(trimmed) else {
            return Err(format!(
                "{text:?} is not a device id: give the id `mapeo identity` shows, or its first {MIN_INVITER_PREFIX} or more hex characters"
            ));
        };
        if prefix.len() < MIN_INVITER_PREFIX {
            return Err(format!(
                "{text:?} is too short: give at least {MIN_INVITER_PREFIX} hex characters of the device id, so no other device can match"
            ));
        }
        if prefix.len() > 64 {
            return Err(format!(
                "{text:?} is longer than a device id (64 hex characters)"
            ));
        }
        Ok(InviterPrefix(prefix))
    }
}

/// A received invite by id or unique id prefix.
pub fn received_invite(
    manager: &Manager,
    selection: &str,
) -> CliResult<mapeo_core::invites::ReceivedInvite> {
    by_prefix(
        &manager.received_invites(),
        |i| i.offer.id.to_string(),
        selection,
        || CliError::UnknownInvite(selection.to_owned()),
        || CliError::AmbiguousInvite(selection.to_owned()),
    )
}

/// An invite this device sent that is still under way, by id or unique id prefix.
pub fn sent_invite(
    manager: &Manager,
    selection: &str,
) -> CliResult<(
    mapeo_core::invites::InviteId,
    mapeo_core::manager::SentInvite,
)> {
    let sent: Vec<_> = manager.sent_invites().into_iter().collect();
    by_prefix(
        &sent,
        |(id, _)| id.to_string(),
        selection,
        || CliError::UnknownInvite(selection.to_owned()),
        || CliError::AmbiguousInvite(selection.to_owned()),
    )
}

/// A device's name: from the project's member list, else as a connected peer gave it.
pub fn any_device_name(manager: &Manager, project: Option<&Project>, device: &DeviceId) -> String {
    project
        .and_then(|p| device_name(p, device))
        .or_else(|| {
            manager
                .peers()
                .into_iter()
                .find(|p| p.device_id == *device)
                .map(|p| p.name)
        })
        .unwrap_or_else(|| device.short())
}
