"""Scene builder: pure function, no window."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from dosecraft.model.enums import ToolRole
from dosecraft.model.toolpath import ExtrusionPath, Toolpath, ToolpathLayer
from dosecraft_gui.scene import ROLE_STYLES, build_scene, segments_to_polydata


def _square(role: ToolRole, size: float) -> ExtrusionPath:
    pts = np.array([[-size, -size], [size, -size], [size, size], [-size, size]])
    return ExtrusionPath(role, pts, 0.4, 0.08, closed=True)


def _line(role: ToolRole, n: int) -> ExtrusionPath:
    pts = np.column_stack([np.linspace(-1, 1, n + 1), np.zeros(n + 1)])
    return ExtrusionPath(role, pts, 0.4, 0.08)


@pytest.fixture
def toolpath() -> Toolpath:
    """Two layers: outer wall (4 segments) + infill (3) + solid (2), with travel between."""
    layers = tuple(
        ToolpathLayer(i, 0.2 * (i + 1), 0.2, (
            _square(ToolRole.OUTER_WALL, 3.0),
            _line(ToolRole.INFILL, 3),
            *((_line(ToolRole.SOLID, 2),) if i == 1 else ()),
        ))
        for i in range(2)
    )
    return Toolpath(layers)


def test_lines_are_grouped_and_coloured_by_role(toolpath: Toolpath) -> None:
    scene = build_scene(None, toolpath)
    assert set(scene.lines) == {ToolRole.OUTER_WALL, ToolRole.INFILL, ToolRole.SOLID,
                                ToolRole.TRAVEL}
    for role in scene.lines:
        assert scene.colours[role] == ROLE_STYLES[role].colour
        assert scene.labels[role] == ROLE_STYLES[role].label
    assert len(set(scene.colours.values())) == len(scene.colours)
    assert [label for label, _ in scene.legend()] == [
        ROLE_STYLES[r].label for r in ToolRole if r in scene.lines]


def test_point_and_cell_counts(toolpath: Toolpath) -> None:
    scene = build_scene(None, toolpath)
    # closed square = 4 segments, a 3-segment line, a 2-segment line on layer 1
    expected = {ToolRole.OUTER_WALL: 8, ToolRole.INFILL: 6, ToolRole.SOLID: 2,
                ToolRole.TRAVEL: 4}  # travel: 1 + 2 in layer 1 + 1 between layers
    for role, cells in expected.items():
        poly = scene.lines[role]
        assert poly.n_cells == cells, role
        assert poly.n_points == 2 * cells, role
    assert scene.segment_count == len(toolpath.to_arrays().role)
    assert scene.layer_count == 2


def test_layer_filter(toolpath: Toolpath) -> None:
    first = build_scene(None, toolpath, max_layer=0)
    assert first.max_layer == 0
    assert ToolRole.SOLID not in first.lines
    assert first.lines[ToolRole.OUTER_WALL].n_cells == 4
    zs = np.concatenate([p.points[:, 2] for p in first.lines.values()])
    assert np.allclose(zs, 0.2)
    assert build_scene(None, toolpath, max_layer=99).max_layer == 1
    nothing = build_scene(None, toolpath, max_layer=-1)
    assert nothing.lines == {} and nothing.max_layer is None
    assert np.allclose(first.layer_z_mm, [0.2, 0.4])


def test_role_filter_and_flat_arrays(toolpath: Toolpath) -> None:
    scene = build_scene(None, toolpath, roles=[ToolRole.INFILL])
    assert list(scene.lines) == [ToolRole.INFILL]
    from_arrays = build_scene(None, toolpath.to_arrays())
    from_toolpath = build_scene(None, toolpath)
    assert from_arrays.layer_count == from_toolpath.layer_count
    for role, poly in from_toolpath.lines.items():
        assert np.array_equal(poly.points, from_arrays.lines[role].points)


def test_mesh_becomes_a_triangle_solid() -> None:
    mesh = trimesh.creation.cylinder(radius=4, height=3, sections=32)
    scene = build_scene(mesh, None)
    assert scene.solid is not None
    assert scene.solid.n_cells == len(mesh.faces)
    assert scene.solid.n_points == len(mesh.vertices)
    assert scene.solid.is_all_triangles
    assert scene.lines == {} and scene.layer_count == 0


def test_segments_to_polydata_keeps_segment_ends() -> None:
    start = np.array([[0.0, 0, 0], [1, 1, 1]])
    end = np.array([[1.0, 0, 0], [2, 2, 2]])
    poly = segments_to_polydata(start, end)
    assert np.array_equal(poly.points[0::2], start)
    assert np.array_equal(poly.points[1::2], end)
    assert poly.lines.tolist() == [2, 0, 1, 2, 2, 3]


def test_real_toolpath_scene(small_result) -> None:
    scene = build_scene(small_result.mesh, small_result.toolpath, max_layer=3)
    arrays = small_result.toolpath.to_arrays()
    assert scene.segment_count == int(np.count_nonzero(arrays.layer <= 3))
    assert ToolRole.OUTER_WALL in scene.lines
