//! Blob sync between devices: an archive and a phone each get what their policy wants and
//! both reach 100% (in memory and over TCP with Noise), a policy changed mid-sync, transfers
//! cut at random points resume to identical bytes, a peer serving corrupt bytes is refused
//! (nothing corrupt ever visible) and the blob comes later from an honest peer, a photo
//! taken on A reaches C through B, and leaving a project deletes others' attachments.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::time::Duration;

use common::media::{fake_mp4, fake_wav, jpeg_with_exif, quadrants};
use common::{Device, Peer, connect, eventually};
use mapeo_core::schema::{Attachment, Variant};
use mapeo_core::sync::memory::{self, MemoryReader, MemoryTransport, MemoryWriter};
use mapeo_core::sync::{
    PeerSyncState, SyncError, SyncPhase, Transport, TransportWriter, run_session,
};
use mapeo_core::{BlobHash, BlobPolicy, Project, RootKey};

const WAIT: Duration = Duration::from_secs(30);

/// Every complete blob file of a project, checked: each one's content hashes to its name.
/// Returns how many there are. Panics on a corrupt visible file.
fn assert_blobs_verified(p: &Project) -> usize {
    let root = p.path().parent().unwrap().join("blobs");
    let mut n = 0;
    for shard in std::fs::read_dir(&root).unwrap() {
        let shard = shard.unwrap();
        let name = shard.file_name().into_string().unwrap();
        if name.len() != 2 {
            continue;
        }
        for f in std::fs::read_dir(shard.path()).unwrap() {
            let f = f.unwrap();
            let hash: BlobHash = f.file_name().to_str().unwrap().parse().unwrap();
            // A writer that just renamed its file into place records it a moment later.
            let until = std::time::Instant::now() + Duration::from_secs(5);
            let mut reader = p.open_blob(&hash).unwrap();
            while reader.is_none() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
                reader = p.open_blob(&hash).unwrap();
            }
            let bytes = reader
                .expect("a blob file the store does not hold")
                .read_rest()
                .unwrap();
            assert_eq!(
                blake3::hash(&bytes).to_hex().as_str(),
                f.file_name().to_str().unwrap(),
                "a visible blob whose bytes do not match its name"
            );
            n += 1;
        }
    }
    n
}

fn has(p: &Project, a: &Attachment, v: Variant) -> bool {
    p.attachment_bytes(a, v).unwrap().is_some()
}

/// The bytes of a variant on `p`, which must be there.
fn bytes(p: &Project, a: &Attachment, v: Variant) -> Vec<u8> {
    p.attachment_bytes(a, v).unwrap().expect("variant present")
}

fn size_of(p: &Project, a: &Attachment, v: Variant) -> u64 {
    p.attachment_variants(a)
        .unwrap()
        .unwrap()
        .variant(v)
        .unwrap()
        .size
}

fn photo(seed: u32) -> Vec<u8> {
    jpeg_with_exif(&quadrants(1400, 1000, seed), 6, 90)
}

fn state_with(p: &Peer, other: &Peer) -> PeerSyncState {
    p.board
        .project(&p.project.id())
        .into_iter()
        .find(|s| s.peer == other.id())
        .expect("a state for that peer")
}

async fn synced(p: &Peer) {
    p.board
        .wait_for_sync(&p.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_and_phone_get_what_their_policy_wants_and_both_reach_100() {
    let archive = Peer::creator(1);
    let phone = Peer::member_of(2, &archive);
    phone.project.set_blob_policy(BlobPolicy::PREVIEWS_ONLY);
    let photos: Vec<Attachment> = (0..3)
        .map(|i| {
            archive
                .project
                .add_attachment_from_bytes(&photo(i), "a.jpg")
                .unwrap()
        })
        .collect();
    let audio = archive
        .project
        .add_attachment_from_bytes(&fake_wav(300_000, 1), "a.wav")
        .unwrap();
    let video = archive
        .project
        .add_attachment_from_bytes(&fake_mp4(2_500_000, 2), "a.mp4")
        .unwrap();
    // The phone took a photo of its own: the archive wants all of it.
    let mine = phone
        .project
        .add_attachment_from_bytes(&photo(9), "p.jpg")
        .unwrap();

    let mut rx = phone.board.subscribe();
    let conn = connect(&archive, &phone, None);
    // Whenever the phone says it is done, it is: every wanted variant is here.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut saw_partial = false;
    loop {
        let s = rx.borrow_and_update().values().next().cloned();
        if let Some(s) = s {
            if s.is_synced(SyncPhase::Full) {
                for a in &photos {
                    assert!(has(&phone.project, a, Variant::Preview), "100% but missing");
                    assert!(
                        has(&phone.project, a, Variant::Thumbnail),
                        "100% but missing"
                    );
                }
                break;
            }
            saw_partial |= s.blobs_wanted > 0;
        }
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .expect("progress")
            .unwrap();
    }
    assert!(saw_partial, "blob progress was reported on the way");
    synced(&archive).await;
    synced(&phone).await;

    // The phone: previews and thumbnails only, byte for byte.
    let mut expected = 0;
    for a in &photos {
        for v in [Variant::Preview, Variant::Thumbnail] {
            assert_eq!(bytes(&phone.project, a, v), bytes(&archive.project, a, v));
            expected += size_of(&archive.project, a, v);
        }
        assert!(!has(&phone.project, a, Variant::Original));
    }
    assert!(!has(&phone.project, &audio, Variant::Original));
    assert!(!has(&phone.project, &video, Variant::Original));
    // The archive: everything, the phone's own photo included.
    for v in Variant::ALL {
        assert_eq!(
            bytes(&archive.project, &mine, v),
            bytes(&phone.project, &mine, v)
        );
    }
    // Exact counts on both sides: each wanted byte crossed once, nothing is left.
    let on_phone = state_with(&phone, &archive);
    let on_archive = state_with(&archive, &phone);
    for s in [&on_phone, &on_archive] {
        assert!(s.is_synced(SyncPhase::Full), "{s:?}");
        assert_eq!((s.blobs_wanted, s.blob_bytes_wanted), (0, 0));
        assert_eq!((s.blobs_to_send, s.blob_bytes_to_send), (0, 0));
    }
    assert_eq!(on_phone.blob_bytes_received, expected);
    assert_eq!(on_archive.blob_bytes_sent, expected);
    let mine_total: u64 = Variant::ALL
        .iter()
        .map(|v| size_of(&phone.project, &mine, *v))
        .sum();
    assert_eq!(on_archive.blob_bytes_received, mine_total);
    assert_eq!(assert_blobs_verified(&phone.project), 3 * 2 + 3);
    assert_eq!(assert_blobs_verified(&archive.project), 3 * 3 + 2 + 3);
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_and_phone_sync_blobs_over_noise_on_loopback() {
    let laptop = Device::new(1);
    let phone = Device::new(2);
    let (pl, pp) = common::shared_project(&laptop, &phone);
    phone
        .manager
        .set_blob_policy(BlobPolicy::PREVIEWS_ONLY)
        .unwrap();
    let photos: Vec<Attachment> = (0..4)
        .map(|i| pl.add_attachment_from_bytes(&photo(i), "l.jpg").unwrap())
        .collect();
    let video = pl
        .add_attachment_from_bytes(&fake_mp4(6_000_000, 3), "l.mp4")
        .unwrap();
    let mine = pp.add_attachment_from_bytes(&photo(20), "p.jpg").unwrap();
    let addr = laptop
        .manager
        .start_listening(common::loopback())
        .await
        .unwrap();
    phone.manager.connect(addr).await.unwrap();
    for (m, p) in [(&laptop.manager, &pl), (&phone.manager, &pp)] {
        m.wait_for_sync(&p.id(), SyncPhase::Full, WAIT)
            .await
            .unwrap();
    }
    for a in &photos {
        assert_eq!(
            bytes(&pp, a, Variant::Preview),
            bytes(&pl, a, Variant::Preview)
        );
        assert_eq!(
            bytes(&pp, a, Variant::Thumbnail),
            bytes(&pl, a, Variant::Thumbnail)
        );
        assert!(!has(&pp, a, Variant::Original));
    }
    assert!(!has(&pp, &video, Variant::Original));
    for v in Variant::ALL {
        assert_eq!(bytes(&pl, &mine, v), bytes(&pp, &mine, v));
    }
    for board in [laptop.manager.sync_board(), phone.manager.sync_board()] {
        let s = board.snapshot().into_values().next().unwrap();
        assert!(s.connected && s.is_synced(SyncPhase::Full), "{s:?}");
    }
    // The phone becomes an archive on the live connection: the originals follow.
    phone.manager.set_blob_policy(BlobPolicy::ARCHIVE).unwrap();
    eventually("originals on the phone", WAIT, || {
        has(&pp, &video, Variant::Original) && photos.iter().all(|a| has(&pp, a, Variant::Original))
    })
    .await;
    phone
        .manager
        .wait_for_sync(&pp.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(
        bytes(&pp, &video, Variant::Original),
        bytes(&pl, &video, Variant::Original)
    );
    assert_blobs_verified(&pp);
}

/// An in-memory transport whose writer waits `delay` before each message: a slow link.
struct Slow(MemoryTransport, Duration);
struct SlowWriter(MemoryWriter, Duration);

impl Transport for Slow {
    type Reader = MemoryReader;
    type Writer = SlowWriter;
    fn split(self) -> (MemoryReader, SlowWriter) {
        let (r, w) = self.0.split();
        (r, SlowWriter(w, self.1))
    }
}

impl TransportWriter for SlowWriter {
    async fn send(&mut self, msg: &[u8]) -> Result<(), SyncError> {
        tokio::time::sleep(self.1).await;
        self.0.send(msg).await
    }
}

/// Connects two peers over a slow in-memory link.
fn connect_slow(a: &Peer, b: &Peer, delay: Duration) -> common::Connection {
    let (ta, tb) = memory::pair();
    let hash: [u8; 32] = mapeo_core::crypto::random_bytes();
    let (shutdown, rx) = tokio::sync::watch::channel(None);
    let pa = a.params(b.id(), hash, rx.clone());
    let pb = b.params(a.id(), hash, rx);
    common::Connection {
        shutdown,
        ends: [
            tokio::spawn(run_session(Slow(ta, delay), pa)),
            tokio::spawn(run_session(Slow(tb, delay), pb)),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_changed_mid_sync_is_followed_and_resumes_where_it_stopped() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    let video = a
        .project
        .add_attachment_from_bytes(&fake_mp4(40 * 1024 * 1024, 5), "v.mp4")
        .unwrap();
    let pic = a
        .project
        .add_attachment_from_bytes(&photo(5), "p.jpg")
        .unwrap();
    let video_size = size_of(&a.project, &video, Variant::Original);
    let conn = connect_slow(&a, &b, Duration::from_millis(15));
    // The archive starts fetching the video...
    eventually("part of the video", WAIT, || {
        b.board
            .project(&b.project.id())
            .first()
            .is_some_and(|s| s.blob_bytes_received > 4 * 1024 * 1024)
    })
    .await;
    // ...then becomes a phone: it stops asking, and reaches 100% without the video.
    b.project.set_blob_policy(BlobPolicy::PREVIEWS_ONLY);
    synced(&b).await;
    synced(&a).await;
    let first = state_with(&b, &a).blob_bytes_received;
    assert!(
        first < video_size,
        "stopped before the end: {first} of {video_size}"
    );
    assert!(!has(&b.project, &video, Variant::Original));
    assert!(has(&b.project, &pic, Variant::Thumbnail));
    let s = state_with(&b, &a);
    assert_eq!((s.blobs_wanted, s.blobs_to_send), (0, 0));
    // Back to archive: the video resumes from what arrived, not from zero.
    b.project.set_blob_policy(BlobPolicy::ARCHIVE);
    // 40 MB over the slow link, sealed on both sides: on a loaded 2-core machine in a debug
    // build this alone can pass the usual bound.
    eventually("the whole video", WAIT * 4, || {
        has(&b.project, &video, Variant::Original)
    })
    .await;
    synced(&b).await;
    assert_eq!(
        bytes(&b.project, &video, Variant::Original),
        bytes(&a.project, &video, Variant::Original)
    );
    let total = state_with(&b, &a).blob_bytes_received;
    let all: u64 = Variant::ALL
        .iter()
        .map(|v| size_of(&a.project, &pic, *v))
        .sum();
    // Every byte taken once: chunks still on the way when the policy changed were dropped
    // uncounted, and the video resumed from what had arrived.
    assert_eq!(total, video_size + all, "resumed, not restarted");
    assert_blobs_verified(&b.project);
    conn.stop().await;
}

/// A deterministic sequence of cut points (a small LCG).
fn cut_points(seed: u64, n: usize, max: u64) -> Vec<usize> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (6 + (x >> 33) % max) as usize
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_transfers_cut_at_random_points_resume_to_identical_bytes() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    let video = a
        .project
        .add_attachment_from_bytes(&fake_mp4(12 * 1024 * 1024 + 333, 7), "v.mp4")
        .unwrap();
    let photos: Vec<Attachment> = (0..3)
        .map(|i| {
            a.project
                .add_attachment_from_bytes(&photo(30 + i), "p.jpg")
                .unwrap()
        })
        .collect();
    let wanted: u64 = std::iter::once((&video, Variant::Original))
        .chain(
            photos
                .iter()
                .flat_map(|p| Variant::ALL.map(move |v| (p, v))),
        )
        .map(|(att, v)| size_of(&a.project, att, v))
        .sum();
    let mut received = 0;
    // The board keeps a peer's last state after its session ends; a session cut before it
    // linked the project publishes nothing, so the same state would be counted twice.
    let mut last: Option<PeerSyncState> = None;
    for (round, cut) in cut_points(11, 30, 30).into_iter().enumerate() {
        let conn = connect(&a, &b, Some(cut));
        for end in conn.ends {
            let r = tokio::time::timeout(WAIT, end)
                .await
                .expect("a cut session ends")
                .unwrap();
            assert!(r.is_err(), "round {round}: a cut connection is an error");
        }
        let now = b
            .board
            .project(&b.project.id())
            .into_iter()
            .find(|s| s.peer == a.id());
        if let Some(s) = now.as_ref().filter(|s| last.as_ref() != Some(*s)) {
            received += s.blob_bytes_received;
        }
        last = now;
        // Never a half or corrupt file under a blob's name.
        assert_blobs_verified(&b.project);
        if let Some(bytes) = b
            .project
            .attachment_bytes(&video, Variant::Original)
            .unwrap()
        {
            assert_eq!(bytes, self::bytes(&a.project, &video, Variant::Original));
        }
    }
    assert!(received > 0, "the cuts let some bytes through");
    let conn = connect(&a, &b, None);
    synced(&b).await;
    synced(&a).await;
    received += state_with(&b, &a).blob_bytes_received;
    assert_eq!(
        bytes(&b.project, &video, Variant::Original),
        bytes(&a.project, &video, Variant::Original)
    );
    for p in &photos {
        for v in Variant::ALL {
            assert_eq!(bytes(&b.project, p, v), bytes(&a.project, p, v));
        }
    }
    assert_eq!(
        received, wanted,
        "each byte crossed exactly once: every cut resumed"
    );
    assert_eq!(assert_blobs_verified(&b.project), 1 + 3 * 3);
    conn.stop().await;
}

/// Replaces a stored blob with the same bytes but one flipped in the middle, sealed as the
/// store seals them: a peer that serves wrong bytes (its sealed copy authenticates, so only
/// the receiver's hash check can catch it).
fn corrupt(peer: &Peer, a: &Attachment, v: Variant) {
    let mut plain = bytes(&peer.project, a, v);
    let mid = plain.len() / 2;
    plain[mid] ^= 0x55;
    let index = peer.project.attachment_variants(a).unwrap().unwrap();
    let hash = index.variant(v).unwrap().hash.to_string();
    let path = peer
        .project
        .path()
        .parent()
        .unwrap()
        .join("blobs")
        .join(&hash[..2])
        .join(&hash);
    let root = RootKey::from_bytes([peer.device.seed; 16]);
    let key = mapeo_core::at_rest::unlock(peer.device.dir.path(), &root, &[])
        .unwrap()
        .derive_file_key(mapeo_core::blobs::FILE_KEY_PURPOSE);
    let (_, sealed) = mapeo_core::sealed_file::seal_stream(&key, &plain[..], Vec::new()).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, sealed).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_corrupt_bytes_is_refused_and_the_blob_comes_from_an_honest_peer() {
    let honest = Peer::creator(1);
    let liar = Peer::member_of(2, &honest);
    let c = Peer::member_of(3, &honest);
    let video = honest
        .project
        .add_attachment_from_bytes(&fake_mp4(3 * 1024 * 1024, 9), "v.mp4")
        .unwrap();
    let pic = honest
        .project
        .add_attachment_from_bytes(&photo(40), "p.jpg")
        .unwrap();
    let first = connect(&honest, &liar, None);
    synced(&liar).await;
    first.stop().await;
    corrupt(&liar, &video, Variant::Original);
    corrupt(&liar, &pic, Variant::Preview);

    let bad = connect(&liar, &c, None);
    // C fetches both from the liar, refuses them, and does not claim to be done.
    let everything: u64 = std::iter::once(size_of(&honest.project, &video, Variant::Original))
        .chain(
            Variant::ALL
                .iter()
                .map(|v| size_of(&honest.project, &pic, *v)),
        )
        .sum();
    eventually("every transfer from the liar", WAIT, || {
        c.board
            .project(&c.project.id())
            .first()
            .is_some_and(|s| s.blob_bytes_received >= everything)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        has(&c.project, &pic, Variant::Thumbnail),
        "what was sound was taken"
    );
    let s = state_with(&c, &liar);
    assert!(
        !s.is_synced(SyncPhase::Full),
        "never 100% with a wanted blob missing: {s:?}"
    );
    assert_eq!(
        s.blobs_wanted, 2,
        "the video and the preview are still wanted: {s:?}"
    );
    assert!(
        !has(&c.project, &video, Variant::Original),
        "corrupt bytes never become the blob"
    );
    assert!(!has(&c.project, &pic, Variant::Preview));
    assert_blobs_verified(&c.project);

    // An honest peer turns up: C gets the real bytes and is done with both.
    let good = connect(&honest, &c, None);
    eventually("the real video", WAIT, || {
        has(&c.project, &video, Variant::Original)
    })
    .await;
    synced(&c).await;
    assert_eq!(
        bytes(&c.project, &video, Variant::Original),
        bytes(&honest.project, &video, Variant::Original)
    );
    assert_eq!(
        bytes(&c.project, &pic, Variant::Preview),
        bytes(&honest.project, &pic, Variant::Preview)
    );
    assert!(state_with(&c, &liar).is_synced(SyncPhase::Full));
    assert_blobs_verified(&c.project);
    bad.stop().await;
    good.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_taken_on_a_reaches_c_through_b() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    let c = Peer::member_of(3, &a);
    let ab = connect(&a, &b, None);
    let bc = connect(&b, &c, None);
    synced(&c).await;
    // Taken after everyone is connected: it travels live, A to B, then B to C.
    let pic = a
        .project
        .add_attachment_from_bytes(&photo(50), "p.jpg")
        .unwrap();
    let rec = a
        .project
        .add_attachment_from_bytes(&fake_wav(500_000, 3), "r.wav")
        .unwrap();
    eventually("the photo and recording on c", WAIT, || {
        Variant::ALL.iter().all(|v| has(&c.project, &pic, *v))
            && has(&c.project, &rec, Variant::Original)
    })
    .await;
    for v in Variant::ALL {
        assert_eq!(bytes(&c.project, &pic, v), bytes(&a.project, &pic, v));
    }
    synced(&c).await;
    synced(&b).await;
    ab.stop().await;
    bc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_in_the_middle_passes_on_what_it_has() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    let c = Peer::member_of(3, &a);
    b.project.set_blob_policy(BlobPolicy::PREVIEWS_ONLY);
    let pic = a
        .project
        .add_attachment_from_bytes(&photo(60), "p.jpg")
        .unwrap();
    let ab = connect(&a, &b, None);
    synced(&b).await;
    ab.stop().await;
    // C (an archive) meets only B: it gets what B has and is synced with B.
    let bc = connect(&b, &c, None);
    synced(&c).await;
    assert!(has(&c.project, &pic, Variant::Preview) && has(&c.project, &pic, Variant::Thumbnail));
    assert!(!has(&c.project, &pic, Variant::Original));
    assert_eq!(
        bytes(&c.project, &pic, Variant::Preview),
        bytes(&a.project, &pic, Variant::Preview)
    );
    // Meeting A later brings the original.
    let ac = connect(&a, &c, None);
    eventually("the original on c", WAIT, || {
        has(&c.project, &pic, Variant::Original)
    })
    .await;
    synced(&c).await;
    bc.stop().await;
    ac.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_project_deletes_the_attachments_of_others() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    let theirs = a
        .project
        .add_attachment_from_bytes(&photo(70), "a.jpg")
        .unwrap();
    let ours = b
        .project
        .add_attachment_from_bytes(&fake_wav(10_000, 4), "b.wav")
        .unwrap();
    let conn = connect(&a, &b, None);
    synced(&b).await;
    synced(&a).await;
    conn.stop().await;
    assert!(has(&b.project, &theirs, Variant::Original));
    b.device.manager.leave_project(&b.project.id()).unwrap();
    for v in Variant::ALL {
        assert!(!has(&b.project, &theirs, v));
    }
    assert!(!b.project.has_blob(&theirs.hash.parse().unwrap()));
    assert!(has(&b.project, &ours, Variant::Original));
    assert_eq!(
        assert_blobs_verified(&b.project),
        1,
        "only our own recording"
    );
}
