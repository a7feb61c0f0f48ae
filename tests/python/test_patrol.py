"""The map and patrols through the generated Python bindings: the map's points as GeoJSON
styled by category and refreshed when sync brings observations from another device over
127.0.0.1; a patrol recorded by a process that is killed (SIGKILL) mid-walk resumes with every
point it had recorded, and is saved as a track linking the observation made during it."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import mapeo_ffi as m

WAIT_S = 30.0
WORLD = m.BoundingBox(south=-90.0, west=-180.0, north=90.0, east=180.0)
T0 = 1_735_689_600_000


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


class Changes(m.ProjectChangeListener):
    def __init__(self):
        self._lock = threading.Lock()
        self.generations = []

    def on_project_changed(self, generation):
        with self._lock:
            self.generations.append(generation)

    def seen(self):
        with self._lock:
            return list(self.generations)


async def join_by_invite(a, b):
    pa = a.create_project(m.ProjectSettings(name="River watch"))
    assert await b.connect(await a.start_listening("127.0.0.1:0")) == a.device_id()
    await eventually_async(
        "a sees b connected",
        lambda: any(p.device_id == b.device_id() and p.connected for p in a.peers()),
    )
    inviting = asyncio.ensure_future(
        a.invite(pa.project_id(), b.device_id(), m.InviteRole.MEMBER, None, None)
    )
    await eventually_async("the invite reaches b", lambda: b.pending_invites())
    pb = await b.accept_invite(b.pending_invites()[0].invite_id)
    assert await inviting == m.InviteOutcome.ACCEPTED
    a.start_sync(pa.project_id())
    b.start_sync(pa.project_id())
    return pa, pb


def test_the_map_shows_points_by_category_and_refreshes_when_sync_brings_observations(tmp_path):
    a = m.Mapeo.open(str(tmp_path / "a"), m.generate_root_key())
    b = m.Mapeo.open(str(tmp_path / "b"), m.generate_root_key())
    pa, pb = asyncio.run(join_by_invite(a, b))
    mining = pa.create_preset(
        m.Preset(name="Illegal mining", geometry=[m.Geometry.POINT], color="#E4572E")
    )
    changes = Changes()
    handle = pb.subscribe_changes(changes)
    eventually("the current generation first", lambda: changes.seen())
    first = changes.seen()[-1]
    assert json.loads(pb.map_points(WORLD, 100).geojson)["features"] == []

    seen = pa.create_observation(
        m.Observation(
            lat=-3.4653,
            lon=-62.2159,
            preset_ref=m.DocRef(doc_id=mining.meta.doc_id, version_id=mining.meta.version_id),
        )
    )
    eventually("sync tells b's map to refresh", lambda: changes.seen()[-1] > first)
    eventually(
        "the point is on b's map",
        lambda: pb.map_points(WORLD, 100).count == 1,
    )
    points = pb.map_points(WORLD, 100)
    assert not points.truncated
    feature = json.loads(points.geojson)["features"][0]
    assert feature["id"] == seen.meta.doc_id
    assert feature["geometry"]["coordinates"] == [-62.2159, -3.4653]
    assert feature["properties"]["categoryName"] == "Illegal mining"
    assert feature["properties"]["color"] == "#E4572E"

    elsewhere = m.BoundingBox(south=10.0, west=10.0, north=11.0, east=11.0)
    assert pb.map_points(elsewhere, 100).count == 0
    assert pb.map_points(WORLD, 0).truncated
    assert m.map_points_limit() >= 1000
    handle.cancel()
    asyncio.run(a.close())
    asyncio.run(b.close())


CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import mapeo_ffi as m
    device = m.Mapeo.open(sys.argv[2], bytes.fromhex(sys.argv[3]))
    project = device.open_project(sys.argv[4])
    patrol = project.start_patrol()
    for i in range(100_000):
        point = m.TrackPoint(
            timestamp={t0} + i * 10_000,
            mocked=False,
            coords=m.Coords(latitude=-3.0 + i * 0.0001, longitude=-60.0, accuracy=4.0),
        )
        assert patrol.add_position(point) == m.PositionOutcome.RECORDED
        if i == 3:
            project.create_observation(m.Observation(lat=-3.0003, lon=-60.0))
        print(i + 1, flush=True)
        time.sleep(0.005)
    """
).format(t0=T0)


def test_a_patrol_killed_mid_walk_resumes_with_every_recorded_point_and_saves_a_track(tmp_path):
    key = m.generate_root_key()
    folder = str(tmp_path / "phone")
    d = m.Mapeo.open(folder, key)
    project_id = d.create_project(m.ProjectSettings(name="Patrols")).project_id()
    before = d.open_project(project_id).create_observation(m.Observation(lat=-3.0, lon=-60.0))
    asyncio.run(d.close())

    bindings = os.path.dirname(m.__file__)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, bindings, folder, bytes(key).hex(), project_id],
        stdout=subprocess.PIPE,
        text=True,
    )
    recorded = 0
    deadline = time.monotonic() + WAIT_S
    try:
        while recorded < 20:
            assert time.monotonic() < deadline, "the recording process made no progress"
            line = child.stdout.readline()
            assert line, f"the recording process ended early ({child.wait()})"
            recorded = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=WAIT_S)
    assert child.returncode == -signal.SIGKILL

    d = m.Mapeo.open(folder, key)
    project = d.open_project(project_id)
    patrol = project.resume_patrol()
    assert patrol is not None
    points = patrol.points()
    # Every point the child reported is there; at most the one being written is lost.
    assert len(points) >= recorded
    for i, p in enumerate(points):
        assert p.timestamp == T0 + i * 10_000
        assert abs(p.coords.latitude - (-3.0 + i * 0.0001)) < 1e-9
    summary = patrol.summary()
    assert summary.points == len(points)
    assert summary.duration_ms == (len(points) - 1) * 10_000
    assert abs(summary.distance_metres - m.track_distance_metres(points)) < 1e-6

    with pytest.raises(m.MapeoError.Patrol):
        project.start_patrol()
    # A blurry fix is dropped, not recorded.
    blurry = m.TrackPoint(
        timestamp=T0 + len(points) * 10_000,
        mocked=False,
        coords=m.Coords(latitude=-2.0, longitude=-60.0, accuracy=500.0),
    )
    assert patrol.add_position(blurry) == m.PositionOutcome.DROPPED_INACCURATE
    with pytest.raises(m.MapeoError.InvalidInput):
        patrol.add_position(
            m.TrackPoint(timestamp=T0, mocked=False, coords=m.Coords(latitude=95.0, longitude=0.0))
        )

    track = patrol.save({"notes": m.TagValue.TEXT(value="north ridge")})
    assert len(track.value.locations) == len(points)
    linked = [r.doc_id for r in track.value.observation_refs]
    assert len(linked) == 1 and linked[0] != before.meta.doc_id
    assert m.track_duration_ms(track.value.locations) == summary.duration_ms
    assert project.get_track(track.meta.doc_id).value == track.value
    assert project.resume_patrol() is None
    asyncio.run(d.close())
