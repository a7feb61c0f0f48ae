//! The local control channel of a running `mapeo serve`: a Unix socket in the data folder
//! (mode 0600, only the serve's own user is answered) over which other `mapeo` commands ask
//! the serve to do what needs its live connections (invites) or its hold on the data folder
//! (role changes). One request per connection, one JSON line each way, with progress lines
//! before the answer; every read and write is bounded. It carries requests and answers only:
//! what a request does lives in `cmd`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{CliError, CliResult};
use crate::out::Output;

/// File name of the control socket inside the data folder.
pub const CONTROL_SOCKET: &str = "control.sock";
/// Longest request line the serve reads.
pub const MAX_REQUEST_BYTES: u64 = 16 * 1024;
/// Longest answer or progress line a client reads.
pub const MAX_REPLY_BYTES: u64 = 1024 * 1024;
/// How long the serve waits for a connected client to send its request.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the serve waits for a client to take one line of the answer.
pub const REPLY_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits for the answer to a request that involves no peer.
pub const QUICK_REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Most control connections a serve handles at once; more are answered "busy".
pub const MAX_CONTROL_CONNECTIONS: usize = 16;

/// What a command asks the running serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "request",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Request {
    /// Invite a device into a project and wait for the outcome.
    MembersInvite {
        /// The project selection (`-p`), if given.
        project: Option<String>,
        /// The device: its id, or a unique prefix of a connected peer's id.
        device: String,
        /// `member` or `coordinator`.
        role: String,
        /// A name for the role.
        role_name: Option<String>,
        /// What the role means.
        role_description: Option<String>,
        /// How long to wait for the device to connect and answer, in seconds.
        timeout_secs: u64,
    },
    /// Withdraw an invite this device sent.
    MembersCancel {
        /// The invite's id or a unique prefix of it.
        invite: String,
    },
    /// Block a member.
    MembersRemove {
        /// The project selection.
        project: Option<String>,
        /// The member: id or unique prefix.
        device: String,
        /// Why, kept with the role record.
        reason: Option<String>,
    },
    /// Give a member another role.
    MembersRole {
        /// The project selection.
        project: Option<String>,
        /// The member: id or unique prefix.
        device: String,
        /// `member` or `coordinator`.
        role: String,
        /// Why, kept with the role record.
        reason: Option<String>,
    },
    /// Invites received and sent.
    InvitesList {},
    /// Accept a received invite and join.
    InvitesAccept {
        /// The invite's id or a unique prefix of it.
        invite: String,
    },
    /// Reject a received invite.
    InvitesReject {
        /// The invite's id or a unique prefix of it.
        invite: String,
    },
    /// Offer a map to a connected device and follow the share to its end.
    MapsShare {
        /// The map: id, unique id prefix or name.
        map: String,
        /// The device: id or unique prefix of a connected peer's id.
        device: String,
        /// How long to wait for the answer and the transfer, in seconds.
        timeout_secs: u64,
    },
    /// Map shares sent and received.
    MapsShares {},
    /// Accept a received map and follow it until installed.
    MapsAccept {
        /// The share's id or a unique prefix of it.
        share: String,
        /// How long to wait for the transfer, in seconds.
        timeout_secs: u64,
    },
    /// Decline a received map.
    MapsDecline {
        /// The share's id or a unique prefix of it.
        share: String,
    },
}

/// Where the control socket of the data folder `dir` is.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(CONTROL_SOCKET)
}

fn channel_err(e: impl std::fmt::Display) -> CliError {
    CliError::Control(e.to_string())
}

/// Sends `request` to the serve listening on `socket` and returns its answer. `progress`
/// sees each progress line that comes before it. Waits at most `timeout` in all.
#[cfg(unix)]
pub fn request(
    socket: &Path,
    request: &Request,
    timeout: Duration,
    mut progress: impl FnMut(&Value),
) -> CliResult<Output> {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    let deadline = Instant::now() + timeout;
    let stream = UnixStream::connect(socket).map_err(|e| {
        CliError::Control(format!(
            "the data folder is held by a mapeo process that takes no requests here ({e}); \
             is it a `mapeo sync`? Wait for it to finish"
        ))
    })?;
    stream
        .set_write_timeout(Some(REPLY_WRITE_TIMEOUT))
        .map_err(channel_err)?;
    let mut line = serde_json::to_vec(request).map_err(channel_err)?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(channel_err)?;
    let mut reader = BufReader::new((&stream).take(MAX_REPLY_BYTES));
    // Kept across reads: a read that times out half way through a line keeps what it got.
    let mut text = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CliError::Control(format!(
                "no answer from the running `mapeo serve` within {} s",
                timeout.as_secs()
            )));
        }
        stream.set_read_timeout(Some(left)).map_err(channel_err)?;
        reader
            .get_mut()
            .set_limit(MAX_REPLY_BYTES.saturating_sub(text.len() as u64));
        match reader.read_line(&mut text) {
            Ok(0) => {
                return Err(CliError::Control(
                    "the running `mapeo serve` closed the connection without an answer".into(),
                ));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(channel_err(e)),
        }
        if !text.ends_with('\n') {
            return Err(CliError::Control(
                "the running `mapeo serve` sent an answer too long to read".into(),
            ));
        }
        let v: Value = serde_json::from_str(text.trim_end())
            .map_err(|e| CliError::Control(format!("unreadable answer from the serve: {e}")))?;
        text.clear();
        match v.get("ok").and_then(Value::as_bool) {
            Some(true) => {
                return Ok(Output::new(
                    v["json"].clone(),
                    v["text"].as_str().unwrap_or_default(),
                ));
            }
            Some(false) => {
                return Err(CliError::Remote {
                    kind: v["error"]["kind"].as_str().unwrap_or("error").to_owned(),
                    message: v["error"]["message"]
                        .as_str()
                        .unwrap_or("the serve refused the request")
                        .to_owned(),
                });
            }
            None => progress(&v),
        }
    }
}

/// Without Unix sockets there is no control channel.
#[cfg(not(unix))]
pub fn request(
    _socket: &Path,
    _request: &Request,
    _timeout: Duration,
    _progress: impl FnMut(&Value),
) -> CliResult<Output> {
    Err(CliError::Control(
        "talking to a running `mapeo serve` needs Unix sockets".into(),
    ))
}

/// The answer line for a finished request.
pub fn answer_line(result: &CliResult<Output>) -> Value {
    match result {
        Ok(out) => json!({"ok": true, "json": out.json, "text": out.text}),
        Err(e) => json!({"ok": false, "error": {"kind": e.kind(), "message": e.to_string()}}),
    }
}

#[cfg(unix)]
pub use server::{Conn, Listener};

#[cfg(unix)]
mod server {
    //! The serve's side: the socket, and one connection's request and answer.

    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixStream;
    use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

    use super::{
        MAX_REQUEST_BYTES, REPLY_WRITE_TIMEOUT, REQUEST_READ_TIMEOUT, Request, answer_line,
        socket_path,
    };
    use crate::error::{CliError, CliResult};
    use crate::out::Output;

    /// The serve's control socket; the file is removed when this is dropped.
    pub struct Listener {
        inner: tokio::net::UnixListener,
        path: PathBuf,
        uid: u32,
    }

    impl Listener {
        /// Binds the control socket of `dir` (mode 0600), replacing a stale one. The caller
        /// holds the data folder's lock, so no other serve uses it.
        pub fn bind(dir: &Path) -> CliResult<Listener> {
            let path = socket_path(dir);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CliError::file("cannot replace", &path, e)),
            }
            let inner = tokio::net::UnixListener::bind(&path)
                .map_err(|e| CliError::file("cannot create the control socket", &path, e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| CliError::file("cannot protect", &path, e))?;
            let uid = std::fs::metadata(&path)
                .map_err(|e| CliError::file("cannot read", &path, e))?
                .uid();
            Ok(Listener { inner, path, uid })
        }

        /// The next connection from this user (others are closed at once).
        pub async fn accept(&self) -> std::io::Result<UnixStream> {
            loop {
                let (stream, _) = self.inner.accept().await?;
                match stream.peer_cred() {
                    Ok(cred) if cred.uid() == self.uid => return Ok(stream),
                    _ => drop(stream),
                }
            }
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// One client: its request has been read; progress lines and the answer go back.
    pub struct Conn {
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
    }

    impl Conn {
        /// Reads the request of a new connection, bounded in size and time. A request that
        /// cannot be read is answered with the reason, and `None` returned.
        pub async fn open(stream: UnixStream) -> Option<(Conn, Request)> {
            let (read, writer) = stream.into_split();
            let mut conn = Conn {
                reader: BufReader::new(read),
                writer,
            };
            let mut line = Vec::new();
            let read = tokio::time::timeout(
                REQUEST_READ_TIMEOUT,
                (&mut conn.reader)
                    .take(MAX_REQUEST_BYTES)
                    .read_until(b'\n', &mut line),
            )
            .await;
            let problem = match read {
                Err(_) => "no request in time".to_owned(),
                Ok(Err(e)) => format!("cannot read the request: {e}"),
                Ok(Ok(_)) if !line.ends_with(b"\n") => {
                    "the request is too long or unfinished".to_owned()
                }
                Ok(Ok(_)) => match serde_json::from_slice::<Request>(&line) {
                    Ok(req) => return Some((conn, req)),
                    Err(e) => format!("not a request: {e}"),
                },
            };
            conn.finish(Err(CliError::BadInput(problem))).await;
            None
        }

        async fn line(&mut self, v: &Value) -> bool {
            let mut bytes = v.to_string().into_bytes();
            bytes.push(b'\n');
            matches!(
                tokio::time::timeout(REPLY_WRITE_TIMEOUT, self.writer.write_all(&bytes)).await,
                Ok(Ok(()))
            )
        }

        /// Sends a progress line (any JSON object without `ok`).
        pub async fn progress(&mut self, v: Value) {
            self.line(&v).await;
        }

        /// Resolves when the client hangs up (what it sends after its request is ignored).
        pub async fn closed(&mut self) {
            let mut sink = [0u8; 256];
            loop {
                match self.reader.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }

        /// Sends the answer and closes.
        pub async fn finish(mut self, result: CliResult<Output>) {
            let line = answer_line(&result);
            self.line(&line).await;
            let _ = tokio::time::timeout(REPLY_WRITE_TIMEOUT, self.writer.shutdown()).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_object_and_unknown_fields_are_refused() {
        let r = Request::MembersInvite {
            project: Some("Río".into()),
            device: "ab".into(),
            role: "member".into(),
            role_name: None,
            role_description: None,
            timeout_secs: 5,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""request":"members-invite""#), "{text}");
        assert!(text.contains(r#""timeoutSecs":5"#), "{text}");
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        assert!(
            serde_json::from_str::<Request>(r#"{"request":"invites-list","extra":1}"#).is_err()
        );
        assert!(serde_json::from_str::<Request>(r#"{"request":"format-disk"}"#).is_err());
    }
}
