"""The `mesh` shape: a user's own solid, scaled to hold the dose."""

from collections.abc import Mapping
from dataclasses import dataclass, field

import trimesh

from dosecraft.dose.shapes import ShapeFamily
from dosecraft.model.enums import ShapeKind


@dataclass(frozen=True)
class UserMesh(ShapeFamily):
    """A user mesh scaled uniformly in XY by `scale`, its height snapped to whole layers.

    The Z scale differs from the XY scale by at most half a layer's worth, so the shape
    stays the user's while the printed height is a whole number of layers.
    """

    base: trimesh.Trimesh = field(default=None, repr=False)  # type: ignore[assignment]
    kind: ShapeKind = ShapeKind.MESH

    @property
    def base_extents(self) -> tuple[float, float, float]:
        ext = self.base.extents
        return float(ext[0]), float(ext[1]), float(ext[2])

    def dimensions(self, size_mm: float, height_mm: float) -> dict[str, float]:
        ex, ey, _ = self.base_extents
        scale = size_mm / min(ex, ey)
        return {"scale": scale, "length": max(ex, ey) * scale, "width": size_mm,
                "height": height_mm}

    def default_height(self, size_mm: float) -> float:
        ex, ey, ez = self.base_extents
        return ez * size_mm / min(ex, ey)

    def _z_scale(self, dims: Mapping[str, float]) -> float:
        return dims["height"] / self.base_extents[2]

    def volume_mm3(self, dims: Mapping[str, float]) -> float:
        return float(self.base.volume) * dims["scale"] ** 2 * self._z_scale(dims)

    def area_mm2(self, dims: Mapping[str, float]) -> float:
        return float(self.mesh(dims).area)

    def mesh(self, dims: Mapping[str, float]) -> trimesh.Trimesh:
        scaled = self.base.copy()
        s = dims["scale"]
        scaled.apply_scale([s, s, self._z_scale(dims)])
        return scaled

    def extent_mm(self, dims: Mapping[str, float]) -> tuple[float, float]:
        return dims["length"], dims["width"]
