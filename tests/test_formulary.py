"""Formulary: shipped example formulations, user overrides, file errors, calibration copy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dosecraft.errors import FormularyError, UnknownFormulation
from dosecraft.formulary import (
    ENV_VAR,
    SHIPPED_DIR,
    formulation_ids,
    get_formulation,
    list_formulations,
    load_formulary,
    with_mass_factor,
)
from dosecraft.model.enums import ReleaseModelKind, Technology
from dosecraft.model.formulation import Formulation
from dosecraft.profiles import load_profile

SHIPPED = {
    "paracetamol_pva_fdm": (Technology.FDM, ReleaseModelKind.EROSION),
    "prednisolone_pva_fdm": (Technology.FDM, ReleaseModelKind.EROSION),
    "theophylline_hpmc_fdm": (Technology.FDM, ReleaseModelKind.DIFFUSION),
    "propranolol_gel_sse": (Technology.SSE, ReleaseModelKind.SAV_MDT),
    "hydrocortisone_gel_sse": (Technology.SSE, ReleaseModelKind.SAV_MDT),
    "levetiracetam_hpmc_sse": (Technology.SSE, ReleaseModelKind.DIFFUSION),
}
#: Largest printed volume per unit we consider swallowable / chewable (about a 1 g caplet).
MAX_UNIT_VOLUME_MM3 = 1300.0


@pytest.fixture(autouse=True)
def _no_user_formulary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def shipped_text(formulation_id: str = "paracetamol_pva_fdm") -> str:
    return (SHIPPED_DIR / f"{formulation_id}.toml").read_text(encoding="utf-8")


def write(root: Path, formulation_id: str, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{formulation_id}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- shipped data --------------------------------------------------------------------------

def test_all_six_load() -> None:
    formulary = load_formulary()
    assert sorted(formulary) == sorted(SHIPPED)
    assert formulation_ids() == sorted(SHIPPED)
    assert [f.id for f in list_formulations()] == sorted(SHIPPED)
    assert all(isinstance(f, Formulation) for f in formulary.values())


@pytest.mark.parametrize("formulation_id", sorted(SHIPPED))
def test_shipped_formulation(formulation_id: str) -> None:
    f = get_formulation(formulation_id)
    technology, release_model = SHIPPED[formulation_id]
    assert f.id == formulation_id
    assert f.technology == technology
    assert f.release.model == release_model
    assert f.example and f.source  # examples until the site replaces them
    assert f.mass_factor == 1.0
    assert f.drug_mg_per_mm3 == pytest.approx(f.density_mg_mm3 * f.drug_loading * f.mass_factor)
    assert 0.85 <= f.density_mg_mm3 <= 1.35
    assert f.min_dose_per_unit_mg < f.max_dose_per_unit_mg <= f.max_daily_dose_mg
    # The loading is chosen so the largest unit dose still fits in one tablet.
    assert f.max_dose_per_unit_mg / f.drug_mg_per_mm3 <= MAX_UNIT_VOLUME_MM3
    if technology == Technology.FDM:
        assert f.filament_diameter_mm == 1.75
        assert f.filament_diameter_mm == load_profile("generic_fdm_175").feed_diameter_mm
        assert 150 <= f.print_temp_c <= 210
    else:
        assert f.filament_diameter_mm is None
        assert f.temp_max_c <= 80  # SSE: ambient to 80 °C (DOMAIN.md)


def test_loading_and_limits_of_key_formulations() -> None:
    prednisolone = get_formulation("prednisolone_pva_fdm")
    assert prednisolone.drug_loading == pytest.approx(0.019)
    assert prednisolone.max_daily_mg_per_kg == 2.0
    paracetamol = get_formulation("paracetamol_pva_fdm")
    assert paracetamol.print_temp_c == 180.0
    assert (paracetamol.max_daily_dose_mg, paracetamol.max_daily_mg_per_kg) == (4000.0, 75.0)
    assert 0.6 <= get_formulation("levetiracetam_hpmc_sse").drug_loading <= 0.7


def test_mg_per_mm3_includes_mass_factor() -> None:
    f = with_mass_factor(get_formulation("theophylline_hpmc_fdm"), 1.075)
    assert f.mass_factor == 1.075
    assert f.drug_mg_per_mm3 == pytest.approx(1.30 * 0.40 * 1.075)


# --- lookup and errors ---------------------------------------------------------------------

def test_unknown_id_lists_available() -> None:
    with pytest.raises(UnknownFormulation) as err:
        get_formulation("paracetamol_pva")
    message = str(err.value)
    assert "unknown formulation 'paracetamol_pva'" in message
    assert "Did you mean 'paracetamol_pva_fdm'" in message
    assert all(fid in message for fid in SHIPPED)


@pytest.mark.parametrize("bad_id", ["../paracetamol_pva_fdm", "Paracetamol", ""])
def test_path_like_ids_are_unknown(bad_id: str) -> None:
    with pytest.raises(UnknownFormulation):
        get_formulation(bad_id)


def test_out_of_range_value_names_file_key_value_range(tmp_path: Path) -> None:
    path = write(tmp_path, "paracetamol_pva_fdm",
                 shipped_text().replace("drug_loading = 0.10", "drug_loading = 1.5"))
    with pytest.raises(FormularyError) as err:
        get_formulation("paracetamol_pva_fdm", extra_dirs=[tmp_path])
    message = str(err.value)
    assert str(path) in message
    assert "drug_loading = 1.5" in message
    assert "0 < value ≤ 1" in message


def test_nested_release_errors(tmp_path: Path) -> None:
    text = shipped_text().replace("erosion_rate_mm_min = 0.015", "erosion_rate_mm_min = -1")
    write(tmp_path, "paracetamol_pva_fdm", text)
    with pytest.raises(FormularyError, match=r"release\.erosion_rate_mm_min = -1.*> 0 mm/min"):
        get_formulation("paracetamol_pva_fdm", extra_dirs=[tmp_path])
    text = shipped_text().replace('model = "erosion"', 'model = "diffusion"')
    write(tmp_path, "paracetamol_pva_fdm", text)
    with pytest.raises(FormularyError, match="needs diffusion_coeff_mm2_min"):
        get_formulation("paracetamol_pva_fdm", extra_dirs=[tmp_path])


def test_unknown_key_suggests(tmp_path: Path) -> None:
    write(tmp_path, "mine", shipped_text().replace('id = "paracetamol_pva_fdm"\n', "")
          .replace("density_mg_mm3", "densty_mg_mm3"))
    with pytest.raises(FormularyError) as err:
        get_formulation("mine", extra_dirs=[tmp_path])
    message = str(err.value)
    assert "unknown key 'densty_mg_mm3'" in message
    assert "did you mean 'density_mg_mm3'" in message
    assert "missing required key 'density_mg_mm3'" in message


def test_cross_field_check_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "paracetamol_pva_fdm",
          shipped_text().replace("print_temp_c = 180.0", "print_temp_c = 230.0"))
    with pytest.raises(FormularyError, match="print_temp_c 230.0 is outside"):
        get_formulation("paracetamol_pva_fdm", extra_dirs=[tmp_path])


def test_id_must_match_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "renamed", shipped_text())
    with pytest.raises(FormularyError, match="does not match the file name") as err:
        load_formulary([tmp_path])
    assert str(path) in str(err.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken", "drug = \n")
    with pytest.raises(FormularyError, match="not valid TOML") as err:
        get_formulation("broken", extra_dirs=[tmp_path])
    assert str(path) in str(err.value)


def test_a_broken_file_does_not_block_other_lookups(tmp_path: Path) -> None:
    write(tmp_path, "broken", "drug = \n")
    assert get_formulation("propranolol_gel_sse", extra_dirs=[tmp_path]).drug_loading == 0.02
    with pytest.raises(FormularyError):
        load_formulary([tmp_path])


# --- user folders --------------------------------------------------------------------------

def test_extra_dir_overrides_and_adds(tmp_path: Path) -> None:
    write(tmp_path, "paracetamol_pva_fdm",
          shipped_text().replace("drug_loading = 0.10", "drug_loading = 0.05"))
    write(tmp_path, "paracetamol_site_fdm",
          shipped_text().replace('"paracetamol_pva_fdm"', '"paracetamol_site_fdm"'))
    formulary = load_formulary([tmp_path])
    assert formulary["paracetamol_pva_fdm"].drug_loading == 0.05
    assert set(formulary) == set(SHIPPED) | {"paracetamol_site_fdm"}
    assert get_formulation("paracetamol_pva_fdm", [tmp_path]).drug_loading == 0.05
    assert get_formulation("paracetamol_pva_fdm").drug_loading == 0.10


def test_env_var_folder_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    write(env_dir, "paracetamol_pva_fdm",
          shipped_text().replace("drug_loading = 0.10", "drug_loading = 0.08"))
    write(arg_dir, "paracetamol_pva_fdm",
          shipped_text().replace("drug_loading = 0.10", "drug_loading = 0.06"))
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(tmp_path / "missing"), str(env_dir)]))
    assert get_formulation("paracetamol_pva_fdm").drug_loading == 0.08
    assert get_formulation("paracetamol_pva_fdm", [arg_dir]).drug_loading == 0.06


def test_edited_file_is_reloaded(tmp_path: Path) -> None:
    path = write(tmp_path, "paracetamol_pva_fdm", shipped_text())
    assert get_formulation("paracetamol_pva_fdm", [tmp_path]).drug_loading == 0.10
    path.write_text(shipped_text().replace("drug_loading = 0.10", "drug_loading = 0.075"),
                    encoding="utf-8")
    assert get_formulation("paracetamol_pva_fdm", [tmp_path]).drug_loading == 0.075


# --- calibration copy ----------------------------------------------------------------------

def test_with_mass_factor_returns_validated_copy() -> None:
    original = get_formulation("prednisolone_pva_fdm")
    calibrated = with_mass_factor(original, 1.075)
    assert calibrated is not original
    assert original.mass_factor == 1.0
    assert calibrated.model_dump(exclude={"mass_factor"}) == original.model_dump(
        exclude={"mass_factor"})
    assert calibrated.drug_mg_per_mm3 == pytest.approx(original.drug_mg_per_mm3 * 1.075)


@pytest.mark.parametrize("factor", [0.3, 1.5, float("nan")])
def test_with_mass_factor_rejects_out_of_range(factor: float) -> None:
    with pytest.raises(FormularyError, match="mass_factor") as err:
        with_mass_factor(get_formulation("prednisolone_pva_fdm"), factor)
    assert "prednisolone_pva_fdm" in str(err.value)
