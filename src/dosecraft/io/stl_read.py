"""Read an STL file's triangles into one numpy array (binary and ASCII), nothing more.

Used by `dosecraft.io.meshes.load_slicing_mesh` for the common case of a clean STL, so that
plain slicing does not import trimesh; every other file type, and any STL that is not a
clean closed surface, still goes through trimesh.
"""

from __future__ import annotations

import re

import numpy as np

#: Binary STL: 80-byte header, uint32 triangle count, then 50-byte records.
_HEADER_BYTES = 84
_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
_NUMBER = rb"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_VERTEX = re.compile(rb"vertex\s+" + rb"\s+".join([_NUMBER] * 3))


class StlFormatError(ValueError):
    """The bytes are neither a well-formed binary STL nor an ASCII STL with triangles."""


def parse_stl(data: bytes) -> np.ndarray:
    """Triangles of an STL file.

    Parameters
    ----------
    data : the whole file.

    Returns
    -------
    (F, 3, 3) float64 corners of each triangle, in file order.

    Raises
    ------
    StlFormatError
        When the size does not match a binary STL's triangle count and the text holds no
        complete ``vertex x y z`` triples, or the corners are not finite numbers.
    """
    if len(data) >= _HEADER_BYTES:
        count = int.from_bytes(data[80:84], "little")
        # the size test, not the "solid" prefix: binary headers often start with "solid"
        if len(data) == _HEADER_BYTES + count * _RECORD.itemsize:
            records = np.frombuffer(data, dtype=_RECORD, count=count, offset=_HEADER_BYTES)
            return _checked(records["corners"].astype(np.float64))
    if not data.lstrip().lower().startswith(b"solid"):
        raise StlFormatError("neither a binary STL (size does not match its triangle count) "
                             "nor an ASCII STL (no 'solid' at the start)")
    corners = np.array(_VERTEX.findall(data), dtype=np.float64)
    if len(corners) == 0 or len(corners) % 3:
        raise StlFormatError(f"ASCII STL with {len(corners)} vertex lines; a triangle needs "
                             "three")
    return _checked(corners.reshape(-1, 3, 3))


def _checked(corners: np.ndarray) -> np.ndarray:
    """`corners` if it holds triangles with finite coordinates."""
    if len(corners) == 0:
        raise StlFormatError("the file holds no triangles")
    if not np.isfinite(corners).all():
        raise StlFormatError("some triangle corners are not finite numbers")
    return corners
