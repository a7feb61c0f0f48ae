"""A damaged project store through the Python bindings: a page of garbage in the middle of a
project's database is listed as damaged and refused with a typed error naming the project,
the device and its other projects keep working, and repairProject then a sync with a peer
over 127.0.0.1 brings back every observation the peer had."""

import asyncio
import gc
import hashlib
import pathlib
import time

import pytest

import mapeo_ffi as m

PAGE = 4096
WAIT_S = 30.0


def notes(text):
    return m.Observation(lat=-3.4653, lon=-62.2159, tags={"notes": m.TagValue.TEXT(value=text)})


async def eventually_async(what, check):
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)


async def connect(a, b):
    """b connects to a over 127.0.0.1 (port 0), and a lists b as connected."""
    assert await b.connect(await a.start_listening("127.0.0.1:0")) == a.device_id()
    await eventually_async(
        "a sees b connected",
        lambda: any(p.device_id == b.device_id() and p.connected for p in a.peers()),
    )


async def join_by_invite(a, b):
    """a creates a project; b connects, is invited as a member and accepts. Both sync data."""
    pa = a.create_project(m.ProjectSettings(name="River watch"))
    await connect(a, b)
    inviting = asyncio.ensure_future(
        a.invite(pa.project_id(), b.device_id(), m.InviteRole.MEMBER, None, None)
    )
    await eventually_async("the invite reaches b", lambda: b.pending_invites())
    pb = await b.accept_invite(b.pending_invites()[0].invite_id)
    assert await inviting == m.InviteOutcome.ACCEPTED
    a.start_sync(pa.project_id())
    b.start_sync(pa.project_id())
    return pa, pb


def garble_middle(path: pathlib.Path):
    pages = path.stat().st_size // PAGE
    assert pages > 8, f"the store should span many pages, has {pages}"
    garbage = hashlib.shake_256(b"damaged store test").digest(PAGE)
    with open(path, "r+b") as f:
        f.seek(pages // 2 * PAGE)
        f.write(garbage)


def test_a_damaged_project_is_listed_refused_and_repaired_from_a_peer(tmp_path):
    key_a = m.generate_root_key()
    a = m.Mapeo.open(str(tmp_path / "a"), key_a)
    b = m.Mapeo.open(str(tmp_path / "b"), m.generate_root_key())
    a.set_device_info(m.DeviceInfo(name="Ana", device_type=m.DeviceType.MOBILE))
    b.set_device_info(m.DeviceInfo(name="Bo", device_type=m.DeviceType.TABLET))
    pa, pb = asyncio.run(join_by_invite(a, b))
    pid = pa.project_id()
    forest = a.create_project(m.ProjectSettings(name="Forest watch")).project_id()
    for i in range(150):
        pa.create_observation(notes(f"oil slick {i}"))
    asyncio.run(a.wait_for_sync(pid, m.SyncPhase.FULL, 10_000))
    asyncio.run(b.wait_for_sync(pid, m.SyncPhase.FULL, 10_000))
    at_b = sorted(o.meta.doc_id for o in pb.list_observations(m.Query()))
    assert len(at_b) == 150

    # Close a (its files released: the last connection folds the log into the database).
    asyncio.run(a.disconnect_all())
    del pa, a
    gc.collect()
    db = tmp_path / "a" / "projects" / pid / "project.db"
    wal = db.with_name("project.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the closed device left its log"
    garble_middle(db)
    digest = hashlib.sha256(db.read_bytes()).digest()

    a = m.Mapeo.open(str(tmp_path / "a"), key_a)
    assert a.device_info().name == "Ana"
    listed = {p.project_id: p for p in a.list_projects()}
    assert listed[pid].damaged
    assert not listed[forest].damaged
    with pytest.raises(m.MapeoError.Damaged) as refused:
        a.open_project(pid)
    assert pid in refused.value.reason
    assert str(tmp_path) not in refused.value.reason
    a.open_project(forest).create_observation(notes("new clearing"))
    assert hashlib.sha256(db.read_bytes()).digest() == digest

    report = a.repair_project(pid)
    assert report.project_id == pid
    assert (pathlib.Path(report.set_aside) / "project.db").is_file()
    assert report.recovered_own <= report.recovered
    assert not {p.project_id: p for p in a.list_projects()}[pid].damaged

    async def sync_back():
        a.start_sync(pid)
        await connect(b, a)
        await a.wait_for_sync(pid, m.SyncPhase.FULL, 10_000)

    asyncio.run(sync_back())
    repaired = a.open_project(pid)
    assert sorted(o.meta.doc_id for o in repaired.list_observations(m.Query())) == at_b
