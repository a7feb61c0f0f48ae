"""Two devices in one Python process, through the generated Python bindings and the host build
of the native library: a project created on one, the other invited over 127.0.0.1 and
accepting, an observation with a photo synced with its thumbnail; listeners; typed errors;
cancelled coroutines."""

import io
import asyncio
import threading
import time

import pytest
from PIL import Image

import mapeo_ffi as m

WAIT_S = 30.0
UNKNOWN_INVITE = "00112233445566778899aabbccddeeff"


def eventually(what, check):
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.02)


async def eventually_async(what, check):
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)


def notes(text):
    return m.Observation(
        lat=-3.4653,
        lon=-62.2159,
        tags={
            "notes": m.TagValue.TEXT(value=text),
            "seen": m.TagValue.LIST_OF(
                items=[m.TagPrimitive.TEXT(value="jaguar"), m.TagPrimitive.NUMBER(value=2.0)]
            ),
        },
    )


def write_jpeg(path, width, height):
    """A real JPEG of width x height pixels (a gradient), written with Pillow."""
    image = Image.new("RGB", (width, height))
    image.putdata([(x % 256, y % 256, (x + y) % 256) for y in range(height) for x in range(width)])
    image.save(path, format="JPEG", quality=90)


class Recorder:
    """Every call a listener got, in order; called from the library's threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls = []

    def add(self, value):
        with self._lock:
            self._calls.append(value)

    def calls(self):
        with self._lock:
            return list(self._calls)


class SyncRecorder(m.SyncListener):
    def __init__(self):
        self.rec = Recorder()

    def on_sync_state(self, project_id, peers):
        self.rec.add(peers)


class PeerRecorder(m.PeerListener):
    def __init__(self):
        self.rec = Recorder()

    def on_peers(self, peers):
        self.rec.add(peers)


class RoleRecorder(m.RoleListener):
    def __init__(self):
        self.rec = Recorder()

    def on_role(self, role):
        self.rec.add(role)


class InviteRecorder(m.InviteListener):
    def __init__(self):
        self.rec = Recorder()

    def on_invites(self, invites):
        self.rec.add(invites)


class Throwing(m.SyncListener):
    def on_sync_state(self, project_id, peers):
        raise RuntimeError("the app's listener broke")


class ThrowingInvites(m.InviteListener):
    def on_invites(self, invites):
        raise RuntimeError("the app's listener broke")


@pytest.fixture
def devices(tmp_path):
    a = m.Mapeo.open(str(tmp_path / "a"), m.generate_root_key())
    b = m.Mapeo.open(str(tmp_path / "b"), m.generate_root_key())
    a.set_device_info(m.DeviceInfo(name="Ana", device_type=m.DeviceType.MOBILE))
    b.set_device_info(m.DeviceInfo(name="Bo", device_type=m.DeviceType.TABLET))
    return a, b


async def connect(a, b):
    """b connects to a over 127.0.0.1 (port 0: a free one), and a lists b as connected (as an
    app offers invites from its peer list: b's connect returns before a has the session)."""
    assert await b.connect(await a.start_listening("127.0.0.1:0")) == a.device_id()
    await eventually_async(
        "a sees b connected",
        lambda: any(p.device_id == b.device_id() and p.connected for p in a.peers()),
    )


async def pending_on(b):
    """The first invite b sees pending, once it has arrived."""
    await eventually_async("the invite reaches b", lambda: b.pending_invites())
    return b.pending_invites()[0]


async def join_by_invite(a, b):
    """a creates a project; b connects, a invites it as a member and b accepts. Both sync
    data."""
    pa = a.create_project(m.ProjectSettings(name="River watch"))
    await connect(a, b)
    inviting = asyncio.ensure_future(
        a.invite(pa.project_id(), b.device_id(), m.InviteRole.MEMBER, None, None)
    )
    pb = await b.accept_invite((await pending_on(b)).invite_id)
    assert await inviting == m.InviteOutcome.ACCEPTED
    a.start_sync(pa.project_id())
    b.start_sync(pa.project_id())
    return pa, pb


def joined(a, b):
    return asyncio.run(join_by_invite(a, b))


def test_an_invited_device_accepts_and_a_photo_observation_reaches_it_with_its_thumbnail(
    devices, tmp_path
):
    a, b = devices
    pa = a.create_project(m.ProjectSettings(name="River watch"))
    invites = InviteRecorder()
    invite_handle = b.subscribe_invites(invites)
    throwing = b.subscribe_invites(ThrowingInvites())
    eventually("the current (empty) invite list first", lambda: invites.rec.calls())
    assert invites.rec.calls()[0] == []
    assert b.project_status(pa.project_id()) is None

    def last_state():
        calls = invites.rec.calls()
        return calls[-1][0].state if calls and len(calls[-1]) == 1 else None

    async def invite_and_accept():
        await connect(a, b)
        # A invites (waiting for the answer) while B's listener sees the invite.
        inviting = asyncio.ensure_future(
            a.invite(pa.project_id(), b.device_id(), m.InviteRole.MEMBER, "Monitor", None)
        )
        await eventually_async(
            "b's listener sees the pending invite", lambda: last_state() == m.InviteState.PENDING
        )
        invite = invites.rec.calls()[-1][0]
        assert invite.project_id == pa.project_id()
        assert invite.project_name == "River watch"
        assert invite.inviter_name == "Ana"
        assert invite.inviter_device_id == a.device_id()
        assert invite.role == m.InviteRole.MEMBER
        assert invite.role_name == "Monitor"
        assert b.pending_invites() == [invite]
        assert [s.invite_id for s in a.sent_invites()] == [invite.invite_id]
        pb = await b.accept_invite(invite.invite_id)
        assert await inviting == m.InviteOutcome.ACCEPTED
        return pb

    pb = asyncio.run(invite_and_accept())
    assert pb.project_id() == pa.project_id()
    assert b.project_status(pa.project_id()) == m.ProjectStatus.JOINED
    assert b.pending_invites() == []
    eventually(
        "b's listener sees the invite accepted", lambda: last_state() == m.InviteState.ACCEPTED
    )
    invite_handle.cancel()
    throwing.cancel()

    # Both list B as a member.
    def role_of(project, device):
        return next(x.role for x in project.members(False) if x.device_id == device)

    assert role_of(pa, b.device_id()) == m.Role.MEMBER
    assert role_of(pb, b.device_id()) == m.Role.MEMBER
    assert role_of(pb, a.device_id()) == m.Role.CREATOR
    eventually(
        "b's name reaches a",
        lambda: any(x.device_id == b.device_id() and x.name == "Bo" for x in pa.members(False)),
    )

    # B is a phone: previews and thumbnails only. Then both sync data.
    pb.set_blob_policy(m.previews_only_blob_policy())
    states = SyncRecorder()
    sync_handle = b.subscribe_sync(pa.project_id(), states)
    eventually("the current sync state first", lambda: states.rec.calls())
    a.start_sync(pa.project_id())
    b.start_sync(pa.project_id())

    # A takes a photo (a real JPEG, larger than a thumbnail) and records an observation.
    photo_path = tmp_path / "IMG_0001.jpg"
    write_jpeg(photo_path, 1200, 900)
    photo = pa.add_attachment_from_path(str(photo_path))
    assert photo.kind == m.AttachmentKind.PHOTO
    assert photo.name == "IMG_0001.jpg"
    files = pa.attachment_files(photo)
    assert [f.variant for f in files] == [
        m.AttachmentVariant.ORIGINAL,
        m.AttachmentVariant.PREVIEW,
        m.AttachmentVariant.THUMBNAIL,
    ]
    assert files[0].hash == photo.hash
    value = notes("oil on the water")
    value.attachments = [photo]
    created = pa.create_observation(value)
    # The writer waits: only it knows of the new entry until the peer confirms it.
    asyncio.run(a.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 10_000))
    got = pb.get_observation(created.meta.doc_id)
    assert got == created
    assert got.value.attachments == [photo]
    assert got.value.tags["seen"] == notes("x").tags["seen"]
    assert pb.list_observations(m.Query()) == [created]

    eventually(
        "the thumbnail reaches b",
        lambda: pb.attachment_bytes(photo, m.AttachmentVariant.THUMBNAIL) is not None,
    )
    thumbnail = pb.attachment_bytes(photo, m.AttachmentVariant.THUMBNAIL)
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.format == "JPEG"
        assert max(image.size) <= 400, image.size
        assert image.size == (400, 300)
    assert pb.attachment_files(photo) == files
    eventually(
        "the preview reaches b",
        lambda: pb.attachment_bytes(photo, m.AttachmentVariant.PREVIEW) is not None,
    )
    asyncio.run(b.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 10_000))
    assert pb.attachment_bytes(photo, m.AttachmentVariant.ORIGINAL) is None, "a phone skips originals"
    eventually(
        "a fully synced state with the blob bytes",
        lambda: (c := states.rec.calls())
        and len(c[-1]) == 1
        and c[-1][0].fully_synced
        and c[-1][0].blob_bytes_received >= files[2].size,
    )
    assert states.rec.calls()[-1][0].peer == a.device_id()
    sync_handle.cancel()


def test_listeners_get_the_current_value_first_then_changes_until_cancelled(devices):
    a, b = devices
    peers = PeerRecorder()
    peer_handle = b.subscribe_peers(peers)
    eventually("the current peer list", lambda: peers.rec.calls())
    assert peers.rec.calls()[0] == []

    pa, pb = joined(a, b)
    eventually(
        "the connected peer",
        lambda: (c := peers.rec.calls())
        and len(c[-1]) == 1
        and c[-1][0].connected
        and c[-1][0].name == "Ana",
    )
    roles = RoleRecorder()
    role_handle = pb.subscribe_own_role(roles)
    eventually("the current role", lambda: roles.rec.calls())
    assert roles.rec.calls()[0] == m.Role.MEMBER
    pa.assign_role(b.device_id(), m.AssignableRole.COORDINATOR)
    eventually("the new role", lambda: roles.rec.calls()[-1] == m.Role.COORDINATOR)
    calls = peers.rec.calls()
    assert all(x != y for x, y in zip(calls, calls[1:])), calls

    peer_handle.cancel()
    del role_handle  # dropping the handle ends the subscription too
    seen = len(peers.rec.calls())
    asyncio.run(b.disconnect_all())
    time.sleep(0.5)
    assert len(peers.rec.calls()) == seen, "a cancelled listener was called"


def test_a_listener_that_throws_does_not_stop_sync_or_other_listeners(devices):
    a, b = devices
    pa, pb = joined(a, b)
    throwing = b.subscribe_sync(pa.project_id(), Throwing())
    states = SyncRecorder()
    working = b.subscribe_sync(pa.project_id(), states)
    for i in range(5):
        pa.create_observation(notes(f"tree {i}"))
    # The writer waits: only it knows of the new entries until the peer confirms them.
    asyncio.run(a.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 10_000))
    assert len(pb.list_observations(m.Query())) == 5
    eventually(
        "the working listener saw the sync",
        lambda: (c := states.rec.calls()) and len(c[-1]) == 1 and c[-1][0].fully_synced,
    )
    throwing.cancel()
    working.cancel()


def test_errors_arrive_as_typed_exceptions_without_personal_data(devices, tmp_path):
    a, b = devices
    project = a.create_project(m.ProjectSettings())
    with pytest.raises(m.MapeoError.InvalidInput) as invalid:
        project.create_observation(m.Observation(lat=123.456, lon=7.89))
    assert "123.456" not in invalid.value.reason
    with pytest.raises(m.MapeoError.NotFound):
        project.get_observation("0123456789abcdef")
    with pytest.raises(m.MapeoError.InvalidInput):
        a.open_project("not hex")
    with pytest.raises(m.MapeoError.NotListening):
        a.connection_code()
    with pytest.raises(m.MapeoError.FolderInUse) as in_use:
        m.Mapeo.open(str(tmp_path / "a"), m.generate_root_key())
    assert str(tmp_path) not in str(in_use.value)
    key = m.generate_root_key()
    asyncio.run(m.Mapeo.open(str(tmp_path / "c"), key).close())
    with pytest.raises(m.MapeoError.WrongRootKey) as wrong_key:
        m.Mapeo.open(str(tmp_path / "c"), m.generate_root_key())
    assert str(tmp_path) not in str(wrong_key.value)
    with pytest.raises(m.MapeoError.InvalidInput):
        asyncio.run(a.connect("not an address"))

    # Invites: unknown ids, a device that is not connected, a rule the core enforces.
    with pytest.raises(m.MapeoError.NotFound):
        asyncio.run(b.accept_invite(UNKNOWN_INVITE))
    with pytest.raises(m.MapeoError.InvalidInput):
        asyncio.run(b.accept_invite("not an invite id"))
    with pytest.raises(m.MapeoError.NotFound):
        b.reject_invite(UNKNOWN_INVITE)
    with pytest.raises(m.MapeoError.NotFound):
        a.cancel_invite(UNKNOWN_INVITE)
    with pytest.raises(m.MapeoError.Invite):
        asyncio.run(a.invite(project.project_id(), b.device_id(), m.InviteRole.MEMBER, None, None))
    with pytest.raises(m.MapeoError.NotAllowed):
        project.remove_member(a.device_id(), None)
    assert b.received_invites() == []
    assert b.list_projects() == []

    # A file that is not a photo, whatever its name says: refused, nothing recorded.
    not_photo = tmp_path / "notes.jpg"
    not_photo.write_text("not a photo")
    with pytest.raises(m.MapeoError.Attachment) as refused:
        project.add_attachment_from_path(str(not_photo))
    assert str(tmp_path) not in refused.value.reason
    with pytest.raises(m.MapeoError.Attachment):
        project.add_attachment_from_bytes(b"\x01\x02\x03", "x.jpg")

    kept = project.create_observation(notes("kept"))
    with pytest.raises(m.MapeoError.NotFound):
        project.delete_preset(kept.meta.doc_id)
    assert project.get_observation(kept.meta.doc_id) == kept
    key = m.generate_root_key()
    assert m.root_key_from_backup_code(m.backup_code(key).lower()) == key
    with pytest.raises(m.MapeoError.InvalidInput):
        m.root_key_from_backup_code("AAAA")


def test_a_cancelled_coroutine_stops_its_call_in_the_core(devices):
    a, b = devices
    pa, _ = joined(a, b)
    before = m.running_tasks()

    async def cancel_calls():
        # An invite in flight that B never answers: cancelling the task ends the call.
        second = a.create_project(m.ProjectSettings(name="Second"))
        inviting = asyncio.ensure_future(
            a.invite(second.project_id(), b.device_id(), m.InviteRole.MEMBER, None, None)
        )
        pending = await pending_on(b)
        assert pending.project_id == second.project_id()
        await eventually_async(
            "the invite running in the core", lambda: m.running_tasks().calls > before.calls
        )
        inviting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await inviting
        await eventually_async(
            "the invite call ended", lambda: m.running_tasks().calls == before.calls
        )
        assert a.sent_invites() == []
        # An answer to a call that is gone changes nothing on A.
        b.reject_invite(pending.invite_id)
        assert b.project_status(second.project_id()) is None

        # Nobody is connected, so this would wait the whole minute.
        await b.disconnect_all()
        waiting = asyncio.ensure_future(b.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 60_000))
        await eventually_async(
            "the call running in the core", lambda: m.running_tasks().calls > before.calls
        )
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await eventually_async("the core call ended", lambda: m.running_tasks().calls == before.calls)
        # The device still works after the cancellations.
        await connect(a, b)
        await b.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 10_000)

    asyncio.run(cancel_calls())
    handles = [b.subscribe_peers(PeerRecorder()), b.subscribe_invites(InviteRecorder())]
    eventually(
        "the listeners running", lambda: m.running_tasks().listeners == before.listeners + 2
    )
    for handle in handles:
        handle.cancel()
    eventually("the listeners ended", lambda: m.running_tasks().listeners == before.listeners)
