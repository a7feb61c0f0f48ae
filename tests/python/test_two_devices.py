"""Two devices in one Python process, through the generated Python bindings and the host build
of the native library: a project created on one, joined by the other, synced over 127.0.0.1;
listeners; typed errors; cancelled coroutines."""

import asyncio
import threading
import time

import pytest

import mapeo_ffi as m

WAIT_S = 30.0


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


class Throwing(m.SyncListener):
    def on_sync_state(self, project_id, peers):
        raise RuntimeError("the app's listener broke")


@pytest.fixture
def devices(tmp_path):
    a = m.Mapeo.open(str(tmp_path / "a"), m.generate_root_key())
    b = m.Mapeo.open(str(tmp_path / "b"), m.generate_root_key())
    a.set_device_info(m.DeviceInfo(name="Ana", device_type=m.DeviceType.MOBILE))
    b.set_device_info(m.DeviceInfo(name="Bo", device_type=m.DeviceType.TABLET))
    return a, b


def joined(a, b):
    """a creates a project; b joins it from its join details and is made a member."""
    pa = a.create_project(m.ProjectSettings(name="River watch"))
    pb = b.join_project(a.join_details(pa.project_id()))
    pa.assign_role(b.device_id(), m.AssignableRole.MEMBER)
    a.start_sync(pa.project_id())
    b.start_sync(pa.project_id())
    return pa, pb


def test_an_observation_created_on_one_device_appears_on_the_other(devices):
    a, b = devices
    pa, pb = joined(a, b)
    states = SyncRecorder()
    handle = b.subscribe_sync(pa.project_id(), states)
    eventually("the current sync state first", lambda: states.rec.calls())
    assert states.rec.calls()[0] == []

    async def scenario():
        address = await a.start_listening("127.0.0.1:0")
        assert await b.connect(address) == a.device_id()
        created = pa.create_observation(notes("oil on the water"))
        # The writer waits: only it knows of the new entry until the peer confirms it.
        await a.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 10_000)
        return created

    created = asyncio.run(scenario())
    got = pb.get_observation(created.meta.doc_id)
    assert got == created
    assert got.meta.created_by == a.device_id()
    assert got.value.tags["seen"] == notes("x").tags["seen"]
    assert pb.list_observations(m.Query()) == [created]
    assert pb.settings().name == "River watch"
    assert pb.own_role() == m.Role.MEMBER
    eventually(
        "a fully synced state",
        lambda: (c := states.rec.calls()) and len(c[-1]) == 1 and c[-1][0].fully_synced,
    )
    assert states.rec.calls()[-1][0].peer == a.device_id()
    handle.cancel()


def test_listeners_get_the_current_value_first_then_changes_until_cancelled(devices):
    a, b = devices
    pa, pb = joined(a, b)
    peers = PeerRecorder()
    peer_handle = b.subscribe_peers(peers)
    roles = RoleRecorder()
    role_handle = pb.subscribe_own_role(roles)
    eventually("the current peer list", lambda: peers.rec.calls())
    assert peers.rec.calls()[0] == []
    eventually("the current role", lambda: roles.rec.calls())
    assert roles.rec.calls()[0] == m.Role.NO_ROLE

    async def connect():
        await b.connect(await a.start_listening("127.0.0.1:0"))

    asyncio.run(connect())
    eventually(
        "the connected peer",
        lambda: (c := peers.rec.calls())
        and len(c[-1]) == 1
        and c[-1][0].connected
        and c[-1][0].name == "Ana",
    )
    eventually("the role from the creator", lambda: roles.rec.calls()[-1] == m.Role.MEMBER)
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

    async def sync():
        await b.connect(await a.start_listening("127.0.0.1:0"))
        await b.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 10_000)

    asyncio.run(sync())
    assert len(pb.list_observations(m.Query())) == 5
    eventually(
        "the working listener saw the sync",
        lambda: (c := states.rec.calls()) and len(c[-1]) == 1 and c[-1][0].fully_synced,
    )
    throwing.cancel()
    working.cancel()


def test_errors_arrive_as_typed_exceptions_without_personal_data(devices, tmp_path):
    a, _ = devices
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
    with pytest.raises(m.MapeoError.WrongRootKey) as wrong_key:
        m.Mapeo.open(str(tmp_path / "a"), m.generate_root_key())
    assert str(tmp_path) not in str(wrong_key.value)
    with pytest.raises(m.MapeoError.InvalidInput):
        asyncio.run(a.connect("not an address"))
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

    async def cancel_a_wait():
        # Nobody is connected, so this would wait the whole minute.
        waiting = asyncio.ensure_future(b.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 60_000))
        await eventually_async("the call running in the core", lambda: m.running_tasks().calls > before.calls)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await eventually_async("the core call ended", lambda: m.running_tasks().calls == before.calls)
        # The device still works after the cancellation.
        assert await b.connect(await a.start_listening("127.0.0.1:0")) == a.device_id()
        await b.wait_for_sync(pa.project_id(), m.SyncPhase.FULL, 10_000)

    asyncio.run(cancel_a_wait())
    handle = b.subscribe_peers(PeerRecorder())
    eventually("the listener running", lambda: m.running_tasks().listeners > before.listeners)
    handle.cancel()
    eventually("the listener ended", lambda: m.running_tasks().listeners == before.listeners)
