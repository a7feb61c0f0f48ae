//! A process that stores attachments, or downloads them, until it is killed: for the blob
//! crash scenarios. Usage:
//! - `blob-writer DATA_DIR attach`: adds 6 MB videos from files, printing `stored <seed>
//!   <hash>` after each add returns;
//! - `blob-writer DATA_DIR receive ADDR`: joins the project in `MAPEO_JOIN` (hex join
//!   details), connects to ADDR and syncs as an archive, printing `connected`;
//! - `blob-writer DATA_DIR disk-full`: run on a small tmpfs; prints `ok` if a video larger
//!   than the free space is refused with a full-disk error, leaving nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use mapeo_core::attachments::AttachmentError;
use mapeo_core::blobs::BlobError;
use mapeo_core::{Error, JoinDetails, Manager, ProjectStatus};
use mapeo_scenarios::{test_root_key, test_video};

/// Size of each video in `attach` mode.
const VIDEO_BYTES: usize = 6 * 1024 * 1024;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn project(manager: &Manager) -> Res<std::sync::Arc<mapeo_core::Project>> {
    let joined = manager
        .list_projects()?
        .into_iter()
        .find(|p| p.status == ProjectStatus::Joined);
    Ok(match joined {
        Some(p) => manager.open_project(&p.project_id)?,
        None => manager.create_project(Default::default())?,
    })
}

fn attach(dir: &Path) -> Res<()> {
    let manager = Manager::open(dir, &test_root_key(1))?;
    let project = project(&manager)?;
    let sources = dir.with_extension("sources");
    std::fs::create_dir_all(&sources)?;
    let mut out = std::io::stdout().lock();
    let first: u64 = std::env::var("BLOB_WRITER_SEED")?.parse()?;
    for seed in first.. {
        let path = sources.join(format!("VID_{seed}.mp4"));
        std::fs::write(&path, test_video(seed, VIDEO_BYTES))?;
        let a = project.add_attachment_from_path(&path)?;
        writeln!(out, "stored {seed} {}", a.hash)?;
        out.flush()?;
    }
    Ok(())
}

fn receive(dir: &Path, addr: &str) -> Res<()> {
    let details = JoinDetails::from_secret_bytes(&hex::decode(std::env::var("MAPEO_JOIN")?)?)
        .ok_or("bad join details")?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let manager = Manager::open(dir, &test_root_key(2))?;
        let p = match manager.join_project(&details) {
            Ok(p) => p,
            Err(Error::AlreadyJoined) => {
                manager.open_project(&details.project_key().project_id())?
            }
            Err(e) => return Err(e.into()),
        };
        p.set_data_sync(true);
        manager.connect(addr.parse()?).await?;
        println!("connected");
        std::io::stdout().flush()?;
        // Killed while receiving.
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        Ok(())
    })
}

fn disk_full(dir: &Path) -> Res<()> {
    let manager = Manager::open(dir, &test_root_key(3))?;
    let project = manager.create_project(Default::default())?;
    let small = project.add_attachment_from_bytes(&test_video(1, 100_000), "small.mp4")?;
    let blobs: PathBuf = project.path().with_file_name("blobs");
    let files_before = count_files(&blobs)?;
    match project.add_attachment_from_bytes(&test_video(2, 8 * 1024 * 1024), "big.mp4") {
        Err(Error::Attachment(AttachmentError::Blob(BlobError::DiskFull)))
        | Err(Error::Blob(BlobError::DiskFull)) => {}
        other => return Err(format!("expected a full-disk error, got {other:?}").into()),
    }
    let message = Error::Blob(BlobError::DiskFull).to_string();
    if count_files(&blobs)? != files_before {
        return Err("a refused write left a file behind".into());
    }
    if project
        .list(&mapeo_core::Query::all(
            mapeo_core::schema::DocType::BlobIndex,
        ))?
        .len()
        != 1
    {
        return Err("a refused write left a blob index".into());
    }
    if project
        .open_attachment(&small, mapeo_core::schema::Variant::Original)?
        .is_none()
    {
        return Err("the earlier attachment is gone".into());
    }
    // Space again: the same store takes a smaller file.
    project.add_attachment_from_bytes(&test_video(3, 200_000), "again.mp4")?;
    println!("ok: {message}");
    Ok(())
}

fn count_files(dir: &Path) -> Res<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        n += if e.file_type()?.is_dir() {
            count_files(&e.path())?
        } else {
            1
        };
    }
    Ok(n)
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("missing DATA_DIR")?);
    match args.next().as_deref() {
        Some("attach") => attach(&dir),
        Some("receive") => receive(&dir, &args.next().ok_or("missing ADDR")?),
        Some("disk-full") => disk_full(&dir),
        _ => Err("mode: attach | receive ADDR | disk-full".into()),
    }
}
