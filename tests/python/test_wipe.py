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
