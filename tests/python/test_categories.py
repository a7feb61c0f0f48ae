"""Categories through the Python bindings: the categories file CoMapeo ships
(@mapeo/default-config@6.0.0, fetched with `npm pack` at test time and never committed: its
licence is CC-BY-NC) imports into a project; its categories read back in the file's order
and in Spanish and Portuguese; answers that do not fit a category's fields are refused; a bad
file is a typed error that changes nothing."""

import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile

import pytest

import mapeo_ffi as m

PACKAGE = "@mapeo/default-config@6.0.0"
FILE_IN_PACKAGE = "package/dist/mapeo-default-config.comapeocat"
FETCH_TIMEOUT_S = 300
CACHE = pathlib.Path(tempfile.gettempdir()) / "mapeo-tests-default-config-6.0.0"


@pytest.fixture(scope="session")
def default_config():
    """The real categories file, fetched once into a cache shared with the Rust tests. Without
    npm: skipped here, a failure under CI."""
    cached = CACHE / "mapeo-default-config.comapeocat"
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


@pytest.fixture
def project(tmp_path):
    mapeo = m.Mapeo.open(str(tmp_path / "device"), m.generate_root_key())
    return mapeo.create_project(m.ProjectSettings(name="River watch"))


def by_name(categories, name):
    return next(c for c in categories if c.name == name)


def test_the_default_config_imports_and_reads_in_spanish_and_portuguese(project, default_config):
    imported = project.import_categories(str(default_config))
    assert imported.name == "CoMapeo Default Config"
    assert imported.version == "6.0.0"
    assert len(imported.categories) == 27
    assert imported.fields == 11
    assert imported.translations == 795
    assert {"es", "pt"} <= set(imported.languages)
    assert project.category_languages() == imported.languages

    points = project.categories_for(m.Geometry.POINT, None)
    assert len(points) == 26
    assert [c.name for c in points[:4]] == ["New point", "Airstrip", "Animal", "Boundary"]
    tracks = project.categories_for(m.Geometry.LINE, None)
    assert [c.name for c in tracks] == ["New line", "Boundary", "River", "Path", "Stream", "Threat"]

    es = project.categories("es-PE")
    assert [c.name for c in es[:2]] == ["Nuevo punto", "Pista de aterrizaje"]
    building = by_name(es, "Construcción")
    field = building.fields[0]
    assert field.label == "Tipo de edificio"
    assert field.field_type == m.FieldType.SELECT_ONE
    assert [o.label for o in field.options] == [
        "Escuela", "Hospital", "Caserío", "Iglesia", "Tienda", "Otro"
    ]
    assert field.options[3].value == m.TagPrimitive.TEXT(value="Church")
    assert by_name(es, "Pista de aterrizaje").icon_name == "airstrip"

    pt = project.categories("pt")
    assert by_name(pt, "Cachoeira").doc_id == by_name(es, "Cascada").doc_id
    assert any(f.label == "Tipo de animal" for f in project.category_fields("pt"))

    # The project's name is kept beside the categories' metadata.
    assert project.settings().name == "River watch"

    # An answer that is not one of the field's options is refused; one that is, is kept.
    english = by_name(project.categories(None), "Building")
    ref = m.DocRef(doc_id=english.doc_id, version_id=english.version_id)

    def observation(answer):
        return m.Observation(
            lat=1.0,
            lon=2.0,
            tags={"building-type": m.TagValue.TEXT(value=answer)},
            preset_ref=ref,
        )

    with pytest.raises(m.MapeoError.InvalidInput) as refused:
        project.create_observation(observation("Castle"))
    assert "building-type" in refused.value.reason
    kept = project.create_observation(observation("Church"))
    assert project.get_observation(kept.meta.doc_id) == kept
    line = by_name(project.categories(None), "New line")
    with pytest.raises(m.MapeoError.InvalidInput):
        project.create_observation(
            m.Observation(
                lat=1.0,
                lon=2.0,
                preset_ref=m.DocRef(doc_id=line.doc_id, version_id=line.version_id),
            )
        )


def test_a_bad_categories_file_is_a_typed_error_and_changes_nothing(project, default_config, tmp_path):
    project.import_categories(str(default_config))
    before = project.categories("es")
    not_zip = tmp_path / "broken.comapeocat"
    not_zip.write_text("not a zip")
    with pytest.raises(m.MapeoError.InvalidInput) as refused:
        project.import_categories(str(not_zip))
    assert str(tmp_path) not in refused.value.reason
    with pytest.raises(m.MapeoError.InvalidInput):
        project.categories("not a language")
    assert project.categories("es") == before
