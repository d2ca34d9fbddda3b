"""What the slicer needs of a mesh: plain vertex/face/edge arrays, nothing of trimesh.

`trimesh.Trimesh` satisfies `SliceableMesh`, and so does the array-only
`dosecraft.slicer.triangle_mesh.TriangleMesh`, which `dosecraft slice` loads without
importing trimesh (and with it scipy and networkx): most of a whole `dosecraft slice`
process used to be those imports, not the slicing.
"""

from typing import Protocol

import numpy as np


class SliceableMesh(Protocol):
    """A closed, consistently wound triangle mesh in mm.

    Attributes
    ----------
    vertices : (V, 3) float vertex positions.
    faces : (F, 3) int vertex indices, counter-clockwise seen from outside.
    edges_unique : (E, 2) int vertex indices of each distinct edge (sorted pair).
    faces_unique_edges : (F, 3) int index into `edges_unique` of each face side
        (v0→v1, v1→v2, v2→v0).
    bounds : (2, 3) float lowest and highest corner.
    is_empty : True when the mesh has no triangles.
    """

    @property
    def vertices(self) -> np.ndarray: ...

    @property
    def faces(self) -> np.ndarray: ...

    @property
    def edges_unique(self) -> np.ndarray: ...

    @property
    def faces_unique_edges(self) -> np.ndarray: ...

    @property
    def bounds(self) -> np.ndarray: ...

    @property
    def is_empty(self) -> bool: ...
