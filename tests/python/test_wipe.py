"""Emergency wipe through the generated Python bindings: the data folder's keys are destroyed
at once (a copy of the folder no longer opens, not even with the same root key), the device
refuses every later call, and the files are deleted in the background."""

import asyncio
import shutil
import time

import pytest

import mapeo_ffi as m

WAIT_S = 30.0


def test_a_wiped_folder_does_not_open_again_and_the_device_refuses_calls(tmp_path):
    folder = tmp_path / "phone"
    key = m.generate_root_key()
    d = m.Mapeo.open(str(folder), key)
    p = d.create_project(m.ProjectSettings(name="Sacred site survey"))
    project_id = p.project_id()
    del p
    # What a thief copied before the wipe, less the salt file the wipe destroys first.
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "at-rest.salt").unlink()

    asyncio.run(d.wipe())

    with pytest.raises(m.MapeoError.Closed):
        d.list_projects()
    with pytest.raises(m.MapeoError.Storage) as refused:
        m.Mapeo.open(str(copy), key)
    assert "wiped" in str(refused.value)
    assert str(tmp_path) not in str(refused.value)
    deadline = time.monotonic() + WAIT_S
    while any(folder.iterdir()):
        assert time.monotonic() < deadline, "files not deleted"
        time.sleep(0.05)
    # The same identity starts afresh in the emptied folder, without the project.
    again = m.Mapeo.open(str(folder), key)
    assert [s.project_id for s in again.list_projects()] == []
    assert project_id
    asyncio.run(again.close())


def test_a_wiped_phone_restored_from_its_backup_code_waits_for_its_records_then_writes(tmp_path):
    from test_two_devices import connect, eventually_async, notes, pending_on

    key = m.generate_root_key()
    code = m.backup_code(key)
    phone = m.Mapeo.open(str(tmp_path / "phone"), key)
    office = m.Mapeo.open(str(tmp_path / "office"), m.generate_root_key())
    phone.set_device_info(m.DeviceInfo(name="Ana", device_type=m.DeviceType.MOBILE))
    office.set_device_info(m.DeviceInfo(name="Office", device_type=m.DeviceType.DESKTOP))

    async def before_the_wipe():
        p = phone.create_project(m.ProjectSettings(name="River watch"))
        await connect(phone, office)
        inviting = asyncio.ensure_future(
            phone.invite(p.project_id(), office.device_id(), m.InviteRole.COORDINATOR, None, None)
        )
        o = await office.accept_invite((await pending_on(office)).invite_id)
        assert await inviting == m.InviteOutcome.ACCEPTED
        phone.start_sync(p.project_id())
        office.start_sync(p.project_id())
        p.create_observation(notes("tracks by the river"))
        await eventually_async(
            "the observation reaches the office", lambda: len(o.list_observations(m.Query())) == 1
        )
        await phone.wipe()
        return o

    at_office = asyncio.run(before_the_wipe())

    restored = m.Mapeo.open(str(tmp_path / "new-phone"), m.root_key_from_backup_code(code))
    restored.set_device_info(m.DeviceInfo(name="Ana", device_type=m.DeviceType.MOBILE))
    project_id = at_office.project_id()

    async def after_the_restore():
        await connect(office, restored)
        inviting = asyncio.ensure_future(
            office.invite(project_id, restored.device_id(), m.InviteRole.MEMBER, None, None)
        )
        again = await restored.accept_invite((await pending_on(restored)).invite_id)
        assert await inviting == m.InviteOutcome.ACCEPTED
        # Its own earlier records have not come back (data sync is not on yet): no writes.
        with pytest.raises(m.MapeoError.AwaitingOwnEntries):
            again.create_observation(notes("too early"))
        restored.start_sync(project_id)
        await eventually_async(
            "its own observation comes back",
            lambda: len(again.list_observations(m.Query())) == 1,
        )
        await eventually_async(
            "writes resume",
            lambda: not isinstance(
                _attempt(lambda: again.create_observation(notes("after the restore"))),
                m.MapeoError.AwaitingOwnEntries,
            ),
        )
        await eventually_async(
            "the new observation reaches the office",
            lambda: len(at_office.list_observations(m.Query())) == 2,
        )
        return again

    again = asyncio.run(after_the_restore())
    names = [mem.name for mem in at_office.members(False) if mem.device_id == restored.device_id()]
    assert names == ["Ana"]
    assert again.project_id() == project_id
    asyncio.run(office.close())
    asyncio.run(restored.close())


def _attempt(call):
    """The call's result, or the error it raised."""
    try:
        return call()
    except m.MapeoError as e:
        return e
