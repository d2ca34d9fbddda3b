"""Design ⇄ mesh: rebuild the solid of a design, and cache user meshes by file."""

from collections.abc import Mapping
from functools import lru_cache

import trimesh

from dosecraft.dose.shapes import ShapeFamily, family
from dosecraft.dose.user_mesh import UserMesh
from dosecraft.errors import ShapeError
from dosecraft.io.meshes import load_mesh
from dosecraft.model.design import TabletDesign
from dosecraft.model.enums import ShapeKind


@lru_cache(maxsize=32)
def _user_family(path: str) -> UserMesh:
    return UserMesh(base=load_mesh(path))


def family_for(kind: ShapeKind, mesh_path: str | None = None) -> ShapeFamily:
    """The shape family of a kind; the `mesh` kind needs the user's mesh file."""
    if kind == ShapeKind.MESH:
        if not mesh_path:
            raise ShapeError("shape 'mesh' needs a mesh file (mesh_path)")
        return _user_family(str(mesh_path))
    return family(kind)


def mesh_for_dimensions(fam: ShapeFamily, dims: Mapping[str, float]) -> trimesh.Trimesh:
    return fam.mesh(dims)


def mesh_for_design(design: TabletDesign) -> trimesh.Trimesh:
    """The watertight solid of a design (on z = 0, centred in XY)."""
    return family_for(design.shape, design.mesh_path).mesh(design.dimensions_mm)
