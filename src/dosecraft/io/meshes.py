"""Mesh files: load a user's STL/3MF safely, export STL (numpy-stl) and 3MF.

trimesh and numpy-stl are imported inside the functions that need them: `load_slicing_mesh`
(what `dosecraft slice` uses) reads a clean STL with numpy alone, and trimesh's import
(scipy, networkx) would otherwise be most of that command's run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dosecraft.errors import ShapeError
from dosecraft.io.stl_read import StlFormatError, parse_stl
from dosecraft.slicer.triangle_mesh import TriangleMesh

if TYPE_CHECKING:
    import trimesh

MESH_SUFFIXES = (".stl", ".3mf", ".obj", ".ply")
#: Refuse absurd inputs before trimesh parses them (a tablet mesh is far below this).
MAX_MESH_BYTES = 200 * 1024 * 1024


def _checked_file(path: str | os.PathLike) -> Path:
    """`path` if it names an existing mesh file of a known type and a sane size."""
    p = Path(path)
    if p.suffix.lower() not in MESH_SUFFIXES:
        raise ShapeError(f"mesh file '{p.name}' has type '{p.suffix}'; use one of "
                         f"{', '.join(MESH_SUFFIXES)}")
    if not p.is_file():
        raise ShapeError(f"mesh file '{p}' does not exist")
    if p.stat().st_size > MAX_MESH_BYTES:
        raise ShapeError(f"mesh file '{p.name}' is {p.stat().st_size} bytes; the limit is "
                         f"{MAX_MESH_BYTES}")
    return p


def load_slicing_mesh(path: str | os.PathLike) -> TriangleMesh:
    """Load a mesh file for slicing, centred in XY and sitting on z = 0.

    A binary or ASCII STL that is already a closed, consistently wound surface is read with
    numpy alone; any other file, or an STL that needs merging within a tolerance or fixing
    of face orientation, goes through `load_mesh` (trimesh), with the same errors.

    Raises
    ------
    ShapeError
        As `load_mesh`.
    """
    p = _checked_file(path)
    if p.suffix.lower() == ".stl":
        try:
            soup = TriangleMesh.from_triangles(parse_stl(p.read_bytes()))
        except StlFormatError:
            soup = None  # trimesh reads more dialects and names the problem
        if soup is not None and not soup.defects():
            solid = soup.outward()
            if solid.volume > 0:
                return solid.placed_on_bed()
    repaired = load_mesh(p)
    return TriangleMesh(vertices=np.asarray(repaired.vertices, dtype=np.float64),
                        faces=np.asarray(repaired.faces, dtype=np.int64))


def load_mesh(path: str | os.PathLike) -> trimesh.Trimesh:
    """Load a mesh file as one watertight solid, centred in XY and sitting on z = 0.

    Raises
    ------
    ShapeError
        When the file is missing, too large, of an unknown type, empty, or not a closed
        solid even after merging duplicate vertices and fixing normals.
    """
    import trimesh

    p = _checked_file(path)
    try:
        loaded = trimesh.load(p, force="mesh", process=True)
    except Exception as exc:  # trimesh raises many types for corrupt files
        raise ShapeError(f"mesh file '{p.name}' could not be read: {exc}") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ShapeError(f"mesh file '{p.name}' holds no triangles")
    mesh = loaded
    if not mesh.is_watertight:
        # No hole filling: a guessed patch changes the volume, and the volume is the dose
        # (a box missing two triangles came back 17 % too small after trimesh's repair).
        open_edges = len(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1))
        raise ShapeError(f"mesh '{p.name}' is not watertight ({open_edges} open edges); a "
                         "tablet needs a watertight mesh to have a volume and a dose: repair "
                         "it in your CAD tool and export it again")
    trimesh.repair.fix_normals(mesh)
    if mesh.volume <= 0:
        raise ShapeError(f"mesh '{p.name}' has no positive volume")
    return place_on_bed(mesh)


def place_on_bed(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Copy of `mesh` translated so its XY bounding-box centre is the origin and min z = 0."""
    lo, hi = mesh.bounds
    moved = mesh.copy()
    moved.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return moved


def export_stl(mesh: trimesh.Trimesh, path: str | os.PathLike) -> Path:
    """Write a binary STL with numpy-stl (atomically: temp file, then rename)."""
    from stl import mesh as stl_mesh

    out = Path(path)
    data = np.zeros(len(mesh.faces), dtype=stl_mesh.Mesh.dtype)
    data["vectors"] = mesh.triangles
    solid = stl_mesh.Mesh(data, remove_empty_areas=False)
    tmp = out.with_name(f".{out.name}.tmp")
    solid.save(str(tmp))
    os.replace(tmp, out)
    return out


def export_3mf(mesh: trimesh.Trimesh, path: str | os.PathLike) -> Path:
    """Write a 3MF (mm units) with trimesh's exporter (atomically)."""
    import trimesh

    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(trimesh.exchange.threemf.export_3MF(mesh))
    os.replace(tmp, out)
    return out
