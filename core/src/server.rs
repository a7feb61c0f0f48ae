//! The local map and media server: one HTTP/1.1 server per start, on an address the caller
//! picks (`127.0.0.1`, port 0, on a phone), that native map views and web views load from.
//! It serves each map's style (its URLs rewritten to the server), tiles, glyphs and sprites
//! from the map store, and the media of every project it is given — attachment variants and
//! category icons, drawn as PNG from their SVG for phones that read no SVG — read-only.
//! Every URL starts with a secret made at start (32 random bytes, hex), compared in constant
//! time; a wrong secret gets the same 404 as anything missing, so other apps on the device
//! cannot read through the port.
//!
//! A layer above `maps`, `attachments` and `project`: nothing below knows it exists. It does
//! not know the manager either: whoever starts it hands it the map store and a
//! [`ProjectMedia`] that yields the projects whose media may be served.

mod icons;
mod respond;
mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ids::{BlobHash, DocId, ProjectId};
use crate::maps::{MapError, MapId, MapStore};
use crate::project::Project;
use crate::schema::{DocValue, IconSize, Variant};

pub use icons::{
    DRAWN_ICON_CACHE_BYTES, LARGE_ICON_SIDE, MAX_DRAWN_ICON_PIXELS, MAX_DRAWN_SVG_BYTES,
    MAX_DRAWN_SVG_NODES, MAX_ICON_DENSITY, MEDIUM_ICON_SIDE, SMALL_ICON_SIDE, icon_side,
};
pub use respond::{BlobBody, Body, STREAM_CHUNK};

/// Random bytes in the secret that starts every URL.
pub const SECRET_BYTES: usize = 32;
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 128;
/// Longest a client may take to send a request's headers (also how long an idle kept-alive
/// connection stays open).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the server may take to find what a request names and start answering.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest request path read; longer ones get 404.
pub const MAX_PATH_LEN: usize = 4096;
/// Largest buffer for a request's head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Pause after a failed accept (no file descriptors left), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the address failed (in use, not allowed).
    #[error("the local server could not listen ({0})")]
    Listen(std::io::ErrorKind),
    /// The system gave no randomness for the secret.
    #[error("no randomness for the local server's secret")]
    Randomness,
    /// Opening the map store failed.
    #[error(transparent)]
    Map(#[from] MapError),
    /// No preset with that id in the project (for an icon URL).
    #[error("no such preset")]
    UnknownPreset,
    /// The project's store could not be read (for an icon URL).
    #[error("the project could not be read")]
    ProjectUnreadable,
}

/// The projects whose media the server may serve. Implemented where projects are owned (the
/// manager); the server asks on every request, so a project left a moment ago is no longer
/// served.
pub trait ProjectMedia: Send + Sync + 'static {
    /// The project with this id, if its media may be served now: `None` for one unknown
    /// here, left, or damaged.
    fn project(&self, id: &ProjectId) -> Option<Arc<Project>>;
}

/// What every request needs.
struct Shared {
    secret: String,
    /// `http://host:port/secret`, for styles; `None` when bound to an unspecified address
    /// (`0.0.0.0`), where the client's `Host` says which address reached us.
    base: Option<String>,
    sources: routes::Sources,
}

/// Longest [`LocalServer::stop`] waits for the listener to close.
pub const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A running server. Dropping it stops it: the listener closes and open connections end.
pub struct LocalServer {
    addr: SocketAddr,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is the access: never in logs.
        write!(f, "LocalServer({})", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalServer {
    /// Stops the server and returns once its listener is closed (dropping it only asks the
    /// runtime to stop it, which finishes a moment later on a worker thread), waiting at
    /// most [`STOP_WAIT`].
    pub async fn stop(&self) {
        self.task.abort();
        let until = tokio::time::Instant::now() + STOP_WAIT;
        while !self.task.is_finished() && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Starts a server on `addr` (port 0: any free port) with a fresh secret, serving the
    /// maps of `maps` and the media of the projects `media` yields. Must be called within a
    /// tokio runtime, where the server then runs.
    pub async fn start(
        addr: SocketAddr,
        maps: Arc<MapStore>,
        media: Arc<dyn ProjectMedia>,
    ) -> Result<LocalServer, ServerError> {
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|_| ServerError::Randomness)?;
        let secret = hex::encode(secret);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| ServerError::Listen(e.kind()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Listen(e.kind()))?;
        let base = format!("http://{addr}/{secret}");
        let shared = Arc::new(Shared {
            secret,
            base: (!addr.ip().is_unspecified()).then(|| base.clone()),
            sources: routes::Sources {
                maps,
                media,
                drawn: Default::default(),
            },
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Ok(LocalServer { addr, base, task })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// `http://address:port/secret`: the prefix of every URL it serves. Secret: give it only
    /// to what should read maps and media.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The style URL of a map, or with `None` of the default map (the fallback style when no
    /// map is chosen): what a MapLibre view loads.
    pub fn style_url(&self, map: Option<&MapId>) -> String {
        match map {
            Some(id) => format!("{}/maps/{id}/style.json", self.base),
            None => format!("{}/maps/{}/style.json", self.base, routes::DEFAULT_MAP),
        }
    }

    /// The style URL of the built-in fallback style.
    pub fn fallback_style_url(&self) -> String {
        format!("{}/maps/{}/style.json", self.base, routes::FALLBACK_MAP)
    }

    /// The URL prefix of a project's media.
    pub fn media_base_url(&self, project: &ProjectId) -> String {
        format!("{}/projects/{project}", self.base)
    }

    /// The URL of one variant of an attachment, named by the hash of its original (the
    /// attachment's `hash`). It answers 404 until that variant is on this device.
    pub fn attachment_url(
        &self,
        project: &ProjectId,
        original: &BlobHash,
        variant: Variant,
    ) -> String {
        let variant = match variant {
            Variant::Original => "original",
            Variant::Preview => "preview",
            Variant::Thumbnail => "thumbnail",
        };
        format!(
            "{}/attachments/{original}/{variant}",
            self.media_base_url(project)
        )
    }

    /// The URL of an icon at a size: with a pixel density, its PNG at that density (drawn
    /// from its SVG, [`icon_side`] pixels square, when it has no such PNG); without, its SVG
    /// if it has one, else its PNG of the lowest density.
    pub fn icon_url(
        &self,
        project: &ProjectId,
        icon: &DocId,
        size: IconSize,
        pixel_density: Option<u8>,
    ) -> String {
        let size = routes::icon_size_name(size);
        let file = match pixel_density {
            Some(d) => format!("{size}@{d}x.png"),
            None => size.to_owned(),
        };
        format!("{}/icons/{icon}/{file}", self.media_base_url(project))
    }

    /// The URL of a preset's icon at a size (see [`LocalServer::icon_url`]); `None` when the
    /// preset has no icon.
    pub fn preset_icon_url(
        &self,
        project: &Project,
        preset: &DocId,
        size: IconSize,
        pixel_density: Option<u8>,
    ) -> Result<Option<String>, ServerError> {
        let doc = project.get(preset).map_err(|e| match e {
            crate::Error::NotFound { .. } => ServerError::UnknownPreset,
            _ => ServerError::ProjectUnreadable,
        })?;
        match doc.doc.value {
            DocValue::Preset(p) => Ok(p
                .icon_ref
                .map(|r| self.icon_url(&project.id(), &r.doc_id, size, pixel_density))),
            _ => Err(ServerError::UnknownPreset),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Owned here: aborting this loop (dropping the server) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("local server: accept failed ({})", e.kind());
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let shared = shared.clone();
        connections.spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES.max(8192))
                .serve_connection(TokioIo::new(stream), service);
            // A client that goes away mid-answer is its own business.
            let _ = connection.await;
        });
    }
}

async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let head_only = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return respond::plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    };
    let path = req.uri().path();
    if path.len() > MAX_PATH_LEN {
        return respond::not_found();
    }
    let mut segments = path.trim_start_matches('/').split('/');
    let secret = segments.next().unwrap_or_default();
    if !bool::from(secret.as_bytes().ct_eq(shared.secret.as_bytes())) {
        return respond::not_found();
    }
    let rest: Vec<&str> = segments.collect();
    let Some(route) = routes::parse(&rest) else {
        return respond::not_found();
    };
    let base = match &shared.base {
        Some(base) => base.clone(),
        None => match req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            Some(host) if is_plain_host(host) => format!("http://{host}/{}", shared.secret),
            _ => return respond::plain(StatusCode::BAD_REQUEST, "bad request"),
        },
    };
    let headers = req.headers().clone();
    let shared = shared.clone();
    // Map stores, SQLite and files block: off the async threads.
    let work = tokio::task::spawn_blocking(move || {
        match routes::resolve(route, &shared.sources, &base)? {
            Some(resource) => Ok(Some(respond::respond(resource, &headers, head_only)?)),
            None => Ok::<_, routes::ReadError>(None),
        }
    });
    match tokio::time::timeout(RESPONSE_TIMEOUT, work).await {
        Ok(Ok(Ok(Some(response)))) => response,
        Ok(Ok(Ok(None))) => respond::not_found(),
        Ok(Ok(Err(e))) => {
            tracing::warn!("local server: {e}");
            respond::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
        Ok(Err(_)) => respond::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        Err(_) => respond::plain(StatusCode::SERVICE_UNAVAILABLE, "timed out"),
    }
}

/// Whether a `Host` header is a bare host and port (no path, no user info) to build URLs on.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// Percent-encodes everything but unreserved characters, for one path segment.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes one path segment; `None` for a bad escape or text that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_round_trip_through_percent_encoding() {
        for s in [
            "Open Sans Regular,Arial",
            "a/b",
            "ñandú",
            "%",
            "plain-1.2_x~",
        ] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn only_bare_hosts_build_urls() {
        assert!(is_plain_host("192.168.1.4:8080"));
        assert!(is_plain_host("[::1]:80"));
        assert!(!is_plain_host("evil.org/x"));
        assert!(!is_plain_host("a@b"));
        assert!(!is_plain_host(""));
    }
}
