"""Mesh files: load a user's STL/3MF safely, export STL (numpy-stl) and 3MF."""

import os
from pathlib import Path

import numpy as np
import trimesh
from stl import mesh as stl_mesh

from dosecraft.errors import ShapeError

MESH_SUFFIXES = (".stl", ".3mf", ".obj", ".ply")
#: Refuse absurd inputs before trimesh parses them (a tablet mesh is far below this).
MAX_MESH_BYTES = 200 * 1024 * 1024


def load_mesh(path: str | os.PathLike) -> trimesh.Trimesh:
    """Load a mesh file as one watertight solid, centred in XY and sitting on z = 0.

    Raises
    ------
    ShapeError
        When the file is missing, too large, of an unknown type, empty, or not a closed
        solid even after merging duplicate vertices and fixing normals.
    """
    p = Path(path)
    if p.suffix.lower() not in MESH_SUFFIXES:
        raise ShapeError(f"mesh file '{p.name}' has type '{p.suffix}'; use one of "
                         f"{', '.join(MESH_SUFFIXES)}")
    if not p.is_file():
        raise ShapeError(f"mesh file '{p}' does not exist")
    if p.stat().st_size > MAX_MESH_BYTES:
        raise ShapeError(f"mesh file '{p.name}' is {p.stat().st_size} bytes; the limit is "
                         f"{MAX_MESH_BYTES}")
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
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(trimesh.exchange.threemf.export_3MF(mesh))
    os.replace(tmp, out)
    return out
