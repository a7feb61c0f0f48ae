//! Invites, members, attachments and the blob policy through the facade, driven from Rust as
//! an app would drive them through the bindings: two devices in one process over 127.0.0.1,
//! one inviting the other, a photo added on one arriving on the other with its thumbnail,
//! Rust implementations of the invite listener, and the typed errors of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mapeo_ffi::{
    AttachmentKind, AttachmentVariant, DeviceType, InviteListener, InviteOutcome, InviteRole,
    InviteState, Mapeo, MapeoError, Observation, PeerSyncState, Project, ProjectSettings,
    ProjectStatus, Query, ReceivedInvite, Role, SyncPhase,
};

mod common;

use common::{Device, WAIT, device};

/// Polls `check` until it holds, failing after [`WAIT`].
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every call an invite listener received, in order.
#[derive(Default)]
struct Invites(Mutex<Vec<Vec<ReceivedInvite>>>);

impl Invites {
    fn calls(&self) -> Vec<Vec<ReceivedInvite>> {
        self.0.lock().unwrap().clone()
    }

    fn last(&self) -> Option<Vec<ReceivedInvite>> {
        self.calls().last().cloned()
    }
}

impl InviteListener for Invites {
    fn on_invites(&self, invites: Vec<ReceivedInvite>) -> Result<(), MapeoError> {
        self.0.lock().unwrap().push(invites);
        Ok(())
    }
}

/// An invite listener that fails every call, as a foreign listener that throws does.
struct Throwing;

impl InviteListener for Throwing {
    fn on_invites(&self, _: Vec<ReceivedInvite>) -> Result<(), MapeoError> {
        Err(MapeoError::ListenerFailed {
            reason: "thrown by the app".into(),
        })
    }
}

/// `a` with a project, and `b` connected to it over loopback (not a member yet), once `a`
/// lists `b` as connected (an app invites from its peer list; `b`'s connect returns before
/// `a` has the session).
async fn connected_pair() -> (Device, Device, Arc<Project>) {
    let (a, b) = (device("Ana"), device("Bo"));
    let pa = a
        .mapeo
        .create_project(ProjectSettings {
            name: Some("River watch".into()),
            project_color: Some("#2255aa".into()),
            ..Default::default()
        })
        .unwrap();
    let addr = a.mapeo.start_listening("127.0.0.1:0".into()).await.unwrap();
    assert_eq!(b.mapeo.connect(addr).await.unwrap(), a.mapeo.device_id());
    eventually("a sees b connected", || {
        a.mapeo
            .peers()
            .iter()
            .any(|p| p.device_id == b.mapeo.device_id() && p.connected)
    })
    .await;
    (a, b, pa)
}

/// The invite `b` sees pending, once it has arrived.
async fn pending_on(b: &Device) -> ReceivedInvite {
    eventually("the invite arrives", || {
        !b.mapeo.pending_invites().is_empty()
    })
    .await;
    b.mapeo.pending_invites().remove(0)
}

/// `a`'s invite of `b` into `pa` with `role` (no role name or description); ends with the
/// answer.
async fn invite(
    a: &Device,
    b: &Device,
    pa: &Project,
    role: InviteRole,
) -> Result<InviteOutcome, MapeoError> {
    a.mapeo
        .invite(pa.project_id(), b.mapeo.device_id(), role, None, None)
        .await
}

/// `a` invites `b` as a member and `b` accepts: both sync data afterwards.
async fn members_pair() -> (Device, Device, Arc<Project>, Arc<Project>) {
    let (a, b, pa) = connected_pair().await;
    let (outcome, pb) = tokio::join!(invite(&a, &b, &pa, InviteRole::Member), async {
        let invite = pending_on(&b).await;
        b.mapeo.accept_invite(invite.invite_id).await
    });
    assert_eq!(outcome.unwrap(), InviteOutcome::Accepted);
    let pb = pb.unwrap();
    for d in [&a, &b] {
        d.mapeo.start_sync(pa.project_id()).unwrap();
    }
    (a, b, pa, pb)
}

/// A real JPEG of `width` × `height` pixels (a gradient, so it is not trivially small).
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// Every file under `dir` (to show that a refused attachment stored nothing).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn an_accepted_invite_makes_a_member_on_both_devices() {
    let (a, b, pa) = connected_pair().await;
    let seen = Arc::new(Invites::default());
    let _handle = b.mapeo.subscribe_invites(seen.clone()).unwrap();
    let _throwing = b.mapeo.subscribe_invites(Arc::new(Throwing)).unwrap();
    eventually("the current (empty) list first", || {
        !seen.calls().is_empty()
    })
    .await;
    assert_eq!(seen.calls()[0], Vec::new());
    assert_eq!(b.mapeo.project_status(pa.project_id()).unwrap(), None);

    let (outcome, pb) = tokio::join!(
        a.mapeo.invite(
            pa.project_id(),
            b.mapeo.device_id(),
            InviteRole::Member,
            Some("Monitor".into()),
            Some("records what they see".into()),
        ),
        async {
            eventually("the listener sees the invite", || {
                seen.last().is_some_and(|l| l.len() == 1)
            })
            .await;
            let invite = seen.last().unwrap().remove(0);
            assert_eq!(b.mapeo.pending_invites(), vec![invite.clone()]);
            assert_eq!(invite.state, InviteState::Pending);
            assert_eq!(invite.project_id, pa.project_id());
            assert_eq!(invite.project_name.as_deref(), Some("River watch"));
            assert_eq!(invite.project_color.as_deref(), Some("#2255aa"));
            assert_eq!(invite.role, InviteRole::Member);
            assert_eq!(invite.role_name.as_deref(), Some("Monitor"));
            assert_eq!(invite.inviter_name, "Ana");
            assert_eq!(invite.inviter_device_id, a.mapeo.device_id());
            assert!(invite.received_at > 1_700_000_000_000, "ms since the epoch");
            let sent = a.mapeo.sent_invites();
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].invite_id, invite.invite_id);
            assert_eq!(sent[0].device_id, b.mapeo.device_id());
            assert_eq!(sent[0].project_id, pa.project_id());
            assert!(!sent[0].answered);
            b.mapeo.accept_invite(invite.invite_id).await
        }
    );
    assert_eq!(outcome.unwrap(), InviteOutcome::Accepted);
    let pb = pb.unwrap();
    assert_eq!(pb.project_id(), pa.project_id());
    assert_eq!(
        b.mapeo.project_status(pa.project_id()).unwrap(),
        Some(ProjectStatus::Joined)
    );
    assert_eq!(pb.own_role().unwrap(), Role::Member);
    assert!(
        a.mapeo.sent_invites().is_empty(),
        "ended invites are not listed"
    );
    assert!(b.mapeo.pending_invites().is_empty());
    let received = b.mapeo.received_invites();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].state, InviteState::Accepted);
    eventually("the listener sees it accepted", || {
        seen.last()
            .is_some_and(|l| l.len() == 1 && l[0].state == InviteState::Accepted)
    })
    .await;

    // Both see B as a member (A at once; B once A's device info has synced).
    let b_member = |p: &Project| {
        p.members(false)
            .unwrap()
            .into_iter()
            .find(|m| m.device_id == b.mapeo.device_id())
    };
    let on_a = b_member(&pa).expect("a lists b");
    assert_eq!(on_a.role, Role::Member);
    assert!(on_a.joined_at.is_some());
    eventually("b's name reaches a", || {
        b_member(&pa).and_then(|m| m.name) == Some("Bo".into())
    })
    .await;
    eventually("a's name reaches b", || {
        pb.members(false).unwrap().iter().any(|m| {
            m.device_id == a.mapeo.device_id()
                && m.role == Role::Creator
                && m.name.as_deref() == Some("Ana")
                && m.device_type == Some(DeviceType::Mobile)
                && m.joined_at.is_none()
        })
    })
    .await;
    assert_eq!(b_member(&pb).unwrap().role, Role::Member);
    assert_eq!(pb.settings().unwrap().name.as_deref(), Some("River watch"));
}

#[tokio::test]
async fn rejected_and_canceled_invites_end_with_their_outcome() {
    let (a, b, pa) = connected_pair().await;
    let (outcome, rejected) = tokio::join!(invite(&a, &b, &pa, InviteRole::Coordinator), async {
        let invite = pending_on(&b).await;
        assert_eq!(invite.role, InviteRole::Coordinator);
        b.mapeo.reject_invite(invite.invite_id)
    });
    rejected.unwrap();
    assert_eq!(outcome.unwrap(), InviteOutcome::Rejected);
    assert_eq!(b.mapeo.received_invites()[0].state, InviteState::Rejected);

    let (outcome, ()) = tokio::join!(invite(&a, &b, &pa, InviteRole::Member), async {
        let invite = pending_on(&b).await;
        a.mapeo.cancel_invite(invite.invite_id).unwrap();
    });
    assert_eq!(outcome.unwrap(), InviteOutcome::Canceled);
    eventually("b sees the invite canceled", || {
        b.mapeo
            .received_invites()
            .last()
            .is_some_and(|i| i.state == InviteState::Canceled)
    })
    .await;
    assert!(b.mapeo.pending_invites().is_empty());
    assert_eq!(b.mapeo.project_status(pa.project_id()).unwrap(), None);
    assert!(
        !pa.members(true)
            .unwrap()
            .iter()
            .any(|m| m.device_id == b.mapeo.device_id())
    );
}

#[tokio::test]
async fn bad_invite_calls_are_typed_errors_and_change_nothing() {
    let (a, b) = (device("Ana"), device("Bo"));
    let pa = a.mapeo.create_project(ProjectSettings::default()).unwrap();
    let unknown = "00112233445566778899aabbccddeeff".to_owned();
    assert!(matches!(
        b.mapeo.accept_invite(unknown.clone()).await,
        Err(MapeoError::NotFound { .. })
    ));
    assert!(matches!(
        b.mapeo.reject_invite(unknown.clone()),
        Err(MapeoError::NotFound { .. })
    ));
    assert!(matches!(
        a.mapeo.cancel_invite(unknown),
        Err(MapeoError::NotFound { .. })
    ));
    assert!(matches!(
        b.mapeo.accept_invite("not an invite id".into()).await,
        Err(MapeoError::InvalidInput { .. })
    ));
    // B is not connected.
    assert!(matches!(
        a.mapeo
            .invite(
                pa.project_id(),
                b.mapeo.device_id(),
                InviteRole::Member,
                None,
                None
            )
            .await,
        Err(MapeoError::Invite { .. })
    ));
    assert!(matches!(
        a.mapeo
            .invite(
                pa.project_id(),
                "beef".into(),
                InviteRole::Member,
                None,
                None
            )
            .await,
        Err(MapeoError::InvalidInput { .. })
    ));
    assert!(matches!(
        pa.remove_member(a.mapeo.device_id(), None),
        Err(MapeoError::NotAllowed { .. })
    ));
    assert!(b.mapeo.received_invites().is_empty());
    assert!(a.mapeo.sent_invites().is_empty());
    assert!(b.mapeo.list_projects().unwrap().is_empty());
    assert_eq!(pa.members(true).unwrap().len(), 1);
}

#[tokio::test]
async fn a_removed_member_is_listed_only_with_the_inactive() {
    let (a, b, pa, pb) = members_pair().await;
    // A member may not remove anyone.
    assert!(matches!(
        pb.remove_member(a.mapeo.device_id(), None),
        Err(MapeoError::NotAllowed { .. })
    ));
    pa.remove_member(b.mapeo.device_id(), Some("left the team".into()))
        .unwrap();
    let active = pa.members(false).unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].device_id, a.mapeo.device_id());
    let all = pa.members(true).unwrap();
    let removed = all
        .iter()
        .find(|m| m.device_id == b.mapeo.device_id())
        .expect("listed with the inactive");
    assert_eq!(removed.role, Role::Blocked);
    eventually("b learns it was removed", || {
        pb.own_role().unwrap() == Role::Blocked
    })
    .await;
}

#[tokio::test]
async fn a_photo_added_on_one_device_arrives_on_the_other_with_its_thumbnail() {
    let (a, b, pa, pb) = members_pair().await;
    pb.set_blob_policy(mapeo_ffi::previews_only_blob_policy());
    assert_eq!(pb.blob_policy(), mapeo_ffi::previews_only_blob_policy());

    let photo_path = a.dir.path().join("IMG_0001.jpg");
    std::fs::write(&photo_path, jpeg(1000, 750)).unwrap();
    let att = pa
        .add_attachment_from_path(photo_path.to_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(att.name, "IMG_0001.jpg");
    assert_eq!(att.kind, AttachmentKind::Photo);
    let files = pa.attachment_files(att.clone()).unwrap();
    let variants: Vec<_> = files.iter().map(|f| f.variant).collect();
    assert_eq!(
        variants,
        [
            AttachmentVariant::Original,
            AttachmentVariant::Preview,
            AttachmentVariant::Thumbnail
        ]
    );
    assert_eq!(files[0].hash, att.hash);
    assert!(
        files
            .iter()
            .all(|f| f.mime_type == "image/jpeg" && f.size > 0)
    );
    for f in &files {
        assert!(
            pa.attachment_bytes(att.clone(), f.variant)
                .unwrap()
                .is_some()
        );
    }
    let obs = pa
        .create_observation(Observation {
            lat: Some(-3.4653),
            lon: Some(-62.2159),
            attachments: vec![att.clone()],
            ..Default::default()
        })
        .unwrap();

    let states = Arc::new(Mutex::new(Vec::<PeerSyncState>::new()));
    eventually("the thumbnail arrives on b", || {
        *states.lock().unwrap() = b.mapeo.sync_state(pa.project_id()).unwrap();
        pb.attachment_bytes(att.clone(), AttachmentVariant::Thumbnail)
            .unwrap()
            .is_some()
    })
    .await;
    b.mapeo
        .wait_for_sync(pa.project_id(), SyncPhase::Full, 10_000)
        .await
        .unwrap();
    assert_eq!(
        pb.get_observation(obs.meta.doc_id.clone())
            .unwrap()
            .value
            .attachments,
        vec![att.clone()]
    );
    assert_eq!(pb.attachment_files(att.clone()).unwrap(), files);
    let bytes = pb
        .attachment_bytes(att.clone(), AttachmentVariant::Thumbnail)
        .unwrap()
        .unwrap();
    assert_eq!(
        image::guess_format(&bytes).unwrap(),
        image::ImageFormat::Jpeg
    );
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (400, 300));
    // The phone's policy skips originals.
    assert!(
        pb.attachment_bytes(att.clone(), AttachmentVariant::Original)
            .unwrap()
            .is_none()
    );
    let state = b.mapeo.sync_state(pa.project_id()).unwrap().remove(0);
    assert!(state.peer_blobs_known);
    assert_eq!(state.blobs_wanted, 0);
    assert!(state.blob_bytes_received >= files[2].size as u64);
    assert_eq!(
        pb.list_observations(Query::default()).unwrap()[0]
            .meta
            .doc_id,
        obs.meta.doc_id
    );
}

#[tokio::test]
async fn a_file_that_is_not_media_is_refused_and_nothing_is_stored() {
    let d = device("Ana");
    let p = d.mapeo.create_project(ProjectSettings::default()).unwrap();
    let text = d.dir.path().join("notes.jpg");
    std::fs::write(&text, "not a photo, whatever the name says").unwrap();
    let before = files_under(&d.dir.path().join("projects"));
    let err = p
        .add_attachment_from_path(text.to_str().unwrap().to_owned())
        .unwrap_err();
    assert!(matches!(err, MapeoError::Attachment { .. }), "{err:?}");
    assert!(!err.to_string().contains("notes"), "{err}");
    // A photo that does not decode: the start of a JPEG, then nothing.
    let cut = jpeg(800, 600)[..600].to_vec();
    assert!(matches!(
        p.add_attachment_from_bytes(cut, "cut.jpg".into()),
        Err(MapeoError::Attachment { .. })
    ));
    assert!(matches!(
        p.add_attachment_from_bytes(Vec::new(), "empty.jpg".into()),
        Err(MapeoError::Attachment { .. })
    ));
    let missing = d.dir.path().join("gone.jpg");
    assert!(matches!(
        p.add_attachment_from_path(missing.to_str().unwrap().to_owned()),
        Err(MapeoError::Attachment { .. })
    ));
    let after = files_under(&d.dir.path().join("projects"));
    let blobs = |files: &[std::path::PathBuf]| {
        files
            .iter()
            .filter(|f| f.components().any(|c| c.as_os_str() == "blobs"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(blobs(&after), blobs(&before), "a refused file left blobs");
    // And the project has no blob index for any of them: an unknown attachment has no files.
    let unknown = mapeo_ffi::Attachment {
        name: "x.jpg".into(),
        kind: AttachmentKind::Photo,
        hash: "00".repeat(32),
    };
    assert!(p.attachment_files(unknown.clone()).unwrap().is_empty());
    assert!(
        p.attachment_bytes(unknown, AttachmentVariant::Thumbnail)
            .unwrap()
            .is_none()
    );

    // Bytes of a real photo work, and the same photo again is the same attachment.
    let photo = jpeg(640, 480);
    let first = p
        .add_attachment_from_bytes(photo.clone(), "a.jpg".into())
        .unwrap();
    let again = p.add_attachment_from_bytes(photo, "a.jpg".into()).unwrap();
    assert_eq!(first, again);
    assert_eq!(p.attachment_files(first).unwrap().len(), 3);
}

#[tokio::test]
async fn the_blob_policy_is_the_cores_and_the_device_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = mapeo_ffi::generate_root_key();
    let path = dir.path().to_str().unwrap().to_owned();
    let archive = mapeo_ffi::archive_blob_policy();
    let phone = mapeo_ffi::previews_only_blob_policy();
    assert!(archive.photo_original && archive.audio && archive.video);
    assert!(!phone.photo_original && phone.photo_preview && phone.photo_thumbnail);
    assert!(!phone.audio && !phone.video);
    {
        let m = Mapeo::open(path.clone(), key.clone()).unwrap();
        assert_eq!(m.blob_policy().unwrap(), archive, "the default");
        let p = m.create_project(ProjectSettings::default()).unwrap();
        assert_eq!(p.blob_policy(), archive);
        m.set_blob_policy(phone).unwrap();
        assert_eq!(p.blob_policy(), phone, "open projects follow");
        let custom = mapeo_ffi::BlobPolicy {
            audio: true,
            ..phone
        };
        p.set_blob_policy(custom);
        assert_eq!(p.blob_policy(), custom);
    }
    let m = Mapeo::open(path, key).unwrap();
    assert_eq!(m.blob_policy().unwrap(), phone, "kept across restarts");
    let id = m.list_projects().unwrap()[0].project_id.clone();
    assert_eq!(m.open_project(id).unwrap().blob_policy(), phone);
}
