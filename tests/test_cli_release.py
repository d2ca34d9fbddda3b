"""`dosecraft release`: fit, compare, predict, calibrate, and the calibration store."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dosecraft.cli import app
from dosecraft.dose.shapes import family
from dosecraft.formulary import (
    ENV_VAR,
    SHIPPED_DIR,
    get_formulation,
    load_formulation_file,
)
from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import ShapeKind
from dosecraft.model.formulation import Formulation, ReleaseParameters
from dosecraft.release import estimate_release, store

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DISSOLUTION = SAMPLES / "dissolution"
RX_FLAGS = ["--drug", "paracetamol", "--formulation", "paracetamol_pva_fdm",
            "--printer", "generic_fdm_175", "--dose-mg", "50", "--shape", "cylinder",
            "--resolution", "0.2"]
TIMES = np.array([5.0, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240])

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["release", *args])


def write_profile(path: Path, times, pct, replicate=None) -> Path:
    lines = ["time_min,percent_released" + (",replicate" if replicate is not None else "")]
    for i, (t, p) in enumerate(zip(times, pct, strict=True)):
        extra = f",{replicate[i]}" if replicate is not None else ""
        lines.append(f"{t:g},{p:.4f}{extra}")
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_input_error(result, *fragments: str) -> None:
    """Exit 2 with one `error:` line naming the problem, and no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "error:" in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture(autouse=True)
def _hermetic_formulary(tmp_path, monkeypatch) -> None:
    """Only the shipped formulary, whatever the developer's environment holds (the user
    data folder is already a fresh temporary one: see conftest)."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def user_formulary(tmp_path, monkeypatch) -> Path:
    """A user formulary folder on the loader's search path (via the environment)."""
    folder = tmp_path / "formulary"
    folder.mkdir()
    monkeypatch.setenv(ENV_VAR, str(folder))
    return folder


# ---------------------------------------------------------------------------- fit
@pytest.mark.parametrize(("sample", "model"), [
    ("paracetamol_pva_weibull.csv", "weibull"),
    ("theophylline_hpmc_peppas_sahlin.csv", "peppas_sahlin"),
])
def test_fit_picks_the_generating_model(sample, model):
    result = invoke("fit", str(DISSOLUTION / sample), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["best"] == model
    assert out["fits"][0]["model"] == model and out["fits"][0]["delta_aic"] == 0.0


def test_fit_first_order_sample_is_supported_as_well_as_the_best():
    # One noisy vessel: a 3-parameter Weibull with lag edges first-order by < 2 AIC units,
    # which means "equally supported" (README: the curve is first order).
    out = json.loads(invoke("fit", str(DISSOLUTION / "propranolol_pva_first_order.csv"),
                            "--json").stdout)
    first = next(f for f in out["fits"] if f["model"] == "first_order")
    assert first["delta_aic"] < 2.0
    assert first["params"]["k1"] == pytest.approx(0.035, rel=0.05)


def test_fit_table_shows_ci_r2_aic_and_writes_a_plot(tmp_path):
    png = tmp_path / "fit.png"
    result = invoke("fit", str(DISSOLUTION / "paracetamol_pva_weibull.csv"),
                    "--models", "weibull,first_order", "--plot", str(png))
    assert result.exit_code == 0, result.output
    for text in ("weibull", "first_order", "Td = 44", "±", "R²", "adj. R²", "AIC", "best:"):
        assert text in result.stdout
    assert "higuchi" not in result.stdout
    assert png.read_bytes().startswith(b"\x89PNG")


# ---------------------------------------------------------------------------- compare
def test_compare_matches_the_domain_test_vector(tmp_path):
    ref = write_profile(tmp_path / "ref.csv", [10, 20, 30, 45], [42, 67, 84, 91])
    test = write_profile(tmp_path / "test.csv", [10, 20, 30, 45], [39, 64, 80, 89])
    out = json.loads(invoke("compare", str(ref), str(test), "--json").stdout)
    assert out["f1"] == pytest.approx(4.225, abs=5e-4)
    assert out["f2"] == pytest.approx(74.47, abs=5e-3)
    assert out["applicable"] is True and out["similar"] is True and out["n_points"] == 4
    assert out["reference"]["t50_min"] == pytest.approx(13.2)
    assert out["test"]["t90_min"] is None  # never reaches 90 %
    table = invoke("compare", str(ref), str(test))
    assert table.exit_code == 0
    for text in ("4.225", "74.47", "similar", "MDT", "t80", "≥ 50"):
        assert text in table.stdout


def test_compare_with_vessels_checks_the_cv_rule():
    # paracetamol's 6 vessels scatter 23 % CV at 5 min: f2 is computed but not decisive
    out = json.loads(invoke("compare", str(DISSOLUTION / "paracetamol_pva_weibull.csv"),
                            str(DISSOLUTION / "cylinder_10x4_erosion.csv"), "--json").stdout)
    assert out["applicable"] is False and out["similar"] is None
    assert "CV" in out["reason"]
    assert any("only one file" in note for note in out["notes"])


# ---------------------------------------------------------------------------- predict
def test_predict_prints_t50_t80_and_json_parses(tmp_path):
    table = invoke("predict", *RX_FLAGS)
    assert table.exit_code == 0, table.output
    for text in ("t50", "t80", "MDT", "erosion", "erosion_rate_mm_min", "example"):
        assert text in table.stdout
    result = invoke("predict", *RX_FLAGS, "--json")
    out = json.loads(result.stdout)
    release = out["release"]
    assert release["model"] == "erosion" and out["resolution_mm"] == 0.2
    assert 0 < release["t50_min"] < release["t80_min"]
    assert release["parameters"]["resolution_mm"] == 0.2
    assert any("uncalibrated" in w for w in out["warnings"])


def test_predict_against_a_target_reports_f2_and_plots(tmp_path):
    png = tmp_path / "predict.png"
    out = json.loads(invoke("predict", *RX_FLAGS, "--json", "--plot", str(png), "--target",
                            str(DISSOLUTION / "paracetamol_pva_weibull.csv")).stdout)
    assert out["target"]["f2"] is not None and out["target"]["reason"]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_predict_from_a_prescriptions_file():
    out = json.loads(invoke("predict", "--from", str(SAMPLES / "prescriptions.csv"),
                            "--row", "RX-2026-0002", "--resolution", "0.2", "--json").stdout)
    assert out["rx_id"] == "RX-2026-0002" and out["design"]["shape"] == "biconvex"
    assert out["release"]["t80_min"] > 0


# ---------------------------------------------------------------------------- calibrate
CASES = {
    # formulation, geometry, truth, printer (None: the solid envelope)
    "erosion": ("paracetamol_pva_fdm", {"diameter": 10.0, "height": 4.0},
                {"erosion_rate_mm_min": 0.025, "lag_min": 4.0}, None),
    "diffusion": ("levetiracetam_hpmc_sse", {"diameter": 10.0, "height": 4.0},
                  {"diffusion_coeff_mm2_min": 0.004, "lag_min": 3.0}, None),
    "erosion_toolpath": ("paracetamol_pva_fdm", {"diameter": 10.0, "height": 4.0},
                         {"erosion_rate_mm_min": 0.02, "lag_min": 2.0}, "generic_fdm_175"),
}


def synthetic_curve(tmp_path: Path, kind: str, dims: dict, truth: dict,
                    printer: str | None, infill: float) -> Path:
    """3 vessels of the estimator's own curve on the design, with 1 % noise."""
    mesh = family(ShapeKind.CYLINDER).mesh(dims)
    toolpath = None
    if printer is not None:
        from dosecraft.profiles import load_profile
        from dosecraft.slicer import slice_tablet

        profile = load_profile(printer)
        toolpath = slice_tablet(mesh, profile, InfillStrategy(
            infill, profile.infill_pattern, profile.infill_angle_deg))
    params = ReleaseParameters(model=kind, source="truth", **truth)
    est = estimate_release(mesh, params, toolpath=toolpath, resolution_mm=0.2,
                           t_max_min=float(TIMES.max()))
    clean = 100 * np.interp(TIMES, est.time_min, est.fraction)
    rng = np.random.default_rng(7)
    pct = np.clip(clean + rng.normal(0, 1.0, (3, TIMES.size)), 0, 105)
    return write_profile(tmp_path / f"{kind}.csv", np.tile(TIMES, 3), pct.ravel(),
                         np.repeat([1, 2, 3], TIMES.size))


@pytest.mark.parametrize("case", list(CASES))
def test_calibrate_recovers_the_parameter_and_the_formulary_uses_it(case, tmp_path,
                                                                    user_formulary):
    fid, dims, truth, printer = CASES[case]
    kind = case.split("_")[0]
    infill = 0.5 if printer else 1.0
    data = synthetic_curve(tmp_path, kind, dims, truth, printer, infill)
    args = ["calibrate", fid, "--data", str(data), "--shape", "cylinder",
            "--dims", ",".join(f"{k}={v:g}" for k, v in dims.items()), "--model", kind,
            "--resolution", "0.2", "--source", "synthetic lab run 7",
            "--formulary-dir", str(user_formulary), "--json"]
    if printer:
        args += ["--printer", printer, "--infill", str(infill)]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rate_key = next(k for k in truth if k != "lag_min")
    assert out["parameters"][rate_key] == pytest.approx(truth[rate_key], rel=0.03)
    # the interval is printed around the estimate (its coverage is tested in the library)
    lo, hi = out["ci95"][rate_key]
    assert lo < out["parameters"][rate_key] < hi and (hi - lo) < 0.1 * truth[rate_key]
    assert out["rmse_pct"] < 2.0 and out["notes"] == []

    # the stored file: the full formulation, a traceable source, read by the loader
    stored = Path(out["stored"])
    assert stored == (user_formulary / f"{fid}.toml").resolve()
    digest = store.file_sha256(data)
    loaded = get_formulation(fid)
    assert loaded.release.model == kind
    assert getattr(loaded.release, rate_key) == out["parameters"][rate_key]
    assert loaded.release.source.startswith("synthetic lab run 7; data")
    assert digest in loaded.release.source
    shipped = load_formulation_file(SHIPPED_DIR / f"{fid}.toml")
    assert loaded.model_dump(exclude={"release"}) == shipped.model_dump(exclude={"release"})

    show = runner.invoke(app, ["formulary", "show", fid])
    assert show.exit_code == 0 and repr(getattr(loaded.release, rate_key)) in show.stdout


def test_predict_uses_the_stored_calibration(tmp_path, user_formulary):
    fid, dims, truth, _ = CASES["erosion"]
    data = synthetic_curve(tmp_path, "erosion", dims, truth, None, 1.0)
    assert invoke("calibrate", fid, "--data", str(data), "--shape", "cylinder",
                  "--dims", "diameter=10,height=4", "--resolution", "0.2",
                  "--formulary-dir", str(user_formulary)).exit_code == 0
    out = json.loads(invoke("predict", *RX_FLAGS, "--json").stdout)
    stored = get_formulation(fid).release
    assert out["release_source"] == stored.source
    assert out["release"]["parameters"]["erosion_rate_mm_min"] == stored.erosion_rate_mm_min
    assert not any("uncalibrated" in w for w in out["warnings"])


def test_calibrate_defaults_to_the_user_data_folder_which_the_loader_reads():
    from dosecraft.formulary import get_formulation
    from dosecraft.formulary.loader import user_formulary_dir

    result = invoke("calibrate", "paracetamol_pva_fdm", "--data",
                    str(DISSOLUTION / "cylinder_10x4_erosion.csv"), "--shape", "cylinder",
                    "--dims", "diameter=10,height=4", "--resolution", "0.2")
    assert result.exit_code == 0, result.output
    stored = user_formulary_dir() / "paracetamol_pva_fdm.toml"
    assert stored.is_file() and "0.02" in result.stdout  # sample: 0.02 mm/min
    assert store.on_search_path(stored.parent)
    assert ENV_VAR not in result.stdout.replace("\n", "")
    calibrated = get_formulation("paracetamol_pva_fdm")
    assert calibrated.release.erosion_rate_mm_min == pytest.approx(0.02, rel=0.05)
    assert "cylinder_10x4_erosion.csv" in calibrated.release.source


def test_dry_run_stores_nothing(tmp_path):
    result = invoke("calibrate", "paracetamol_pva_fdm", "--data",
                    str(DISSOLUTION / "cylinder_10x4_erosion.csv"), "--shape", "cylinder",
                    "--dims", "diameter=10,height=4", "--resolution", "0.2", "--dry-run",
                    "--formulary-dir", str(tmp_path))
    assert result.exit_code == 0 and "not stored" in result.stdout
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- store
@pytest.mark.parametrize("path", sorted(SHIPPED_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_formulation_toml_round_trips(path):
    formulation = load_formulation_file(path)
    text = store.formulation_toml(formulation, ["header"])
    assert Formulation.model_validate(tomllib.loads(text)) == formulation


def test_stored_values_are_rounded_but_valid():
    params = ReleaseParameters(model="erosion", erosion_rate_mm_min=0.019891913402176,
                               lag_min=4.5e-18, source="x")
    out = store.rounded(params)
    assert out.erosion_rate_mm_min == 0.0198919 and out.lag_min == 0.0


# ---------------------------------------------------------------------------- bad input
def test_missing_data_file(tmp_path):
    assert_input_error(invoke("fit", str(tmp_path / "nope.csv")), "not found", "nope.csv")


def test_non_numeric_cell(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time_min,percent_released\n5,12\n10,abc\n")
    assert_input_error(invoke("fit", str(bad)), "line 3", "percent_released", "'abc'")


@pytest.mark.parametrize(("last", "shown"), [("0.91", "91, not 0.91"), ("1.02", "102, not 1.02")])
def test_fractions_instead_of_percent(tmp_path, last, shown):
    bad = tmp_path / "fractions.csv"
    bad.write_text(f"time_min,percent_released\n0,0\n15,0.42\n30,0.67\n60,{last}\n")
    assert_input_error(invoke("fit", str(bad)), "look like fractions", f"write percent ({shown})")


def test_an_acid_stage_profile_below_half_a_percent_is_percent(tmp_path):
    from dosecraft.io.dissolution import read_dissolution

    acid = tmp_path / "acid.csv"
    acid.write_text("time_min,percent_released\n0,0\n60,0.1\n120,0.3\n")
    assert read_dissolution(acid).pct.max() == pytest.approx(0.3)


def test_missing_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,released\n5,12\n")
    assert_input_error(invoke("compare", str(bad), str(bad)), "missing column",
                       "time_min")


def test_unknown_model():
    assert_input_error(invoke("fit", str(DISSOLUTION / "paracetamol_pva_weibull.csv"),
                              "--models", "weibul"), "unknown release model", "weibull")


def test_unknown_formulation(tmp_path):
    assert_input_error(invoke("calibrate", "paracetamol_pva", "--data",
                              str(DISSOLUTION / "cylinder_10x4_erosion.csv"), "--shape",
                              "cylinder", "--dims", "diameter=10,height=4",
                              "--formulary-dir", str(tmp_path)),
                       "unknown formulation 'paracetamol_pva'")
    flags = [f if f != "paracetamol_pva_fdm" else "paracetamol_pva" for f in RX_FLAGS]
    assert_input_error(invoke("predict", *flags), "unknown formulation")


@pytest.mark.parametrize(("shape", "dims", "message"), [
    ("hexagon", "diameter=10,height=4", "unknown shape 'hexagon'"),
    ("mesh", "diameter=10,height=4", "parametric shape"),
    ("cylinder", "diameter=10", "needs height"),
    ("cylinder", "diameter=10,height=4,width=3", "cylinder takes diameter=<mm>, height=<mm>"),
    ("caplet", "length=x,width=6,height=4", "'x' is not a number"),
    ("cylinder", "diameter=-1,height=4", "positive"),
    ("torus", "outer_diameter=8,inner_diameter=9,height=3", "smaller than outer_diameter"),
])
def test_bad_shape_or_dimensions(tmp_path, shape, dims, message):
    result = invoke("calibrate", "paracetamol_pva_fdm", "--data",
                    str(DISSOLUTION / "cylinder_10x4_erosion.csv"), "--shape", shape,
                    "--dims", dims, "--formulary-dir", str(tmp_path))
    assert_input_error(result, message)
    assert list(tmp_path.iterdir()) == []


def test_infill_without_printer_and_sav_model(tmp_path):
    data = str(DISSOLUTION / "cylinder_10x4_erosion.csv")
    common = ["--data", data, "--shape", "cylinder", "--dims", "diameter=10,height=4",
              "--formulary-dir", str(tmp_path)]
    assert_input_error(invoke("calibrate", "paracetamol_pva_fdm", *common, "--infill", "0.5"),
                       "needs --printer")
    assert_input_error(invoke("calibrate", "hydrocortisone_gel_sse", *common),
                       "SA/V", "--model")
