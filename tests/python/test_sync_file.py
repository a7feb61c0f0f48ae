"""Sync by file through the Python bindings: two devices of one project that do not sync
data live exchange an observation with its photo by files alone, with progress reported to
a listener; the answer carries only what the first device lacks; a file with one changed
byte is an InvalidInput error that changes nothing."""

import asyncio

import pytest

import mapeo_ffi as m
from test_two_devices import Recorder, connect, devices, notes, pending_on, write_jpeg  # noqa: F401


class ProgressRecorder(m.SyncFileListener):
    def __init__(self):
        self.rec = Recorder()

    def on_progress(self, stage, done, total):
        self.rec.add((stage, done, total))


async def join_without_data_sync(a, b):
    """b joins a's project by invite over 127.0.0.1; neither turns data sync on, so nothing
    but roles and configuration moves live."""
    pa = a.create_project(m.ProjectSettings(name="River watch"))
    await connect(a, b)
    inviting = asyncio.ensure_future(
        a.invite(pa.project_id(), b.device_id(), m.InviteRole.MEMBER, None, None)
    )
    pb = await b.accept_invite((await pending_on(b)).invite_id)
    assert await inviting == m.InviteOutcome.ACCEPTED
    return pa, pb


def test_an_observation_and_its_photo_travel_by_file_and_the_answer_holds_only_what_is_new(
    devices, tmp_path  # noqa: F811
):
    a, b = devices
    pa, pb = asyncio.run(join_without_data_sync(a, b))
    photo_path = tmp_path / "IMG_0001.jpg"
    write_jpeg(photo_path, 800, 600)
    photo = pa.add_attachment_from_path(str(photo_path))
    value = notes("oil on the water")
    value.attachments = [photo]
    created = pa.create_observation(value)
    assert pb.list_observations(m.Query()) == []

    card = tmp_path / "card.mapeosync"
    writing = ProgressRecorder()
    options = m.SyncFileOptions(media=m.SyncFileMedia.ALL, max_bytes=None, for_file=None)
    written = pa.export_sync_file(str(card), options, writing)
    assert written.media_files == 3
    assert written.file_bytes == card.stat().st_size
    stages = {s for (s, _, _) in writing.rec.calls()}
    assert stages == {m.SyncFileStage.WRITING_ENTRIES, m.SyncFileStage.WRITING_MEDIA}
    assert writing.rec.calls()[-1][1] == writing.rec.calls()[-1][2]

    # One changed byte: refused, nothing changed.
    bad = tmp_path / "bad.mapeosync"
    data = bytearray(card.read_bytes())
    data[len(data) // 2] ^= 0x10
    bad.write_bytes(bytes(data))
    with pytest.raises(m.MapeoError.InvalidInput):
        pb.import_sync_file(str(bad), None)
    assert pb.list_observations(m.Query()) == []

    reading = ProgressRecorder()
    got = pb.import_sync_file(str(card), reading)
    assert got.entries_added > 0 and got.media_added == 3
    assert pb.list_observations(m.Query()) == [created]
    assert pb.attachment_bytes(photo, m.AttachmentVariant.ORIGINAL) is not None
    assert reading.rec.calls()[-1][0] == m.SyncFileStage.IMPORTING
    assert reading.rec.calls()[-1][1] == card.stat().st_size

    # B answers with only what A lacks: B's own observation.
    mine = pb.create_observation(notes("new road"))
    reply = tmp_path / "reply.mapeosync"
    answer = pb.export_sync_file(
        str(reply),
        m.SyncFileOptions(media=m.SyncFileMedia.NONE, max_bytes=None, for_file=str(card)),
        None,
    )
    back = pa.import_sync_file(str(reply), None)
    assert back.entries_in_file == answer.entries
    assert back.entries_added == answer.entries
    assert {o.meta.doc_id for o in pa.list_observations(m.Query())} == {
        created.meta.doc_id,
        mine.meta.doc_id,
    }

    # A have-file from A: B has nothing new for it.
    have = tmp_path / "a.have"
    pa.write_have_file(str(have))
    nothing = pb.export_sync_file(
        str(tmp_path / "none.mapeosync"),
        m.SyncFileOptions(media=m.SyncFileMedia.ALL, max_bytes=None, for_file=str(have)),
        None,
    )
    assert (nothing.entries, nothing.media_files) == (0, 0)
