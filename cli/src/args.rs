//! The command line: every command, option and example, as clap derive types. Parsing only;
//! what the commands do lives in `cmd`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::select::InviterPrefix;

/// The port `mapeo serve` listens on by default (and the one a connection code names when no
/// serve is running).
pub const DEFAULT_PORT: u16 = 47_380;
/// The address `mapeo serve --http` serves maps and media on when none is given.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:47381";
/// How long `mapeo sync` waits for every shared project to finish, by default, in seconds.
pub const DEFAULT_SYNC_TIMEOUT_SECS: u64 = 60;
/// How long `mapeo demo` waits for each step that involves the network, by default, in
/// seconds.
pub const DEFAULT_DEMO_TIMEOUT_SECS: u64 = 90;
/// How long `mapeo members invite` waits for the device to connect and answer, by default,
/// in seconds.
pub const DEFAULT_INVITE_TIMEOUT_SECS: u64 = 300;

const MAIN_EXAMPLES: &str = "\
Examples:
  mapeo demo                                  three peers on this machine, end to end
  mapeo identity                              this device's id and backup code
  mapeo project create \"Río Negro\"            a new project
  mapeo observation add --lat -3.1 --lon -60.0 --notes \"oil on the water\"
  mapeo categories import rainforest.comapeocat    categories (presets) for --preset
  mapeo observation add --lat -3.1 --lon -60.0 --preset \"River pollution\" --notes \"oil\"
  mapeo serve                                 listen, discover and sync until Ctrl-C
  mapeo sync --connect 192.168.1.20:47380     sync once with one peer
  mapeo members invite 5c1f… --role member    invite a peer connected to the running serve
  mapeo invites accept 3fa9                   accept an invite the running serve received
  mapeo export geojson --out report.geojson
  mapeo maps import territory.smp             an offline map (SMP or MBTiles) for this device

Every command takes --json for output a script can read. Errors go to stderr; the exit code
is 0 on success, 1 on an error, 2 on a usage error, 3 when a sync could not finish.";

/// mapeo — the Mapeo desktop peer: offline, peer-to-peer mapping and monitoring.
#[derive(Debug, Parser)]
#[command(name = "mapeo", version, about, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// Data folder: the identity (root key, mode 0600) and every project's store.
    /// Default: the platform's data folder for Mapeo.
    #[arg(long, global = true, env = "MAPEO_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Print machine-readable JSON (one document, or JSON lines for `serve`).
    #[arg(long, global = true)]
    pub json: bool,
    /// The project to work on: its id, a unique prefix of it, or its name. May be left out
    /// when this device has exactly one project.
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "MAPEO_PROJECT",
        value_name = "PROJECT"
    )]
    pub project: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// This device's identity: id, name, backup code; restore from a backup code.
    #[command(after_help = "Examples:
  mapeo identity
  mapeo identity set-name \"Ana's laptop\"
  mapeo --data ./restored identity restore XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX")]
    Identity(IdentityArgs),
    /// Projects: create, list, show, settings, repair, leave.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Observations: add, list and search, show, edit, delete.
    #[command(subcommand, visible_alias = "obs")]
    Observation(ObservationCommand),
    /// Tracks: import from a GPX file, list.
    #[command(subcommand)]
    Track(TrackCommand),
    /// Categories (presets, fields, icons, translations): import, list.
    #[command(subcommand)]
    Categories(CategoriesCommand),
    /// The project's members: list, invite, cancel an invite, remove, change a role.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Invites received: list, accept, reject.
    #[command(subcommand)]
    Invites(InvitesCommand),
    /// Export a project's data: GeoJSON, CSV, or a zip with media.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Offline maps of this device (SMP, MBTiles): import, list, remove, choose the default,
    /// share one with a connected device, list shares, accept or decline.
    #[command(subcommand)]
    Maps(MapsCommand),
    /// Sync by file, for devices that never meet: write a file of what the other side lacks
    /// (to carry on a memory card or send as a file), take one in, or write a have-file.
    #[command(subcommand)]
    SyncFile(SyncFileCommand),
    /// Listen, advertise, discover and sync every project until stopped (Ctrl-C).
    Serve(ServeArgs),
    /// Connect to peers and sync every shared project until done or a timeout.
    Sync(SyncArgs),
    /// This device's connection code, with a QR code, for peers that cannot discover it.
    ConnectionCode(ConnectionCodeArgs),
    /// Run the main job end to end: three peers on this machine, as separate processes.
    Demo(DemoArgs),
}

/// `mapeo identity`.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Show, restore or rename (default: show).
    #[command(subcommand)]
    pub action: Option<IdentityCommand>,
}

/// What to do with the identity.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Show the device id, name and backup code (the default).
    Show,
    /// Restore an identity from its backup code into an empty data folder.
    Restore {
        /// The backup code (case, spaces and dashes do not matter).
        code: String,
    },
    /// Set the name (and kind) other members see for this device.
    SetName {
        /// The name.
        name: String,
        /// The kind of device.
        #[arg(long = "type", value_enum, default_value_t = DeviceKind::Desktop)]
        kind: DeviceKind,
    },
    /// Emergency wipe: destroy this folder's keys at once (everything in it becomes
    /// unreadable), then delete its files. The backup code restores the identity; the data
    /// comes back from the other members at the next sync.
    Wipe {
        /// Confirm: without it nothing is done.
        #[arg(long)]
        yes: bool,
    },
}

/// Kinds of device, as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A desktop or laptop.
    Desktop,
    /// An always-on peer.
    Server,
}

/// `mapeo project`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project with this device as its creator.
    #[command(
        after_help = "Example:\n  mapeo project create \"Río Negro\" --description \"Mining watch\" --color \"#0055ff\""
    )]
    Create {
        /// The project's name.
        name: String,
        /// A description.
        #[arg(long)]
        description: Option<String>,
        /// A color, #rrggbb or #rrggbbaa.
        #[arg(long)]
        color: Option<String>,
    },
    /// List the projects on this device.
    #[command(after_help = "Example:\n  mapeo project list --json")]
    List,
    /// Show one project: settings, status, counts.
    #[command(after_help = "Examples:\n  mapeo project show\n  mapeo -p 3fa9 project show")]
    Show,
    /// Show or change the project's settings.
    #[command(
        after_help = "Examples:\n  mapeo -p Río project settings\n  mapeo -p Río project settings --name \"Río Negro 2026\" --color \"#00aa00\""
    )]
    Settings {
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// A new color, #rrggbb or #rrggbbaa.
        #[arg(long)]
        color: Option<String>,
    },
    /// Repair a project whose store is damaged: it is set aside (kept), a fresh store made,
    /// and what is still readable brought back; sync with another member for the rest.
    #[command(
        after_help = "Example:\n  mapeo project repair -p 3fa9\n  mapeo sync --connect 192.168.1.20:47380"
    )]
    Repair,
    /// Leave the project: other members' data is deleted here, your own kept.
    #[command(after_help = "Example:\n  mapeo -p \"Río Negro\" project leave --yes")]
    Leave {
        /// Confirm: leaving cannot be undone without a new invite.
        #[arg(long)]
        yes: bool,
    },
}

/// `mapeo observation`.
#[derive(Debug, Subcommand)]
pub enum ObservationCommand {
    /// Record an observation.
    #[command(after_help = "Examples:
  mapeo observation add --lat -3.4653 --lon -62.2159 --preset \"River pollution\" --notes \"oil slick\"
  mapeo observation add --lat 1 --lon 2 --tag count=5 --tag 'code=\"007\"' --tag animals='[\"otter\",\"caiman\"]'
  mapeo observation add --lat -3.4 --lon -62.2 --photo dredge.jpg --photo river.jpg --audio note.m4a

--preset names a category of the project's: a new project has none until `mapeo categories
import` (see `mapeo categories list`).

A tag value is read as JSON when it is a number, true, false, null or a list; anything
else is text. Quote it as JSON to force text. Photos and audio are recognised by their
content, not their name. Every file is checked before anything is stored: a file that is
not a photo or an audio recording stores nothing and records no observation.")]
    Add(ObservationFields),
    /// List and search observations, newest first.
    #[command(after_help = "Examples:
  mapeo observation list --limit 10
  mapeo observation list --bbox -4,-63,-3,-62 --since 2026-01-01 --text oil
  mapeo observation list --preset \"River pollution\"")]
    List(ObservationQuery),
    /// Show one observation (id or unique id prefix), with its attachments: each
    /// variant (original, preview, thumbnail) and whether it is on this device.
    #[command(after_help = "Example:\n  mapeo observation show 3f2a")]
    Show {
        /// The observation's id or a unique prefix of it.
        id: String,
    },
    /// Change an observation: only what is given changes (--photo and --audio add
    /// attachments).
    #[command(
        after_help = "Examples:\n  mapeo observation edit 3f2a --notes \"cleaned up\" --remove-tag count\n  mapeo observation edit 3f2a --photo later.jpg"
    )]
    Edit {
        /// The observation's id or a unique prefix of it.
        id: String,
        /// What to change.
        #[command(flatten)]
        fields: ObservationFields,
        /// Remove a tag (repeatable).
        #[arg(long = "remove-tag", value_name = "KEY")]
        remove_tags: Vec<String>,
    },
    /// Delete an observation.
    #[command(after_help = "Example:\n  mapeo observation delete 3f2a")]
    Delete {
        /// The observation's id or a unique prefix of it.
        id: String,
    },
    /// Save one file of an attachment (original, preview or thumbnail, by the hash
    /// `observation show` lists for it) to a file. Media are encrypted in the data folder:
    /// this, an export zip, or `serve --http` gets them out.
    #[command(after_help = "Example:\n  mapeo observation save-media 9b1c...e4 --out river.jpg")]
    SaveMedia {
        /// The file's hash (64 hex digits), as `observation show` lists it.
        hash: String,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// The fields of an observation given on the command line.
#[derive(Debug, Args, Default)]
pub struct ObservationFields {
    /// Latitude in degrees, -90 to 90.
    #[arg(long, allow_hyphen_values = true)]
    pub lat: Option<f64>,
    /// Longitude in degrees, -180 to 180.
    #[arg(long, allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// The category: a preset's name or id.
    #[arg(long)]
    pub preset: Option<String>,
    /// A tag, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Notes (stored in the `notes` tag).
    #[arg(long)]
    pub notes: Option<String>,
    /// Attach a photo, JPEG, PNG or WebP (repeatable): a preview and a thumbnail are made
    /// from it.
    #[arg(long = "photo", value_name = "FILE")]
    pub photos: Vec<PathBuf>,
    /// Attach an audio recording (repeatable).
    #[arg(long = "audio", value_name = "FILE")]
    pub audio: Vec<PathBuf>,
}

/// Filters of `observation list`.
#[derive(Debug, Args)]
pub struct ObservationQuery {
    /// Only inside SOUTH,WEST,NORTH,EAST (degrees; WEST > EAST crosses the antimeridian).
    #[arg(long, allow_hyphen_values = true, value_name = "S,W,N,E")]
    pub bbox: Option<String>,
    /// Only created at or after this time (RFC 3339, or YYYY-MM-DD in UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Only created before this time (RFC 3339, or YYYY-MM-DD in UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// Only of this category (a preset's name or id).
    #[arg(long)]
    pub preset: Option<String>,
    /// Only those whose notes or tags contain every word (prefix match).
    #[arg(long)]
    pub text: Option<String>,
    /// At most this many.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Skip this many first.
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
}

/// `mapeo track`.
#[derive(Debug, Subcommand)]
pub enum TrackCommand {
    /// Import every track of a GPX file (each `<trk>` becomes one track).
    #[command(after_help = "Example:\n  mapeo track import walk.gpx --preset Path")]
    Import {
        /// The GPX file.
        file: PathBuf,
        /// The category: a preset's name or id.
        #[arg(long)]
        preset: Option<String>,
    },
    /// List tracks, newest first.
    #[command(after_help = "Example:\n  mapeo track list --json")]
    List,
}

/// `mapeo categories`.
#[derive(Debug, Subcommand)]
pub enum CategoriesCommand {
    /// Replace the project's categories with those of a `.comapeocat` file or a folder of
    /// JSON. Everything is checked before anything is written: a failed import changes
    /// nothing.
    #[command(after_help = "Examples:
  mapeo categories import mapeo-default-config.comapeocat
  mapeo categories import ./my-categories/

Reads the CoMapeo categories format 1.0 (categories.json, categorySelection.json,
fields.json, metadata.json, icons/*.svg, translations/LANG.json) and its earlier layout
(presets.json, defaults.json); a folder may hold the same files unzipped.")]
    Import {
        /// A `.comapeocat` file or a folder.
        source: PathBuf,
    },
    /// List the project's categories with their fields, in the order the apps show them.
    #[command(after_help = "Examples:\n  mapeo categories list\n  mapeo categories list --lang es")]
    List {
        /// Show names, labels and options in this language (e.g. `es`, `pt-BR`), where the
        /// categories file translates them.
        #[arg(long)]
        lang: Option<String>,
    },
}

/// `mapeo members`.
#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// List the project's members: role, name, when they joined.
    #[command(after_help = "Examples:\n  mapeo members list\n  mapeo members list --all --json")]
    List {
        /// Also devices that left or were removed (blocked).
        #[arg(long)]
        all: bool,
    },
    /// Invite a connected device into the project with a role, and wait for its answer.
    /// Goes through the `mapeo serve` running on this data folder, which holds the
    /// connection; the device may connect after the command starts.
    #[command(after_help = "Examples:
  mapeo members invite 5c1f…e2 --role member
  mapeo members invite 5c1f --role coordinator --role-name \"Field lead\" --timeout 120

The device is a full device id (it may still connect), or a unique prefix of a connected
peer's id. Exit code 0 when the device joined (or was already in the project), 1 when it
rejected, the invite was canceled, or no answer came in time.")]
    Invite {
        /// The device to invite.
        device: String,
        /// The role it gets.
        #[arg(long, value_enum, default_value_t = GivenRole::Member)]
        role: GivenRole,
        /// A name for the role, shown to the invitee.
        #[arg(long)]
        role_name: Option<String>,
        /// What the role means, shown to the invitee.
        #[arg(long)]
        role_description: Option<String>,
        /// Seconds to wait for the device to connect and answer.
        #[arg(long, default_value_t = DEFAULT_INVITE_TIMEOUT_SECS)]
        timeout: u64,
    },
    /// Withdraw an invite this device sent that has not been answered yet.
    #[command(after_help = "Example:\n  mapeo members cancel 3fa9")]
    Cancel {
        /// The invite's id or a unique prefix (see `mapeo invites list`).
        invite: String,
    },
    /// Remove a member: its later writes are ignored everywhere and it gets nothing new.
    /// Works offline: the record spreads at the next sync.
    #[command(after_help = "Example:\n  mapeo members remove 5c1f --reason \"lost phone\"")]
    Remove {
        /// The member: device id or unique prefix (see `mapeo members list`).
        device: String,
        /// Why (kept with the record).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Change a member's role (also brings back a removed member). Works offline: the
    /// record spreads at the next sync.
    #[command(after_help = "Example:\n  mapeo members role 5c1f coordinator")]
    Role {
        /// The member: device id or unique prefix (see `mapeo members list --all`).
        device: String,
        /// The new role.
        #[arg(value_enum)]
        role: GivenRole,
        /// Why (kept with the record).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// A role a coordinator can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GivenRole {
    /// Records data; edits only its own.
    Member,
    /// Manages the project: invites, roles, categories, settings.
    Coordinator,
}

impl GivenRole {
    /// Its name on the command line and in requests.
    pub fn name(self) -> &'static str {
        match self {
            GivenRole::Member => "member",
            GivenRole::Coordinator => "coordinator",
        }
    }
}

/// `mapeo invites`.
#[derive(Debug, Subcommand)]
pub enum InvitesCommand {
    /// Invites this device received (with their state) and sent (still under way).
    #[command(after_help = "Example:\n  mapeo invites list --json")]
    List,
    /// Accept a pending invite and join its project; returns once joined. Goes through the
    /// running `mapeo serve`, which holds the inviter's connection.
    #[command(after_help = "Example:\n  mapeo invites accept 3fa9")]
    Accept {
        /// The invite's id or a unique prefix.
        invite: String,
    },
    /// Reject a pending invite.
    #[command(after_help = "Example:\n  mapeo invites reject 3fa9")]
    Reject {
        /// The invite's id or a unique prefix.
        invite: String,
    },
}

/// `mapeo maps share|shares|accept|decline`: sharing maps with connected devices.
#[derive(Debug, Subcommand)]
pub enum MapShareCommand {
    /// Offer a map to a connected device that shares a project with this one, and follow
    /// it until installed there (a progress bar on a terminal). Goes through the running
    /// `mapeo serve`, which holds the connection; stopping the command cancels the share.
    #[command(after_help = "Example:\n  mapeo maps share \"Río Negro\" 3fa9c2d1")]
    Share {
        /// The map: its id, a unique prefix of it, or its name.
        map: String,
        /// The device: its id, or a unique prefix of a connected peer's id.
        device: String,
        /// Seconds to wait for the answer and the transfer before cancelling.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Map shares offered to this device (with their state) and sent by it, with bytes.
    #[command(after_help = "Example:\n  mapeo maps shares --json")]
    Shares,
    /// Accept a map offered by a peer, and follow it until it is verified and installed.
    #[command(after_help = "Example:\n  mapeo maps accept 7c01")]
    Accept {
        /// The share's id or a unique prefix.
        share: String,
        /// Seconds to wait for the transfer before giving up on it.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Decline a map offered by a peer (or stop receiving one accepted): nothing is kept.
    #[command(after_help = "Example:\n  mapeo maps decline 7c01")]
    Decline {
        /// The share's id or a unique prefix.
        share: String,
    },
}

/// `mapeo export`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A GeoJSON FeatureCollection of tracks and observations, in the reference's shape.
    #[command(after_help = "Example:\n  mapeo export geojson --out rio.geojson")]
    Geojson(ExportArgs),
    /// A CSV table of observations, one column per tag.
    #[command(after_help = "Example:\n  mapeo export csv --out rio.csv")]
    Csv(ExportArgs),
    /// A zip: the GeoJSON, the best available file of each attachment, and a list of the
    /// attachments missing here.
    #[command(after_help = "Example:\n  mapeo export zip --out rio.zip")]
    Zip(ExportArgs),
}

/// Options of every export.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write (`-` for standard output, GeoJSON and CSV only). Default: a dated
    /// file name in the current folder.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Leave tracks out.
    #[arg(long)]
    pub no_tracks: bool,
    /// Leave observations out (those of exported tracks stay).
    #[arg(long)]
    pub no_observations: bool,
}

/// `mapeo serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mapeo serve                                  every interface, port 47380, discovery on
  mapeo serve --listen 127.0.0.1:0 --no-discovery --json
  mapeo serve --interface wlan0                discover only on the hotspot's interface
  mapeo serve --connect MP1-…                  also dial a peer by its connection code
  mapeo serve --accept-invites-from 9d3e41a7    join when that device invites (unattended)
  mapeo serve --previews-only                  fetch photo previews only, like a phone
  mapeo serve --http                           also serve maps and media on 127.0.0.1:47381

Discovery uses mDNS on every interface unless --interface names some; it is off when
listening on a loopback address (peers elsewhere could not reach it) unless --interface is
given. Invites received are printed with their id: answer them with `mapeo invites
accept|reject ID` in another terminal. Every original photo and recording is downloaded
(the archive) unless --previews-only; the choice is kept for this data folder until the
next serve or sync. Stop with Ctrl-C.")]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value_t = std::net::SocketAddr::new(IpAddr::from([0, 0, 0, 0]), DEFAULT_PORT))]
    pub listen: std::net::SocketAddr,
    /// Advertise and discover only on this interface (repeatable).
    #[arg(long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
    /// Do not advertise or discover with mDNS.
    #[arg(long)]
    pub no_discovery: bool,
    /// Also dial this peer (`host:port` or a connection code; repeatable), retrying until
    /// it answers.
    #[arg(long = "connect", value_name = "PEER")]
    pub connect: Vec<String>,
    /// Accept invites from this device without asking (repeatable): its id, or at least its
    /// first 8 hex characters (the short form peers and members lists show).
    #[arg(long = "accept-invites-from", value_name = "DEVICE")]
    pub accept_invites_from: Vec<InviterPrefix>,
    /// Download only photo previews and thumbnails from peers (a phone's choice), instead
    /// of every original photo and recording (the archive, the default).
    #[arg(long)]
    pub previews_only: bool,
    /// Also serve maps (styles, tiles, glyphs, sprites) and project media read-only over
    /// HTTP on this address (default 127.0.0.1:47381, loopback); every URL holds a secret
    /// made at start, printed with the URLs.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_HTTP_ADDR)]
    pub http: Option<std::net::SocketAddr>,
    /// Stop when standard input closes (for a parent process that runs serve).
    #[arg(long, hide = true)]
    pub stop_on_stdin_close: bool,
}

/// `mapeo maps`.
#[derive(Debug, Subcommand)]
pub enum MapsCommand {
    /// Import a map package: a Styled Map Package (`.smp`) or an MBTiles file. It is checked
    /// whole before it is kept: a bad package leaves nothing behind.
    #[command(after_help = "Examples:
  mapeo maps import territory.smp
  mapeo maps import satellite.mbtiles --json

Maps belong to this device, not to a project. Importing the same package twice keeps one.")]
    Import {
        /// The package file.
        file: PathBuf,
    },
    /// List the imported maps: name, area, zoom levels, size, format, and which is the default.
    List,
    /// Remove a map (and its file).
    #[command(after_help = "Example:\n  mapeo maps remove Territory")]
    Remove {
        /// The map: its id, a unique prefix of it, or a unique prefix of its name.
        map: String,
    },
    /// Show the default map, choose one, or go back to the built-in fallback (--clear).
    #[command(after_help = "Examples:
  mapeo maps default                show it
  mapeo maps default 3fa9           choose one
  mapeo maps default --clear        none: the fallback style")]
    Default {
        /// The map: its id, a unique prefix of it, or a unique prefix of its name.
        #[arg(conflicts_with = "clear")]
        map: Option<String>,
        /// Choose no map: apps show the built-in fallback style.
        #[arg(long)]
        clear: bool,
    },
    /// Sharing maps with connected devices.
    #[command(flatten)]
    Sharing(MapShareCommand),
}

/// `mapeo sync-file`.
#[derive(Debug, Subcommand)]
pub enum SyncFileCommand {
    /// Write a sync file of the project: its entries (sealed) and media, for another device
    /// of the project to import. Nothing in it is readable without the project's keys.
    #[command(after_help = "Examples:
  mapeo -p 3fa9 sync-file export --out /media/card/rio.mapeosync
  mapeo sync-file export --out rio.mapeosync --media previews --max-size 500MB
  mapeo sync-file export --out for-office.mapeosync --for office.have

With --max-size, media are left out, largest first, until the file fits; the ones left out
are listed. With --for, only what the device that wrote the have-file (or sync file) lacks.")]
    Export {
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Which media to carry.
        #[arg(long, value_enum, default_value_t = MediaArg::All)]
        media: MediaArg,
        /// The file's largest size: a number of bytes, or with KB, MB, GB (or KiB, MiB, GiB).
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        /// Only what the device that wrote this have-file (or sync file) lacks.
        #[arg(long = "for", value_name = "HAVE_FILE")]
        for_file: Option<PathBuf>,
    },
    /// Import a sync file: every entry is verified as in a live sync; a damaged, cut or
    /// foreign file is refused and changes nothing. Importing a file twice changes nothing.
    #[command(
        after_help = "Example:\n  mapeo sync-file import /media/card/rio.mapeosync
Then answer with `mapeo sync-file export --out reply.mapeosync --for /media/card/rio.mapeosync`."
    )]
    Import {
        /// The sync file.
        file: PathBuf,
    },
    /// Write a have-file: what this device holds of the project, for the other side's
    /// `sync-file export --for`.
    #[command(after_help = "Example:\n  mapeo sync-file have --out /media/card/office.have")]
    Have {
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Which media a sync file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MediaArg {
    /// Every photo, recording and video, with previews and thumbnails.
    All,
    /// Photo previews and thumbnails only.
    Previews,
    /// No media.
    None,
}

/// `mapeo sync`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mapeo sync --connect 192.168.43.1:47380
  mapeo sync --connect MP1-… --timeout 120
  mapeo sync --discover --interface wlan0
  mapeo sync --connect MP1-… --accept-invites-from 9d3e41a7 --timeout 300   join, then sync

Exit code 0 when every shared project is synced with every peer (the attachments this
device keeps included: every original, or previews only with --previews-only), 3 when not
in time.")]
pub struct SyncArgs {
    /// A peer: `host:port` or a connection code (repeatable).
    #[arg(long = "connect", value_name = "PEER")]
    pub connect: Vec<String>,
    /// Find peers with mDNS too.
    #[arg(long)]
    pub discover: bool,
    /// With --discover: only on this interface (repeatable).
    #[arg(long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
    /// Accept an invite from this device when it comes, join, then sync (repeatable): its
    /// id, or at least its first 8 hex characters. The sync fails (exit code 3) if no
    /// invite was accepted in time.
    #[arg(long = "accept-invites-from", value_name = "DEVICE")]
    pub accept_invites_from: Vec<InviterPrefix>,
    /// Download only photo previews and thumbnails from peers, instead of every original
    /// photo and recording (the archive, the default).
    #[arg(long)]
    pub previews_only: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = DEFAULT_SYNC_TIMEOUT_SECS)]
    pub timeout: u64,
}

/// `mapeo connection-code`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mapeo connection-code                       the addresses of this machine
  mapeo connection-code --address 10.0.2.2    for an Android emulator on this machine

The port is that of the running `mapeo serve` on this data folder, else --port, else 47380.")]
pub struct ConnectionCodeArgs {
    /// An address peers reach this device at, in order of preference (repeatable).
    /// Default: the running serve's address, else this machine's non-loopback addresses.
    #[arg(long = "address", value_name = "IP")]
    pub addresses: Vec<IpAddr>,
    /// The port, when no `mapeo serve` is running on this data folder.
    #[arg(long)]
    pub port: Option<u16>,
    /// Do not draw the QR code.
    #[arg(long)]
    pub no_qr: bool,
}

/// `mapeo demo`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  mapeo demo --keep --dir /tmp/mapeo-demo

Runs three `mapeo serve` processes on 127.0.0.1 only: no mDNS, nothing leaves this machine.")]
pub struct DemoArgs {
    /// Folder for the three peers' data and the export (default: a temporary folder,
    /// removed at the end unless --keep).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the temporary folder.
    #[arg(long)]
    pub keep: bool,
    /// Seconds to wait for each networked step.
    #[arg(long, default_value_t = DEFAULT_DEMO_TIMEOUT_SECS)]
    pub timeout: u64,
}
