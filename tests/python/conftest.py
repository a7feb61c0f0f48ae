"""Puts the generated Python bindings on the path: ./scripts/bindings.sh writes them, with a
copy of the native library beside them, to target/bindings/python (never committed).
MAPEO_BINDINGS_DIR points elsewhere. Missing bindings fail the run: never a silent skip."""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINDINGS = pathlib.Path(os.environ.get("MAPEO_BINDINGS_DIR", ROOT / "target" / "bindings" / "python"))

if not (BINDINGS / "mapeo_ffi.py").is_file():
    raise RuntimeError(f"no generated bindings in {BINDINGS}: run ./scripts/bindings.sh first")
sys.path.insert(0, str(BINDINGS))
