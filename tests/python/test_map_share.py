"""A map shared between two devices in one Python process, through the generated bindings:
the real fallback SMP (@comapeo/fallback-smp@1.0.0, fetched with `npm pack` at test time and
never committed) offered by a member to a fellow member over 127.0.0.1, seen by the receiver's
listener, accepted and installed byte for byte, with progress on both sides; a second offer
declined; a device sharing no project refused; typed errors."""

import asyncio
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time

import pytest

import mapeo_ffi as m

PACKAGE = "@comapeo/fallback-smp@1.0.0"
FILE_IN_PACKAGE = "package/dist/comapeo-fallback-map.smp"
FETCH_TIMEOUT_S = 300
CACHE = pathlib.Path(tempfile.gettempdir()) / "mapeo-tests-fallback-smp-1.0.0"
WAIT_S = 30.0


@pytest.fixture(scope="session")
def fallback_smp():
    """The real SMP, fetched once into a cache shared with the Rust tests. Without npm:
    skipped here, a failure under CI."""
    cached = CACHE / "comapeo-fallback-map.smp"
    if cached.is_file():
        return cached
    if shutil.which("npm") is None:
        if os.environ.get("CI", "") not in ("", "false"):
            pytest.fail(f"npm is needed to fetch {PACKAGE} and CI is set")
        pytest.skip(f"SKIPPED LOUDLY: npm not found, {PACKAGE} cannot be fetched")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        subprocess.run(
            ["npm", "pack", PACKAGE, "--silent"],
            cwd=work,
            check=True,
            timeout=FETCH_TIMEOUT_S,
            stdout=subprocess.DEVNULL,
        )
        (tgz,) = pathlib.Path(work).glob("*.tgz")
        with tarfile.open(tgz) as t:
            t.extract(FILE_IN_PACKAGE, path=work, filter="data")
        os.replace(pathlib.Path(work) / FILE_IN_PACKAGE, cached)
    return cached


async def eventually(what, check):
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)


class ShareRecorder(m.MapShareListener):
    def __init__(self):
        self._lock = threading.Lock()
        self._calls = []

    def on_map_shares(self, shares):
        with self._lock:
            self._calls.append(shares)

    def calls(self):
        with self._lock:
            return list(self._calls)


@pytest.fixture
def devices(tmp_path):
    a = m.Mapeo.open(str(tmp_path / "a"), m.generate_root_key())
    b = m.Mapeo.open(str(tmp_path / "b"), m.generate_root_key())
    a.set_device_info(m.DeviceInfo(name="Ana", device_type=m.DeviceType.MOBILE))
    b.set_device_info(m.DeviceInfo(name="Bo", device_type=m.DeviceType.TABLET))
    yield a, b, tmp_path
    asyncio.run(a.close())
    asyncio.run(b.close())


async def fellow_members(a, b):
    """a creates a project, b connects and joins it by invite; returns once a's session has
    matched the project with b."""
    pa = a.create_project(m.ProjectSettings(name="River watch"))
    assert await b.connect(await a.start_listening("127.0.0.1:0")) == a.device_id()
    await eventually(
        "a sees b connected",
        lambda: any(p.device_id == b.device_id() and p.connected for p in a.peers()),
    )
    inviting = asyncio.ensure_future(
        a.invite(pa.project_id(), b.device_id(), m.InviteRole.MEMBER, None, None)
    )
    await eventually("the invite reaches b", lambda: b.pending_invites())
    await b.accept_invite(b.pending_invites()[0].invite_id)
    assert await inviting == m.InviteOutcome.ACCEPTED
    return pa


def share(device, share_id):
    return next(s for s in device.map_shares() if s.share_id == share_id)


def test_a_map_offered_to_a_fellow_member_is_accepted_installed_and_a_second_declined(
    devices, fallback_smp
):
    a, b, root = devices

    async def scenario():
        await fellow_members(a, b)
        map_id = a.import_map(str(fallback_smp)).id
        seen_a, seen_b = ShareRecorder(), ShareRecorder()
        handles = [a.subscribe_map_shares(seen_a), b.subscribe_map_shares(seen_b)]
        await eventually("the current (empty) list first", lambda: seen_b.calls())
        assert seen_b.calls()[0] == []

        share_id = await a.share_map(map_id, b.device_id())
        await eventually(
            "b's listener sees the offer",
            lambda: any(
                s.share_id == share_id and s.state == m.MapShareState.OFFERED
                for s in (seen_b.calls() or [[]])[-1]
            ),
        )
        offer = share(b, share_id)
        assert offer.direction == m.MapShareDirection.RECEIVING
        assert offer.device_id == a.device_id()
        assert offer.device_name == "Ana"
        assert offer.map_id == map_id
        assert offer.name == "Blank"
        assert (offer.min_zoom, offer.max_zoom) == (0, 16)
        assert offer.size == fallback_smp.stat().st_size
        assert share(a, share_id).direction == m.MapShareDirection.SENDING

        await b.accept_map_share(share_id)
        for device in (a, b):
            await eventually(
                "installed on both sides",
                lambda d=device: share(d, share_id).state == m.MapShareState.INSTALLED,
            )
        for seen in (seen_a, seen_b):
            await eventually(
                "each side's listener hears every byte",
                lambda s=seen: any(
                    x.share_id == share_id and x.bytes == offer.size
                    for x in (s.calls() or [[]])[-1]
                ),
            )
        # The installed package is the sender's byte for byte: b's map store lists it under the
        # same id (the blake3 hash of the bytes b imported) and size. On disk it is sealed: no
        # run of the package is in the file.
        (installed,) = [x for x in b.maps() if x.id == map_id]
        plain = fallback_smp.read_bytes()
        assert installed.size == len(plain)
        raw = (root / "b" / "maps" / f"{map_id}.smp").read_bytes()
        assert raw.startswith(b"MAPEOSF")
        assert plain[len(plain) // 2 : len(plain) // 2 + 64] not in raw

        # A second offer, declined: nothing more on b, and a hears it.
        second = await a.share_map(map_id, b.device_id())
        await eventually(
            "the second offer arrives",
            lambda: any(s.share_id == second for s in b.map_shares()),
        )
        await b.decline_map_share(second)
        await eventually(
            "a hears the decline",
            lambda: share(a, second).state == m.MapShareState.DECLINED,
        )
        with pytest.raises(m.MapeoError.InvalidInput):
            await b.accept_map_share(second)
        with pytest.raises(m.MapeoError.NotFound):
            await b.accept_map_share("00112233445566778899aabbccddeeff")
        for h in handles:
            h.cancel()

    asyncio.run(scenario())


def test_a_device_sharing_no_project_cannot_be_sent_a_map(devices, fallback_smp):
    a, b, _ = devices

    async def scenario():
        a.create_project(m.ProjectSettings(name="Mine"))
        b.create_project(m.ProjectSettings(name="Theirs"))
        assert await b.connect(await a.start_listening("127.0.0.1:0")) == a.device_id()
        await eventually(
            "a sees b connected",
            lambda: any(p.device_id == b.device_id() and p.connected for p in a.peers()),
        )
        map_id = a.import_map(str(fallback_smp)).id
        with pytest.raises(m.MapeoError.NotAllowed):
            await a.share_map(map_id, b.device_id())
        await asyncio.sleep(0.3)
        assert b.map_shares() == []

    asyncio.run(scenario())
