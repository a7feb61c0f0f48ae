"""Offline maps and the local server through the Python bindings: an MBTiles map generated
here (real PNG tiles) is imported, listed, chosen as default and removed; its style, a tile,
a photo's files and a category's icon (from the real @mapeo/default-config@6.0.0, fetched
with `npm pack` at test time) are fetched over HTTP on 127.0.0.1 with urllib, byte for byte;
a bad package is a typed error that leaves nothing."""

import asyncio
import json
import sqlite3
import struct
import urllib.error
import urllib.request
import zipfile
import zlib

import pytest

import mapeo_ffi as m
from test_categories import default_config  # noqa: F401  (the shared fetch of the real file)

HTTP_TIMEOUT_S = 30


def png(width, height, seed):
    """A real PNG image, different for each seed."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in ((x * 3 + seed) % 256, (y * 5) % 256, seed % 256))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def mbtiles(path):
    """A raster MBTiles with every tile of zooms 0 and 1; returns {(z, x, y): png} in XYZ."""
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
        " tile_data BLOB);"
    )
    db.executemany(
        "INSERT INTO metadata VALUES (?, ?)",
        [("name", "Río Negro"), ("format", "png"), ("bounds", "-61,-4,-59,-2")],
    )
    tiles = {}
    for z in (0, 1):
        for x in range(1 << z):
            for y in range(1 << z):
                data = png(64, 64, z * 10 + x * 2 + y)
                tiles[(z, x, y)] = data
                # MBTiles rows count from the south.
                db.execute(
                    "INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, data)
                )
    db.commit()
    db.close()
    return tiles


def fetch(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture
def device(tmp_path):
    mapeo = m.Mapeo.open(str(tmp_path / "device"), m.generate_root_key())
    yield mapeo
    asyncio.run(mapeo.close())


def test_an_imported_map_is_listed_chosen_served_and_removed(device, tmp_path):
    path = tmp_path / "rio.mbtiles"
    tiles = mbtiles(str(path))
    info = device.import_map(str(path))
    assert info.name == "Río Negro"
    assert info.format == m.MapFormat.MB_TILES
    assert (info.min_zoom, info.max_zoom) == (0, 1)
    assert (info.bounds.west, info.bounds.north) == (-61.0, -2.0)
    assert info.size == path.stat().st_size
    assert info.is_default, "with no default, an imported map becomes it"
    assert [x.id for x in device.maps()] == [info.id]

    device.set_default_map(None)
    assert not device.maps()[0].is_default

    fallback = json.loads(fetch(asyncio.run(device.map_style_url(None)))[2])
    assert fallback["name"] == "Mapeo fallback", "no default map: the fallback style"

    device.set_default_map(info.id)
    assert device.maps()[0].is_default
    style_url = asyncio.run(device.map_style_url(None))
    status, headers, body = fetch(style_url)
    assert status == 200 and headers["Content-Type"] == "application/json"
    style = json.loads(body)
    assert style["version"] == 8 and style["name"] == "Río Negro"
    assert style == json.loads(fetch(asyncio.run(device.map_style_url(info.id)))[2])
    template = style["sources"]["mbtiles"]["tiles"][0]
    assert template.startswith("http://127.0.0.1:")
    for (z, x, y), data in tiles.items():
        url = template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        status, headers, body = fetch(url)
        assert (status, body) == (200, data), (z, x, y)
        assert headers["Content-Type"] == "image/png"
    missing = template.replace("{z}", "2").replace("{x}", "0").replace("{y}", "0")
    assert fetch(missing)[0] == 404
    # Another secret: the same 404.
    secret = style_url.split("/")[3]
    assert fetch(style_url.replace(secret, "0" * len(secret)))[0] == 404

    device.remove_map(info.id)
    assert device.maps() == []
    url = template.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0")
    assert fetch(url)[0] == 404


def test_a_bad_package_is_refused_and_leaves_nothing(device, tmp_path):
    bad = tmp_path / "notes.smp"
    bad.write_bytes(b"not a map at all")
    with pytest.raises(m.MapeoError.InvalidInput):
        device.import_map(str(bad))
    with pytest.raises(m.MapeoError.NotFound):
        device.remove_map("0" * 32)
    assert device.maps() == []
    assert [p.name for p in (tmp_path / "device" / "maps").iterdir() if p.name != "index.json"] == []


def test_photo_files_and_category_icons_are_fetched_by_url(device, default_config):  # noqa: F811
    project = device.create_project(m.ProjectSettings(name="River watch"))
    photo = png(900, 500, 7)
    attachment = project.add_attachment_from_bytes(photo, "river.png")
    pid = project.project_id()
    for variant in (m.AttachmentVariant.ORIGINAL, m.AttachmentVariant.PREVIEW,
                    m.AttachmentVariant.THUMBNAIL):
        url = asyncio.run(device.attachment_url(pid, attachment, variant))
        status, headers, body = fetch(url)
        assert status == 200, variant
        assert body == project.attachment_bytes(attachment, variant), variant
    original = asyncio.run(device.attachment_url(pid, attachment, m.AttachmentVariant.ORIGINAL))
    assert fetch(original)[2] == photo
    status, headers, body = fetch(original, {"Range": "bytes=0-99"})
    assert (status, body) == (206, photo[:100])
    assert headers["Content-Range"] == f"bytes 0-99/{len(photo)}"

    project.import_categories(str(default_config))
    airstrip = next(c for c in project.categories(None) if c.name == "Airstrip")
    url = asyncio.run(device.icon_url(pid, airstrip.doc_id, m.IconSize.MEDIUM, None))
    status, headers, body = fetch(url)
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    with zipfile.ZipFile(default_config) as z:
        assert body == z.read("icons/airstrip.svg")
    # No icon at that size.
    small = asyncio.run(device.icon_url(pid, airstrip.doc_id, m.IconSize.SMALL, None))
    assert fetch(small)[0] == 404
