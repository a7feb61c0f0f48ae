"""The device object's life and the truth of what it shows, through the generated Python
bindings: one open per data folder, a deterministic close, closing one peer's connection, the
caller's own peer list after disconnecting, sync states that say what they cover, readable
records, and a member who leaves and is invited back over a connection that stayed up."""

import asyncio
import time

import pytest

import mapeo_ffi as m

WAIT_S = 30.0


async def eventually_async(what, check):
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)


def open_device(folder, name):
    d = m.Mapeo.open(str(folder), m.generate_root_key())
    d.set_device_info(m.DeviceInfo(name=name, device_type=m.DeviceType.MOBILE))
    return d


def shows_connected(d, peer):
    return any(p.device_id == peer and p.connected for p in d.peers())


async def connect(a, b):
    """b connects to a over 127.0.0.1 (port 0), and a lists b as connected."""
    addr = a.listening_on() or await a.start_listening("127.0.0.1:0")
    assert await b.connect(addr) == a.device_id()
    await eventually_async("a sees b", lambda: shows_connected(a, b.device_id()))


async def invite(a, b, project_id):
    """a invites b as a member and b accepts; returns b's project."""
    inviting = asyncio.ensure_future(
        a.invite(project_id, b.device_id(), m.InviteRole.MEMBER, None, None)
    )
    await eventually_async("the invite reaches b", lambda: b.pending_invites())
    pb = await b.accept_invite(b.pending_invites()[0].invite_id)
    assert await inviting == m.InviteOutcome.ACCEPTED
    return pb


def test_a_folder_opens_once_and_a_closed_device_frees_it_and_refuses_calls(tmp_path):
    key = m.generate_root_key()
    a = m.Mapeo.open(str(tmp_path / "a"), key)
    with pytest.raises(m.MapeoError.FolderInUse) as in_use:
        m.Mapeo.open(str(tmp_path / "a"), key)
    assert str(tmp_path) not in str(in_use.value)
    project_id = a.create_project(m.ProjectSettings(name="River watch")).project_id()

    async def close_it():
        await a.start_listening("127.0.0.1:0")
        await a.close()

    asyncio.run(close_it())
    assert a.is_closed()
    assert a.listening_on() is None
    with pytest.raises(m.MapeoError.Closed):
        a.list_projects()
    with pytest.raises(m.MapeoError.Closed):
        asyncio.run(a.start_listening("127.0.0.1:0"))
    asyncio.run(a.close())  # closing again does nothing
    # The folder is free at once, with no garbage collection involved.
    again = m.Mapeo.open(str(tmp_path / "a"), key)
    assert [p.project_id for p in again.list_projects()] == [project_id]
    asyncio.run(again.close())


def test_one_peer_is_disconnected_and_the_callers_own_list_shows_it(tmp_path):
    a, b, c = (open_device(tmp_path / n, n) for n in ("a", "b", "c"))

    async def scenario():
        await connect(a, b)
        await connect(a, c)
        assert await a.disconnect_peer(b.device_id())
        assert not shows_connected(a, b.device_id())
        assert shows_connected(a, c.device_id())
        assert not await a.disconnect_peer(b.device_id())
        await eventually_async("b sees a gone", lambda: not shows_connected(b, a.device_id()))
        # After disconnecting everyone, and after a pause, the caller's own list says so.
        await a.disconnect_all()
        assert all(not p.connected for p in a.peers())
        await connect(a, c)
        await c.pause()
        assert all(not p.connected for p in c.peers())
        for d in (a, b, c):
            await d.close()

    asyncio.run(scenario())


def test_records_print_their_fields(tmp_path):
    a = open_device(tmp_path / "a", "Ana")
    info = a.device_info()
    assert "Ana" in repr(info) and "DeviceInfo" in repr(info)
    summary = m.ProjectSummary(
        project_id="ab" * 32,
        settings=m.ProjectSettings(name="River watch"),
        status=m.ProjectStatus.JOINED,
        joined_at=0,
    )
    assert "River watch" in repr(summary) and "project_id" in repr(summary)
    asyncio.run(a.close())


def test_a_member_who_leaves_and_is_invited_back_without_reconnecting_gets_everything(tmp_path):
    a, b = open_device(tmp_path / "a", "Ana"), open_device(tmp_path / "b", "Bo")

    async def scenario():
        pa = a.create_project(m.ProjectSettings(name="River watch"))
        pid = pa.project_id()
        pa.create_preset(m.Preset(name="Mining", geometry=[m.Geometry.POINT]))
        pa.create_observation(m.Observation(lat=-3.4653, lon=-62.2159))
        a.start_sync(pid)
        await connect(a, b)
        pb = await invite(a, b, pid)
        b.start_sync(pid)
        await eventually_async(
            "b has a's observation", lambda: len(pb.list_observations(m.Query())) == 1
        )
        b.leave_project(pid)
        await eventually_async(
            "a learns b left",
            lambda: all(x.device_id != b.device_id() for x in pa.members(False)),
        )
        # Invited back over the same connection: the project arrives whole at once.
        pb = await invite(a, b, pid)
        assert b.project_status(pid) == m.ProjectStatus.JOINED
        assert pb.settings().name == "River watch"
        assert [p.value.name for p in pb.list_presets(m.Query())] == ["Mining"]
        b.start_sync(pid)
        await eventually_async(
            "a's observation again on b", lambda: len(pb.list_observations(m.Query())) == 1
        )
        await b.wait_for_sync(pid, m.SyncPhase.FULL, 30_000)
        state = b.sync_state(pid)[0]
        assert state.fully_synced and state.data_sync_local and state.peer_data_sync, state
        # A peer that went away is not "synced", whatever was true before.
        await b.disconnect_all()
        pa.create_observation(m.Observation(lat=-3.0, lon=-62.0))
        state = a.sync_state(pid)[0]
        assert not state.connected and not state.fully_synced and not state.initial_synced, state
        await a.close()
        await b.close()

    asyncio.run(scenario())
