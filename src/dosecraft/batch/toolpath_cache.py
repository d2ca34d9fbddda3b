"""Toolpaths kept between the prescription stage and the plate stage, as flat ``.npz`` arrays.

A plate holds tablets of several prescriptions, so it can only be written once those
prescriptions are done, possibly by another process or machine, possibly after a crash.
Rather than slice every tablet again, the row worker stores its toolpath here. The format
is plain arrays (no pickle: a file in an output folder must never be able to run code),
and every float is stored as float64, so a loaded toolpath writes byte-identical G-code.
A missing or unreadable cache file is not an error: the plate stage re-runs the pipeline
up to the toolpath instead (see `dosecraft.batch.plates`).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from dosecraft.io.atomic import write_atomic
from dosecraft.model.enums import ToolRole
from dosecraft.model.toolpath import ROLE_CODES, ExtrusionPath, Toolpath, ToolpathLayer

_ROLES_BY_CODE: dict[int, ToolRole] = {code: role for role, code in ROLE_CODES.items()}
#: Bumped when the array layout changes; an old file is then ignored (and recomputed).
FORMAT_VERSION = 1


def toolpath_arrays(toolpath: Toolpath) -> dict[str, np.ndarray]:
    """Flatten a toolpath into named arrays.

    Returns
    -------
    dict with ``layer_index`` (L,) int64, ``layer_z`` (L,) and ``layer_height`` (L,)
    float64; per path (P,): ``path_layer`` int64 (index into the layer arrays),
    ``path_role`` int8 (`ROLE_CODES`), ``path_width``, ``path_mm3_per_mm`` float64,
    ``path_closed`` bool, ``path_start`` int64 (offset into ``points``); ``points`` (N, 2)
    float64; ``version`` (1,) int64.
    """
    layers = toolpath.layers
    paths = [(li, p) for li, layer in enumerate(layers) for p in layer.paths]
    counts = np.array([len(p.points_xy) for _, p in paths], dtype=np.int64)
    points = (np.vstack([p.points_xy for _, p in paths]).astype(np.float64) if paths
              else np.zeros((0, 2)))
    return {
        "version": np.array([FORMAT_VERSION], dtype=np.int64),
        "layer_index": np.array([layer.index for layer in layers], dtype=np.int64),
        "layer_z": np.array([layer.z_mm for layer in layers], dtype=np.float64),
        "layer_height": np.array([layer.height_mm for layer in layers], dtype=np.float64),
        "path_layer": np.array([li for li, _ in paths], dtype=np.int64),
        "path_role": np.array([ROLE_CODES[p.role] for _, p in paths], dtype=np.int8),
        "path_width": np.array([p.width_mm for _, p in paths], dtype=np.float64),
        "path_mm3_per_mm": np.array([p.mm3_per_mm for _, p in paths], dtype=np.float64),
        "path_closed": np.array([p.closed for _, p in paths], dtype=bool),
        "path_start": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "points": points,
    }


def toolpath_from_arrays(arrays: dict[str, np.ndarray]) -> Toolpath:
    """Inverse of `toolpath_arrays`.

    Raises
    ------
    ValueError
        When the arrays are inconsistent or of another format version.
    """
    if int(arrays["version"][0]) != FORMAT_VERSION:
        raise ValueError(f"toolpath cache format {int(arrays['version'][0])}, "
                         f"expected {FORMAT_VERSION}")
    start = arrays["path_start"]
    points = arrays["points"]
    if len(start) != len(arrays["path_role"]) + 1 or start[-1] != len(points):
        raise ValueError("toolpath cache arrays do not agree in length")
    by_layer: list[list[ExtrusionPath]] = [[] for _ in arrays["layer_index"]]
    for i, li in enumerate(arrays["path_layer"]):
        by_layer[int(li)].append(ExtrusionPath(
            role=_ROLES_BY_CODE[int(arrays["path_role"][i])],
            points_xy=points[start[i]:start[i + 1]].copy(),
            width_mm=float(arrays["path_width"][i]),
            mm3_per_mm=float(arrays["path_mm3_per_mm"][i]),
            closed=bool(arrays["path_closed"][i]),
        ))
    return Toolpath(tuple(
        ToolpathLayer(int(idx), float(z), float(h), tuple(paths))
        for idx, z, h, paths in zip(arrays["layer_index"], arrays["layer_z"],
                                    arrays["layer_height"], by_layer, strict=True)))


def save_toolpath(path: str | os.PathLike[str], toolpath: Toolpath) -> Path:
    """Write a toolpath atomically as an uncompressed ``.npz`` (speed over disk space)."""
    buf = io.BytesIO()
    np.savez(buf, **toolpath_arrays(toolpath))
    return write_atomic(path, buf.getvalue())


def load_toolpath(path: str | os.PathLike[str]) -> Toolpath | None:
    """The cached toolpath, or None when the file is missing, truncated or of another format."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return toolpath_from_arrays({k: data[k] for k in data.files})
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile, EOFError):
        return None
