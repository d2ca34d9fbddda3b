"""Parametric shapes: watertight meshes whose analytic volume and area match trimesh."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosecraft.constants import MESH_AGREEMENT
from dosecraft.dose.shapes import FAMILIES, family
from dosecraft.errors import ShapeError
from dosecraft.io.meshes import export_3mf, export_stl, load_mesh
from dosecraft.model.enums import ShapeKind


@pytest.mark.parametrize("kind", list(FAMILIES))
@given(size=st.floats(2.0, 20.0), height_ratio=st.floats(0.3, 1.2))
@settings(max_examples=15, deadline=None)
def test_analytic_volume_and_area_match_mesh(kind, size, height_ratio):
    fam = FAMILIES[kind]
    dims = fam.dimensions(size, height_ratio * size)
    mesh = fam.mesh(dims)
    assert mesh.is_watertight
    assert mesh.volume > 0
    assert abs(mesh.volume / fam.volume_mm3(dims) - 1) < MESH_AGREEMENT
    assert abs(mesh.area / fam.area_mm2(dims) - 1) < MESH_AGREEMENT


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_mesh_sits_on_bed_centred(kind):
    fam = FAMILIES[kind]
    dims = fam.dimensions(8.0, fam.default_height(8.0))
    lo, hi = fam.mesh(dims).bounds
    assert lo[2] == pytest.approx(0.0, abs=1e-9)
    assert hi[2] == pytest.approx(dims["height"], rel=1e-9)
    np.testing.assert_allclose((lo[:2] + hi[:2]) / 2, 0.0, atol=1e-9)
    length, width = fam.extent_mm(dims)
    assert hi[0] - lo[0] == pytest.approx(length, rel=1e-3)
    assert hi[1] - lo[1] == pytest.approx(width, rel=1e-3)


def test_known_values():
    cyl = family(ShapeKind.CYLINDER).dimensions(10.0, 4.0)
    assert family(ShapeKind.CYLINDER).volume_mm3(cyl) == pytest.approx(np.pi * 25 * 4)
    assert family(ShapeKind.CYLINDER).area_mm2(cyl) == pytest.approx(2 * np.pi * 25 + np.pi * 40)
    ring = family(ShapeKind.TORUS)
    dims = ring.dimensions(10.0, 3.0)
    assert ring.min_feature_mm(dims) == pytest.approx(3.0)


def test_mesh_is_not_parametric():
    with pytest.raises(ShapeError, match="not parametric"):
        family(ShapeKind.MESH)


def test_stl_and_3mf_round_trip(tmp_path):
    fam = family(ShapeKind.CAPLET)
    dims = fam.dimensions(6.0, 4.0)
    mesh = fam.mesh(dims)
    stl = export_stl(mesh, tmp_path / "caplet.stl")
    three = export_3mf(mesh, tmp_path / "caplet.3mf")
    for path in (stl, three):
        back = load_mesh(path)
        assert back.is_watertight
        assert back.volume == pytest.approx(mesh.volume, rel=1e-6)
    assert not list(tmp_path.glob(".*tmp"))


def test_load_mesh_rejects_bad_files(tmp_path):
    with pytest.raises(ShapeError, match="does not exist"):
        load_mesh(tmp_path / "missing.stl")
    with pytest.raises(ShapeError, match="type '.exe'"):
        load_mesh(tmp_path / "evil.exe")
    garbage = tmp_path / "garbage.stl"
    garbage.write_bytes(b"\x00\x01binary garbage" * 10)
    with pytest.raises(ShapeError):
        load_mesh(garbage)


def test_open_mesh_is_refused_not_patched(tmp_path):
    fam = family(ShapeKind.CYLINDER)
    mesh = fam.mesh(fam.dimensions(8.0, 3.0))
    mesh.update_faces(np.arange(len(mesh.faces)) > 1)  # drop two triangles
    path = export_stl(mesh, tmp_path / "open.stl")
    with pytest.raises(ShapeError, match="not watertight"):
        load_mesh(path)
