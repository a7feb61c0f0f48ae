//! The bytes of map shares: the sender reading and streaming its package in chunks, the
//! receiver's writer appending them to the share's partial file, verifying and installing.
//! The state they report to lives in the parent module.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use super::{MapShareError, MapShareState, MapShares, lock, storage};
use crate::blobs::{BlobError, PartialBlob};
use crate::ids::{BlobHash, DeviceId};
use crate::maps::{MapError, MapId, MapPackage, MapStore};
use crate::sync::map_share::{MapShareId, MapShareMessage};
use crate::sync::message::{BLOB_CHUNK_BYTES, Message};

/// What a receiving share's writer is told.
pub(super) enum WriterCmd {
    Chunk {
        offset: u64,
        size: u64,
        data: bytes::Bytes,
    },
    /// Throw away what arrived and stop.
    Discard,
}

impl MapShares {
    /// What follows a received share's last write: records how it ended and tells the
    /// sender.
    pub(super) fn written(
        &self,
        id: MapShareId,
        result: Result<MapId, MapShareError>,
        handle: &tokio::runtime::Handle,
    ) {
        let (peer, expected) = {
            let entries = lock(&self.entries);
            let Some(e) = entries.get(&id) else { return };
            (e.share.peer, e.share.map_id.clone())
        };
        let (state, step) = match result {
            Ok(installed) if installed == expected => {
                (MapShareState::Installed, MapShareMessage::Installed { id })
            }
            other => {
                if let Err(e) = other {
                    tracing::warn!("a received map could not be installed: {e}");
                }
                (MapShareState::Failed, MapShareMessage::Failed { id })
            }
        };
        self.update(&id, |e| {
            e.writer = None;
            e.share.state = state;
        });
        if let Err(e) = self.save_accepted() {
            tracing::warn!("accepted map shares could not be saved: {e}");
        }
        if let Some(tx) = self.outbox(&peer) {
            handle.spawn(async move {
                let _ = tx.send(Message::MapShare(step)).await;
            });
        }
    }

    /// Imports a verified package into the map store, then drops it from the share store.
    /// Both are sealed: the package is decrypted from the one as it is sealed into the other.
    pub(super) fn install(&self, hash: BlobHash) -> Result<MapId, MapShareError> {
        let incoming = self.incoming()?;
        let package = incoming
            .open_blob(&hash)?
            .ok_or(MapShareError::Storage("received package vanished".into()))?;
        let result =
            MapStore::open(&self.maps_dir, self.maps_key.clone()).and_then(|m| m.import(package));
        incoming.remove_added(&hash);
        Ok(result?.id)
    }

    /// Streams the package to the receiver from `offset`, replacing any earlier stream.
    pub(super) fn start_stream(&self, id: MapShareId, peer: DeviceId, offset: u64) {
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let mut entries = lock(&self.entries);
        let Some(e) = entries.get_mut(&id) else {
            return;
        };
        let (Some(maps), map, size) = (e.package.clone(), e.share.map_id.clone(), e.share.size)
        else {
            return;
        };
        if offset > size {
            return;
        }
        if let Some(t) = e.stream.take() {
            t.abort();
        }
        e.share.state = MapShareState::Transferring;
        e.share.bytes = offset;
        e.stream = Some(tokio::spawn(async move {
            if let Err(e) = this.stream(id, peer, maps, map, offset, size).await {
                // The package cannot be read here any more: the receiver must not wait for
                // bytes that will not come.
                tracing::warn!("sending a map failed: {e}");
                this.end_sent(&id, MapShareState::Failed);
                this.send(&peer, MapShareMessage::Failed { id });
            }
        }));
        drop(entries);
        self.publish();
    }

    async fn stream(
        &self,
        id: MapShareId,
        peer: DeviceId,
        maps: Arc<MapStore>,
        map: MapId,
        mut offset: u64,
        size: u64,
    ) -> Result<(), MapShareError> {
        let Some(tx) = self.outbox(&peer) else {
            return Ok(());
        };
        // The package's plaintext, decrypted chunk by chunk as it is read: the receiver
        // verifies it against the offered hash.
        let package = tokio::task::spawn_blocking(move || maps.open_package(&map))
            .await
            .map_err(storage)??
            .0;
        let mut file = Some(package);
        while offset < size {
            let f = file.take().ok_or(MapShareError::WrongState)?;
            let (f, data) = tokio::task::spawn_blocking(move || read_chunk(f, offset, size))
                .await
                .map_err(storage)??;
            file = Some(f);
            let len = data.len() as u64;
            if len == 0 {
                return Err(MapError::Damaged.into());
            }
            let chunk = Message::MapChunk {
                share: id,
                offset,
                size,
                data: data.into(),
            };
            if tx.send(chunk).await.is_err() {
                // Disconnected: the receiver asks again from where it stands.
                return Ok(());
            }
            offset += len;
            self.update(&id, |e| e.share.bytes = offset);
        }
        Ok(())
    }
}

/// Writes a received share's chunks in order (on the blocking pool); once every byte is
/// there, verifies them against the hash and installs the map. Holds the shares only while
/// it works on a chunk, so that a device closed meanwhile is not kept alive by it.
pub(super) fn write_share(
    this: &Weak<MapShares>,
    id: MapShareId,
    mut partial: PartialBlob,
    mut rx: mpsc::Receiver<WriterCmd>,
    handle: &tokio::runtime::Handle,
) {
    let result = loop {
        let Some(cmd) = rx.blocking_recv() else {
            // Disconnected: what was written stays for the resume.
            return;
        };
        let (offset, size, data) = match cmd {
            WriterCmd::Discard => return partial.discard(),
            WriterCmd::Chunk { offset, size, data } => (offset, size, data),
        };
        // Bytes already held (a chunk of an earlier session that arrived late) are skipped;
        // a gap or another size is refused.
        let at = partial.offset();
        let end = offset.saturating_add(data.len() as u64);
        let written = if size != partial.size() || offset > at {
            Err(BlobError::OutOfPlace)
        } else if end <= at {
            continue;
        } else {
            let skip = usize::try_from(at - offset).unwrap_or(usize::MAX);
            partial.write(at, data.get(skip..).unwrap_or_default())
        };
        if let Err(e) = written {
            partial.discard();
            break Err(MapShareError::from(e));
        }
        let Some(shares) = this.upgrade() else { return };
        let at = partial.offset();
        shares.update(&id, |e| {
            if e.share.state == MapShareState::Transferring {
                e.share.bytes = at;
            }
        });
        if partial.is_complete() {
            let hash = partial.hash();
            break partial
                .finish()
                .map_err(MapShareError::from)
                .and_then(|()| shares.install(hash));
        }
    };
    if let Some(shares) = this.upgrade() {
        shares.written(id, result, handle);
    }
}

/// Reads up to one chunk of the package at `offset`.
pub(super) fn read_chunk(
    mut f: MapPackage,
    offset: u64,
    size: u64,
) -> Result<(MapPackage, Vec<u8>), MapShareError> {
    let want = size.saturating_sub(offset).min(BLOB_CHUNK_BYTES as u64);
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(BLOB_CHUNK_BYTES));
    f.seek(SeekFrom::Start(offset))?;
    (&mut f).take(want).read_to_end(&mut buf)?;
    Ok((f, buf))
}

/// The blake3 hash of a whole package, read through the store's sealed reader.
pub(super) fn hash_package(mut f: MapPackage) -> Result<BlobHash, MapShareError> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; crate::blobs::COPY_BUFFER_BYTES];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(BlobHash::from_bytes(*hasher.finalize().as_bytes()))
}
