"""Where a batch keeps its files, and the small JSON helpers every stage shares.

``DIR/gcode/<rx_id>.gcode``
    one program per prescription (``<rx_id>.plate2.gcode`` … when it needs more plates).
``DIR/plates/<plate_id>.gcode`` and ``<plate_id>.json``
    the plates that mix prescriptions, and each plate's result (written after the G-code).
``DIR/rows/<rx_id>.json``
    each prescription's result, written last, atomically: the completion marker.
``DIR/.cache/toolpaths/<rx_id>.npz``
    toolpaths kept for the plate stage; deleted when the batch completes.
``DIR/batch.json``, ``DIR/worksheet.pdf``, ``DIR/labels.pdf``
    assembled from the row and plate files at the end of every run.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

GCODE_DIR = "gcode"
PLATES_DIR = "plates"
ROWS_DIR = "rows"
CACHE_DIR = ".cache/toolpaths"
LOCK_FILE = ".dosecraft.lock"
BATCH_JSON = "batch.json"
WORKSHEET_PDF = "worksheet.pdf"
LABELS_PDF = "labels.pdf"


def row_file(out_dir: Path, rx_id: str) -> Path:
    """The completion marker of one prescription."""
    return out_dir / ROWS_DIR / f"{rx_id}.json"


def toolpath_file(out_dir: Path, rx_id: str) -> Path:
    """The cached toolpath of one prescription."""
    return out_dir / CACHE_DIR / f"{rx_id}.npz"


def plate_gcode_file(out_dir: Path, plate_id: str) -> Path:
    return out_dir / PLATES_DIR / f"{plate_id}.gcode"


def plate_marker_file(out_dir: Path, plate_id: str) -> Path:
    return out_dir / PLATES_DIR / f"{plate_id}.json"


def gcode_names(rx_id: str, plates: int) -> list[str]:
    """File names of a prescription's programs: `<rx_id>.gcode`, `<rx_id>.plate2.gcode` …"""
    return [f"{rx_id}.gcode" if k == 1 else f"{rx_id}.plate{k}.gcode"
            for k in range(1, plates + 1)]


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (JSON and the records refuse
    NaN), tuples turned into lists; everything else unchanged."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """The one JSON layout of the batch's own files (stable, so files compare by bytes)."""
    return json.dumps(json_safe(value), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON (sorted keys): fingerprints of work items."""
    text = json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None when it is missing or not valid JSON (a marker that
    cannot be read is treated as absent: the work is simply done again)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sha256_file(path: Path) -> str | None:
    """SHA-256 of a file, or None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()
