//! Invites over real connections (Noise over TCP on 127.0.0.1): accept, reject, cancel,
//! "already", a connection lost or a device restarted at every step (both sides always
//! agree, and the invite can be retried), removing and re-inviting, leaving and rejoining,
//! and a chain of invites.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::time::Duration;

use common::{Device, eventually, loopback, observation};
use mapeo_core::invites::{InviteId, InviteRole, InviteState};
use mapeo_core::manager::{InviteFault, InviteOutcome};
use mapeo_core::schema::{
    DeviceInfo, DeviceType, DocType, DocValue, Geometry, Preset, ProjectSettings,
};
use mapeo_core::sync::SyncPhase;
use mapeo_core::{Error, PeerRole, ProjectId, ProjectStatus, Query};

const WAIT: Duration = Duration::from_secs(20);

fn named(seed: u8, name: &str) -> Device {
    let d = Device::new(seed);
    d.manager
        .set_device_info(DeviceInfo {
            name: name.into(),
            device_type: DeviceType::Mobile,
        })
        .unwrap();
    d
}

/// `a` listens, `b` connects to it; waits until both see the connection.
async fn link(a: &Device, b: &Device) {
    let addr = match a.manager.listening_on() {
        Some(addr) => addr,
        None => a.manager.start_listening(loopback()).await.unwrap(),
    };
    b.manager.connect(addr).await.unwrap();
    let (ia, ib) = (a.manager.device_id(), b.manager.device_id());
    eventually("both connected", WAIT, || {
        a.manager
            .peers()
            .iter()
            .any(|p| p.device_id == ib && p.connected)
            && b.manager
                .peers()
                .iter()
                .any(|p| p.device_id == ia && p.connected)
    })
    .await;
}

async fn unlink(a: &Device) {
    a.manager.disconnect_all().await;
}

/// The next pending invite `d` sees.
async fn pending(d: &Device) -> InviteId {
    let mut rx = d.manager.subscribe_invites();
    tokio::time::timeout(
        WAIT,
        rx.wait_for(|m| m.values().any(|i| i.state == InviteState::Pending)),
    )
    .await
    .expect("an invite arrives")
    .unwrap();
    d.manager.pending_invites()[0].offer.id
}

fn state_of(d: &Device, id: InviteId) -> InviteState {
    d.manager
        .received_invites()
        .into_iter()
        .find(|i| i.offer.id == id)
        .unwrap()
        .state
}

fn role_on(inviter: &Device, project: &ProjectId, of: &Device) -> PeerRole {
    inviter
        .manager
        .open_project(project)
        .unwrap()
        .role(&of.manager.device_id())
        .unwrap()
}

fn status(d: &Device, project: &ProjectId) -> Option<ProjectStatus> {
    d.manager.project_status(project).unwrap()
}

/// Invites `b` and has it accept; returns both results.
async fn invite_and_accept(
    a: &Device,
    b: &Device,
    project: &ProjectId,
    role: InviteRole,
) -> (Result<InviteOutcome, Error>, Result<ProjectId, Error>) {
    tokio::join!(
        a.manager
            .invite(project, b.manager.device_id(), role, None, None),
        async {
            let id = pending(b).await;
            b.manager.accept_invite(id).await
        }
    )
}

fn project_with_data(a: &Device) -> ProjectId {
    let p = a
        .manager
        .create_project(ProjectSettings {
            name: Some("Río Negro monitoring".into()),
            project_description: Some("Mining along the river".into()),
            project_color: Some("#22aa66".into()),
            ..ProjectSettings::default()
        })
        .unwrap();
    p.create(DocValue::Preset(Preset {
        name: "Mining".into(),
        geometry: vec![Geometry::Point],
        ..Default::default()
    }))
    .unwrap();
    p.create(observation(1.0, 1.0, "dredge seen")).unwrap();
    a.manager.start_sync(&p.id()).unwrap();
    p.id()
}

/// Neither side counts `b` a member, and no invite is left under way.
fn member_on_neither(a: &Device, b: &Device, project: &ProjectId) {
    assert_eq!(role_on(a, project, b), PeerRole::NoRole);
    assert_ne!(status(b, project), Some(ProjectStatus::Joined));
    assert!(a.manager.sent_invites().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_invite_makes_a_member_on_both_sides_and_data_syncs() {
    let a = named(1, "Coordinator laptop");
    let b = named(2, "Ana's phone");
    let project = project_with_data(&a);
    link(&a, &b).await;
    let (out, joined) = tokio::join!(
        a.manager.invite(
            &project,
            b.manager.device_id(),
            InviteRole::Member,
            Some("Monitor".into()),
            Some("Records observations".into()),
        ),
        async {
            let id = pending(&b).await;
            let offer = b.manager.pending_invites()[0].offer.clone();
            assert_eq!(offer.project_id, project);
            assert_eq!(offer.project_name.as_deref(), Some("Río Negro monitoring"));
            assert_eq!(offer.project_color.as_deref(), Some("#22aa66"));
            assert_eq!(offer.role, InviteRole::Member);
            assert_eq!(offer.role_name.as_deref(), Some("Monitor"));
            assert_eq!(offer.inviter_name, "Coordinator laptop");
            assert_eq!(b.manager.received_invites()[0].from, a.manager.device_id());
            // Before accepting, b holds nothing of the project.
            assert_eq!(status(&b, &project), None);
            b.manager.accept_invite(id).await
        }
    );
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
    assert_eq!(status(&b, &project), Some(ProjectStatus::Joined));
    assert_eq!(role_on(&a, &project, &b), PeerRole::Member);
    let id = b.manager.received_invites()[0].offer.id;
    assert_eq!(state_of(&b, id), InviteState::Accepted);
    let pb = b.manager.open_project(&project).unwrap();
    assert_eq!(
        pb.settings().unwrap().name.as_deref(),
        Some("Río Negro monitoring")
    );
    assert_eq!(pb.list(&Query::all(DocType::Preset)).unwrap().len(), 1);
    let names: Vec<Option<String>> = pb
        .members(false)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(names.contains(&Some("Coordinator laptop".into())));
    assert!(names.contains(&Some("Ana's phone".into())));
    // Data flows both ways once b turns sync on.
    b.manager.start_sync(&project).unwrap();
    pb.create(observation(2.0, 2.0, "from Ana")).unwrap();
    let pa = a.manager.open_project(&project).unwrap();
    eventually("data both ways", WAIT, || {
        pa.list(&Query::all(DocType::Observation)).unwrap().len() == 2
            && pb.list(&Query::all(DocType::Observation)).unwrap().len() == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_invite_leaves_nothing_behind() {
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    link(&a, &b).await;
    let (out, ()) = tokio::join!(
        a.manager.invite(
            &project,
            b.manager.device_id(),
            InviteRole::Member,
            None,
            None
        ),
        async {
            let id = pending(&b).await;
            b.manager.reject_invite(id).unwrap();
            assert_eq!(state_of(&b, id), InviteState::Rejected);
            assert!(matches!(
                b.manager.accept_invite(id).await,
                Err(Error::InviteNotPending)
            ));
        }
    );
    assert_eq!(out.unwrap(), InviteOutcome::Rejected);
    member_on_neither(&a, &b, &project);
    assert_eq!(status(&b, &project), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_invite_can_be_sent_again_and_accepted() {
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    link(&a, &b).await;
    let (out, ()) = tokio::join!(
        a.manager.invite(
            &project,
            b.manager.device_id(),
            InviteRole::Member,
            None,
            None
        ),
        async {
            let id = pending(&b).await;
            // One pending invite per device and project.
            assert!(matches!(
                a.manager
                    .invite(
                        &project,
                        b.manager.device_id(),
                        InviteRole::Member,
                        None,
                        None
                    )
                    .await,
                Err(Error::InvitePending)
            ));
            let sent: Vec<InviteId> = a.manager.sent_invites().into_keys().collect();
            assert_eq!(sent, vec![id]);
            a.manager.cancel_invite(id).unwrap();
            eventually("b sees the cancel", WAIT, || {
                state_of(&b, id) == InviteState::Canceled
            })
            .await;
            assert!(matches!(
                b.manager.accept_invite(id).await,
                Err(Error::InviteNotPending)
            ));
        }
    );
    assert_eq!(out.unwrap(), InviteOutcome::Canceled);
    member_on_neither(&a, &b, &project);
    assert!(matches!(
        a.manager.cancel_invite(InviteId([7; 16])),
        Err(Error::NotFound { .. })
    ));
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_one_of_two_invites_answers_already_to_the_other_and_to_later_ones() {
    let a = named(1, "A");
    let c = named(3, "C");
    let b = named(2, "B");
    let project = project_with_data(&a);
    link(&a, &c).await;
    let (out, joined) = invite_and_accept(&a, &c, &project, InviteRole::Coordinator).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
    link(&a, &b).await;
    link(&c, &b).await;
    let ib = b.manager.device_id();
    let (from_a, from_c, joined) = tokio::join!(
        a.manager
            .invite(&project, ib, InviteRole::Member, None, None),
        async {
            // c waits until a's invite is in, so b has two.
            pending(&b).await;
            c.manager
                .invite(&project, ib, InviteRole::Member, None, None)
                .await
        },
        async {
            let mut rx = b.manager.subscribe_invites();
            tokio::time::timeout(
                WAIT,
                rx.wait_for(|m| {
                    m.values()
                        .filter(|i| i.state == InviteState::Pending)
                        .count()
                        == 2
                }),
            )
            .await
            .unwrap()
            .unwrap();
            let from_a = b
                .manager
                .pending_invites()
                .into_iter()
                .find(|i| i.from == a.manager.device_id())
                .unwrap()
                .offer
                .id;
            b.manager.accept_invite(from_a).await
        }
    );
    assert_eq!(joined.unwrap(), project);
    assert_eq!(from_a.unwrap(), InviteOutcome::Accepted);
    assert_eq!(from_c.unwrap(), InviteOutcome::Already);
    // A member invited again answers "already" by itself.
    let again = a
        .manager
        .invite(&project, ib, InviteRole::Member, None, None)
        .await
        .unwrap();
    assert_eq!(again, InviteOutcome::Already);
    assert!(b.manager.pending_invites().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_invites_and_members_who_invite_are_clear_errors() {
    let a = named(1, "A");
    let b = named(2, "B");
    let c = named(3, "C");
    let project = project_with_data(&a);
    assert!(matches!(
        b.manager.accept_invite(InviteId([1; 16])).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        b.manager.reject_invite(InviteId([1; 16])),
        Err(Error::NotFound { .. })
    ));
    // Not connected.
    assert!(matches!(
        a.manager
            .invite(
                &project,
                b.manager.device_id(),
                InviteRole::Member,
                None,
                None
            )
            .await,
        Err(Error::NotConnected)
    ));
    link(&a, &b).await;
    let (out, _) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    link(&b, &c).await;
    assert!(matches!(
        b.manager
            .invite(
                &project,
                c.manager.device_id(),
                InviteRole::Member,
                None,
                None
            )
            .await,
        Err(Error::NotAllowed(_))
    ));
    assert!(c.manager.pending_invites().is_empty());
}

/// A lost connection at `fault`, seen from both sides: they agree, and a retry works.
async fn interrupted_at(fault: InviteFault, on_inviter: bool, restart_after: bool) {
    let a = named(1, "A");
    let mut b = named(2, "B");
    let project = project_with_data(&a);
    link(&a, &b).await;
    if on_inviter {
        a.manager.inject_invite_fault(Some(fault));
    } else {
        b.manager.inject_invite_fault(Some(fault));
    }
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert!(
        matches!(out, Err(Error::InviteInterrupted)),
        "{fault:?}: {out:?}"
    );
    assert!(
        matches!(joined, Err(Error::InviteInterrupted)),
        "{fault:?}: {joined:?}"
    );
    if restart_after {
        // And the invitee's process dies right there.
        b.restart();
    }
    unlink(&a).await;
    // Nothing half-done on either side: b is a member on neither.
    member_on_neither(&a, &b, &project);
    // Meeting again changes nothing by itself …
    link(&a, &b).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    member_on_neither(&a, &b, &project);
    // … and the invite can be sent again.
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted, "{fault:?}");
    assert_eq!(joined.unwrap(), project);
    assert_eq!(status(&b, &project), Some(ProjectStatus::Joined));
    assert_eq!(role_on(&a, &project, &b), PeerRole::Member);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_before_the_answer_expires_the_invite_and_a_retry_works() {
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    link(&a, &b).await;
    let (out, ()) = tokio::join!(
        a.manager.invite(
            &project,
            b.manager.device_id(),
            InviteRole::Member,
            None,
            None
        ),
        async {
            let id = pending(&b).await;
            unlink(&b).await;
            eventually("the invite expires", WAIT, || {
                state_of(&b, id) == InviteState::Expired
            })
            .await;
        }
    );
    assert!(matches!(out, Err(Error::InviteInterrupted)));
    member_on_neither(&a, &b, &project);
    link(&a, &b).await;
    let (out, _) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_right_after_accept_leaves_no_member_and_a_retry_works() {
    interrupted_at(InviteFault::AfterAccept, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_while_the_join_details_land_leaves_no_member() {
    interrupted_at(InviteFault::BeforeJoinedSent, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitee_that_dies_holding_the_join_details_can_be_invited_again() {
    interrupted_at(InviteFault::BeforeJoinedSent, false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inviter_that_drops_before_recording_the_role_leaves_no_member() {
    interrupted_at(InviteFault::BeforeRoleRecorded, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_recorded_after_the_connection_dropped_completes_the_join_at_the_next_sync() {
    let a = named(1, "A");
    let mut b = named(2, "B");
    let project = project_with_data(&a);
    link(&a, &b).await;
    a.manager
        .inject_invite_fault(Some(InviteFault::RoleRecordedOffline));
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    // The inviter recorded the role (b is a member from now on); b could not see it yet.
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert!(matches!(joined, Err(Error::InviteInterrupted)));
    assert_eq!(role_on(&a, &project, &b), PeerRole::Member);
    assert_eq!(status(&b, &project), Some(ProjectStatus::Joining));
    // Even across a restart, the next meeting completes it: member on both sides.
    b.restart();
    assert_eq!(status(&b, &project), Some(ProjectStatus::Joining));
    link(&a, &b).await;
    eventually("b's role arrives", WAIT, || {
        status(&b, &project) == Some(ProjectStatus::Joined)
    })
    .await;
    let pb = b.manager.open_project(&project).unwrap();
    assert_eq!(pb.role(&b.manager.device_id()).unwrap(), PeerRole::Member);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_promotes_a_member_who_then_invites_and_the_newcomer_syncs_with_the_first() {
    let a = named(1, "A");
    let b = named(2, "B");
    let c = named(3, "C");
    let project = project_with_data(&a);
    link(&a, &b).await;
    let (out, _) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    let pa = a.manager.open_project(&project).unwrap();
    pa.assign_role(&b.manager.device_id(), PeerRole::Coordinator, None)
        .unwrap();
    let pb = b.manager.open_project(&project).unwrap();
    eventually("b learns it is a coordinator", WAIT, || {
        pb.role(&b.manager.device_id()).unwrap() == PeerRole::Coordinator
    })
    .await;
    link(&b, &c).await;
    let (out, joined) = invite_and_accept(&b, &c, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
    unlink(&b).await;
    // c meets a, who never saw it: a accepts c's data, since b's record of c counts.
    c.manager.start_sync(&project).unwrap();
    let pc = c.manager.open_project(&project).unwrap();
    pc.create(observation(3.0, 3.0, "from C")).unwrap();
    link(&a, &c).await;
    eventually("c's observation on a", WAIT, || {
        pa.list(&Query::all(DocType::Observation)).unwrap().len() == 2
    })
    .await;
    assert_eq!(pa.role(&c.manager.device_id()).unwrap(), PeerRole::Member);
    c.manager
        .wait_for_sync(&project, SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(pc.list(&Query::all(DocType::Observation)).unwrap().len(), 2);
}

/// `a` invites `b` as a member and both sync data.
async fn member(a: &Device, b: &Device, project: &ProjectId) {
    link(a, b).await;
    let (out, _) = invite_and_accept(a, b, project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    b.manager.start_sync(project).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_blocked_while_connected_learns_it_at_once_and_gets_no_more_data() {
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    member(&a, &b, &project).await;
    let pa = a.manager.open_project(&project).unwrap();
    let pb = b.manager.open_project(&project).unwrap();
    eventually("b has a's observation", WAIT, || {
        pb.list(&Query::all(DocType::Observation)).unwrap().len() == 1
    })
    .await;
    let mut role = pb.subscribe_own_role();
    pa.remove_member(&b.manager.device_id(), Some("phone lost".into()))
        .unwrap();
    tokio::time::timeout(WAIT, role.wait_for(|r| *r == PeerRole::Blocked))
        .await
        .expect("b learns it is blocked")
        .unwrap();
    pa.create(observation(5.0, 5.0, "after the block")).unwrap();
    assert!(matches!(
        pb.create(observation(6.0, 6.0, "b after")),
        Err(Error::NotAllowed(_))
    ));
    a.manager
        .wait_for_sync(&project, SyncPhase::Full, WAIT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pb.list(&Query::all(DocType::Observation))
            .unwrap()
            .iter()
            .all(|d| d.created_by == a.manager.device_id() && d.doc.created_at.0 != 0)
    );
    assert_eq!(pb.list(&Query::all(DocType::Observation)).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_blocked_while_away_learns_it_on_reconnect_and_can_be_invited_again() {
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    member(&a, &b, &project).await;
    unlink(&a).await;
    let pa = a.manager.open_project(&project).unwrap();
    let pb = b.manager.open_project(&project).unwrap();
    pa.remove_member(&b.manager.device_id(), None).unwrap();
    // b, not knowing, writes while away: that write is after its block point.
    pb.create(observation(7.0, 7.0, "written while blocked"))
        .unwrap();
    link(&a, &b).await;
    eventually("b learns it is blocked", WAIT, || {
        pb.role(&b.manager.device_id()).unwrap() == PeerRole::Blocked
    })
    .await;
    assert_eq!(pa.list(&Query::all(DocType::Observation)).unwrap().len(), 1);
    // Invited again, it is a member again.
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
    assert_eq!(pa.role(&b.manager.device_id()).unwrap(), PeerRole::Member);
    pb.create(observation(8.0, 8.0, "welcome back")).unwrap();
    eventually("b's new write reaches a", WAIT, || {
        pa.list(&Query::all(DocType::Observation))
            .unwrap()
            .iter()
            .any(|d| d.created_by == b.manager.device_id())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_leaves_tells_its_peers_and_can_rejoin_by_invite() {
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    member(&a, &b, &project).await;
    let pa = a.manager.open_project(&project).unwrap();
    b.manager.leave_project(&project).unwrap();
    eventually("a learns b left", WAIT, || {
        pa.role(&b.manager.device_id()).unwrap() == PeerRole::Left
    })
    .await;
    assert_eq!(status(&b, &project), Some(ProjectStatus::Left));
    assert!(pa.members(false).unwrap().len() == 1);
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
    assert_eq!(status(&b, &project), Some(ProjectStatus::Joined));
    let pb = b.manager.open_project(&project).unwrap();
    b.manager.start_sync(&project).unwrap();
    eventually("a's data again on b", WAIT, || {
        pb.list(&Query::all(DocType::Observation)).unwrap().len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_invites_are_kept_across_a_restart_and_an_unanswered_one_expires() {
    let a = named(1, "A");
    let mut b = named(2, "B");
    let project = project_with_data(&a);
    link(&a, &b).await;
    let (out, id) = tokio::join!(
        a.manager.invite(
            &project,
            b.manager.device_id(),
            InviteRole::Coordinator,
            None,
            None
        ),
        async {
            let id = pending(&b).await;
            b.restart();
            id
        }
    );
    assert!(matches!(out, Err(Error::InviteInterrupted)));
    let kept = b.manager.received_invites();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].offer.id, id);
    assert_eq!(kept[0].offer.role, InviteRole::Coordinator);
    assert_eq!(kept[0].state, InviteState::Expired);
    // Opening the device writes nothing (another process may be running its network beside
    // it); the run that starts listening stores the expiry.
    let stored = || -> String {
        let db = mapeo_core::db::open_plain_file(b.dir.path().join("device.db")).unwrap();
        let key = mapeo_core::at_rest::unlock(
            b.dir.path(),
            &mapeo_core::RootKey::from_bytes([b.seed; 16]),
            &[],
        )
        .unwrap()
        .device_database_key();
        mapeo_core::db::apply_key(&db, &key).unwrap();
        db.query_row(
            "SELECT state FROM received_invites WHERE invite_id = ?1",
            [&id.0[..]],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(stored(), "pending");
    b.manager.start_listening(loopback()).await.unwrap();
    assert_eq!(stored(), "expired");
    assert!(matches!(
        b.manager.accept_invite(id).await,
        Err(Error::InviteNotPending)
    ));
    member_on_neither(&a, &b, &project);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_leaves_and_is_invited_back_over_the_same_connection_gets_everything_at_once()
{
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    member(&a, &b, &project).await;
    let pa = a.manager.open_project(&project).unwrap();
    let pb = b.manager.open_project(&project).unwrap();
    eventually("b has a's observation", WAIT, || {
        pb.list(&Query::all(DocType::Observation)).unwrap().len() == 1
    })
    .await;
    b.manager.leave_project(&project).unwrap();
    eventually("a learns b left", WAIT, || {
        pa.role(&b.manager.device_id()).unwrap() == PeerRole::Left
    })
    .await;
    assert!(pb.list(&Query::all(DocType::Preset)).unwrap().is_empty());
    // Invited back without reconnecting: a must not count on what b purged.
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
    // The invite returns with the initial sync done: name and categories are there.
    assert_eq!(status(&b, &project), Some(ProjectStatus::Joined));
    assert_eq!(
        pb.settings().unwrap().name.as_deref(),
        Some("Río Negro monitoring")
    );
    assert_eq!(pb.list(&Query::all(DocType::Preset)).unwrap().len(), 1);
    // And the others' observations come back without anyone writing anything new.
    b.manager.start_sync(&project).unwrap();
    eventually("a's data again on b", WAIT, || {
        pb.list(&Query::all(DocType::Observation)).unwrap().len() == 1
    })
    .await;
    b.manager
        .wait_for_sync(&project, SyncPhase::Full, WAIT)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitee_that_loses_its_inviter_right_after_its_role_stays_joining_until_the_next_sync()
{
    let a = named(1, "A");
    let b = named(2, "B");
    let project = project_with_data(&a);
    // More configuration than one batch carries, so it cannot all arrive with the role.
    let pa = a.manager.open_project(&project).unwrap();
    for i in 0..600 {
        pa.create(DocValue::Preset(Preset {
            name: format!("Category {i}"),
            geometry: vec![Geometry::Point],
            ..Default::default()
        }))
        .unwrap();
    }
    link(&a, &b).await;
    b.manager
        .inject_invite_fault(Some(InviteFault::AfterRoleArrived));
    let (out, joined) = invite_and_accept(&a, &b, &project, InviteRole::Member).await;
    assert_eq!(out.unwrap(), InviteOutcome::Accepted);
    assert_eq!(joined.unwrap(), project);
    let pb = b.manager.open_project(&project).unwrap();
    assert_eq!(pb.role(&b.manager.device_id()).unwrap(), PeerRole::Member);
    // Whatever made it across before the drop: a project shown as joined has everything.
    let presets = pb.list(&Query::all(DocType::Preset)).unwrap().len();
    if presets < 601 {
        assert_eq!(status(&b, &project), Some(ProjectStatus::Joining));
    }
    link(&a, &b).await;
    eventually("the next sync completes the join", WAIT, || {
        status(&b, &project) == Some(ProjectStatus::Joined)
    })
    .await;
    assert_eq!(pb.list(&Query::all(DocType::Preset)).unwrap().len(), 601);
    assert_eq!(
        pb.settings().unwrap().name.as_deref(),
        Some("Río Negro monitoring")
    );
}
