"""Printer profiles: shipped data, inherits, schema checks, search folders, errors."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

from dosecraft.errors import ProfileError
from dosecraft.model.enums import ExtruderKind, Firmware, Technology
from dosecraft.model.profile import PrinterProfile
from dosecraft.profiles import (
    ENV_VAR,
    PROFILE_FIELD_DOCS,
    PROFILE_SCHEMA,
    TEMPLATE_PLACEHOLDERS,
    list_profiles,
    load_profile,
    profile_as_table_rows,
    shipped_profiles_dir,
)

SHIPPED = {
    "generic_fdm_175": (Technology.FDM, Firmware.MARLIN2, ExtruderKind.FILAMENT),
    "klipper_fdm_175": (Technology.FDM, Firmware.KLIPPER, ExtruderKind.FILAMENT),
    "reprap_fdm_175": (Technology.FDM, Firmware.REPRAPFIRMWARE, ExtruderKind.FILAMENT),
    "generic_sse_syringe": (Technology.SSE, Firmware.MARLIN2, ExtruderKind.SYRINGE),
    "volumetric_sse": (Technology.SSE, Firmware.MARLIN2, ExtruderKind.VOLUMETRIC),
    "pneumatic_sse": (Technology.SSE, Firmware.MARLIN2, ExtruderKind.PNEUMATIC),
}
TEMPLATE_VALUES = {"nozzle_temp_c": 200.0, "bed_temp_c": 50.0, "bed_x_mm": 200.0,
                   "bed_y_mm": 200.0, "max_z_mm": 180.0}
assert set(TEMPLATE_VALUES) == set(TEMPLATE_PLACEHOLDERS)

MINIMAL = """
inherits = "base/fdm"
name = "Test printer"
firmware = "marlin2"
"""


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def write(root: Path, profile_id: str, text: str) -> Path:
    path = root / f"{profile_id}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- shipped profiles ----------------------------------------------------------------------

def test_shipped_profiles_are_listed_and_bases_are_not() -> None:
    ids = [row.id for row in list_profiles()]
    assert ids == sorted(SHIPPED)
    assert not any(i.startswith("base/") for i in ids)


@pytest.mark.parametrize("profile_id", sorted(SHIPPED))
def test_shipped_profile_loads_and_validates(profile_id: str) -> None:
    profile = load_profile(profile_id)
    assert isinstance(profile, PrinterProfile)
    assert profile.id == profile_id
    assert not profile.abstract
    assert (profile.technology, profile.firmware, profile.extruder) == SHIPPED[profile_id]
    if profile.extruder == ExtruderKind.PNEUMATIC:
        assert profile.feed_diameter_mm is None
        assert profile.pressure_on_gcode and profile.pressure_off_gcode
        assert profile.pressure_dwell_ms == 150
    else:
        assert profile.feed_diameter_mm is not None
    if profile.technology == Technology.FDM:
        assert profile.feed_diameter_mm == 1.75
        assert profile.nozzle_diameter_mm == 0.4
        assert (profile.bed_x_mm, profile.bed_y_mm) == (200.0, 200.0)
    else:
        assert profile.syringe_volume_ml == 10.0
        assert (profile.bed_x_mm, profile.bed_y_mm) == (150.0, 150.0)
        assert profile.min_feature_mm == 1.2


@pytest.mark.parametrize("profile_id", sorted(SHIPPED))
def test_shipped_templates_fill_and_hold_no_extrusion(profile_id: str) -> None:
    profile = load_profile(profile_id)
    for template in (profile.start_gcode, profile.end_gcode):
        assert template.strip()
        text = template.format(**TEMPLATE_VALUES)
        assert "{" not in text and "}" not in text
        assert text.isascii()
        # Extrusion here would be counted in the dose read back from the G-code.
        code_lines = [line.split(";")[0] for line in text.splitlines()]
        assert not [line for line in code_lines if re.search(r"\bE-?[\d.]", line)]


def test_shipped_folder_is_the_repository_one() -> None:
    assert (shipped_profiles_dir() / "base" / "fdm.toml").is_file()


# --- schema --------------------------------------------------------------------------------

def test_schema_covers_every_model_field_with_docs() -> None:
    assert list(PROFILE_SCHEMA) == list(PrinterProfile.model_fields)
    assert set(PROFILE_FIELD_DOCS) == set(PrinterProfile.model_fields)
    assert all(desc for _, desc in PROFILE_FIELD_DOCS.values())


def test_schema_ranges_come_from_the_model() -> None:
    nozzle = PROFILE_SCHEMA["nozzle_diameter_mm"]
    assert (nozzle.minimum, nozzle.maximum, nozzle.unit) == (0.1, 2.0, "mm")
    feed = PROFILE_SCHEMA["feed_diameter_mm"]
    assert feed.min_exclusive and feed.maximum == 40 and feed.nullable
    assert PROFILE_SCHEMA["wall_count"].type_name == "integer"
    assert "klipper" in PROFILE_SCHEMA["firmware"].choices
    assert PROFILE_SCHEMA["print_speed_mm_s"].allowed_text() == "number > 0 mm/s"


def test_table_rows_have_unit_and_description() -> None:
    rows = profile_as_table_rows(load_profile("generic_fdm_175"))
    assert [r[0] for r in rows] == list(PROFILE_SCHEMA)
    by_key = {key: (value, unit, desc) for key, value, unit, desc in rows}
    assert by_key["nozzle_diameter_mm"][:2] == ("0.4", "mm")
    assert by_key["firmware"][0] == "marlin2"
    assert by_key["syringe_volume_ml"][0] == ""
    assert all(desc for _, _, desc in by_key.values())


# --- inherits ------------------------------------------------------------------------------

def test_inherits_merges_and_child_wins(tmp_path: Path) -> None:
    write(tmp_path, "base/small", 'abstract = true\ninherits = "base/fdm"\n'
                                  "bed_x_mm = 120\nbed_y_mm = 120\nnozzle_diameter_mm = 0.6\n")
    write(tmp_path, "mini", 'inherits = "base/small"\nname = "Mini"\nfirmware = "klipper"\n'
                            "nozzle_diameter_mm = 0.25\nline_width_mm = 0.3\n"
                            "layer_height_mm = 0.1\nfirst_layer_height_mm = 0.15\n")
    profile = load_profile("mini", extra_dirs=[tmp_path])
    assert profile.nozzle_diameter_mm == 0.25          # child over parent
    assert profile.bed_x_mm == 120                      # parent over grandparent
    assert profile.wall_count == 2                      # grandparent (shipped base/fdm)
    assert profile.feed_diameter_mm == 1.75
    assert not profile.abstract                         # abstract is not inherited


def test_inheriting_own_id_extends_the_shipped_profile(tmp_path: Path) -> None:
    write(tmp_path, "generic_fdm_175", 'inherits = "generic_fdm_175"\nprint_speed_mm_s = 18\n')
    profile = load_profile("generic_fdm_175", extra_dirs=[tmp_path])
    assert profile.print_speed_mm_s == 18
    assert profile.name == load_profile("generic_fdm_175").name
    assert "M109" in profile.start_gcode


def test_inherits_cycle_is_an_error(tmp_path: Path) -> None:
    a = write(tmp_path, "a", 'inherits = "b"\nname = "A"\n')
    write(tmp_path, "b", 'inherits = "a"\n')
    with pytest.raises(ProfileError, match="cycle") as err:
        load_profile("a", extra_dirs=[tmp_path])
    assert str(a) in str(err.value)


def test_missing_parent_names_the_file_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "p", MINIMAL.replace("base/fdm", "base/fmd"))
    with pytest.raises(ProfileError) as err:
        load_profile("p", extra_dirs=[tmp_path])
    assert str(path) in str(err.value)
    assert "base/fmd" in str(err.value) and "did you mean 'base/fdm'" in str(err.value)


# --- schema errors -------------------------------------------------------------------------

def test_unknown_key_names_it_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "p", MINIMAL + "nozle_diameter_mm = 0.4\n")
    with pytest.raises(ProfileError) as err:
        load_profile("p", extra_dirs=[tmp_path])
    message = str(err.value)
    assert str(path) in message
    assert "unknown key 'nozle_diameter_mm'" in message
    assert "did you mean 'nozzle_diameter_mm'" in message
    assert "travel_speed_mm_s" in message  # the valid keys are listed


def test_out_of_range_value_names_key_value_and_range(tmp_path: Path) -> None:
    write(tmp_path, "p", MINIMAL + "nozzle_diameter_mm = 5.0\n")
    with pytest.raises(ProfileError) as err:
        load_profile("p", extra_dirs=[tmp_path])
    message = str(err.value)
    assert "'p'" in message
    assert "nozzle_diameter_mm = 5" in message
    assert "0.1 ≤ value ≤ 2 mm" in message


def test_inherited_bad_value_says_which_file_set_it(tmp_path: Path) -> None:
    base = write(tmp_path, "base/bad", 'abstract = true\ninherits = "base/fdm"\n'
                                       'firmware = "marlin"\n')
    write(tmp_path, "p", 'inherits = "base/bad"\nname = "P"\n')
    with pytest.raises(ProfileError) as err:
        load_profile("p", extra_dirs=[tmp_path])
    message = str(err.value)
    assert "firmware = 'marlin'" in message and str(base) in message
    assert "one of marlin2, klipper, reprapfirmware" in message


def test_cross_field_check_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "p", MINIMAL + "layer_height_mm = 0.4\n")
    with pytest.raises(ProfileError, match="layer_height_mm 0.4 is too thick"):
        load_profile("p", extra_dirs=[tmp_path])


def test_missing_required_key(tmp_path: Path) -> None:
    write(tmp_path, "p", 'inherits = "base/fdm"\nfirmware = "marlin2"\n')
    with pytest.raises(ProfileError, match="missing required key 'name'"):
        load_profile("p", extra_dirs=[tmp_path])


def test_id_key_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "p", MINIMAL + 'id = "other"\n')
    with pytest.raises(ProfileError, match="profile ID is the file's path"):
        load_profile("p", extra_dirs=[tmp_path])


@pytest.mark.parametrize("template", ["M104 S{hotend}", "M104 S{", "G1 X{0}"])
def test_bad_template_placeholder(tmp_path: Path, template: str) -> None:
    write(tmp_path, "p", MINIMAL + f'start_gcode = "{template}"\n')
    with pytest.raises(ProfileError, match="start_gcode"):
        load_profile("p", extra_dirs=[tmp_path])


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p", "name = \n")
    with pytest.raises(ProfileError, match="not valid TOML") as err:
        load_profile("p", extra_dirs=[tmp_path])
    assert str(path) in str(err.value)


# --- abstract bases, IDs, search folders ---------------------------------------------------

@pytest.mark.parametrize("profile_id", ["base/fdm", "base/sse"])
def test_abstract_bases_cannot_be_loaded(profile_id: str) -> None:
    with pytest.raises(ProfileError, match="abstract"):
        load_profile(profile_id)


def test_abstract_flag_outside_base_folder(tmp_path: Path) -> None:
    write(tmp_path, "shared", MINIMAL + "abstract = true\n")
    assert "shared" not in [r.id for r in list_profiles([tmp_path])]
    with pytest.raises(ProfileError, match="abstract"):
        load_profile("shared", extra_dirs=[tmp_path])


def test_unknown_id_lists_available(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile("generic_fdm_17")
    message = str(err.value)
    assert "unknown printer profile 'generic_fdm_17'" in message
    assert "Did you mean 'generic_fdm_175'" in message
    assert all(pid in message for pid in SHIPPED)
    assert "base/fdm" not in message.split("(searched")[0]


@pytest.mark.parametrize("bad_id", ["../generic_fdm_175", "/etc/passwd", ".hidden", ""])
def test_path_like_ids_are_rejected(bad_id: str) -> None:
    with pytest.raises(ProfileError, match="invalid profile ID"):
        load_profile(bad_id)


def test_env_var_folder_overrides_and_adds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    shipped = (shipped_profiles_dir() / "generic_fdm_175.toml").read_text(encoding="utf-8")
    write(tmp_path, "generic_fdm_175", shipped.replace('name = "', 'name = "Site copy of '))
    write(tmp_path, "site/my_printer", MINIMAL.replace("Test printer", "My printer"))
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(tmp_path / "does-not-exist"), str(tmp_path)]))
    rows = {row.id: row for row in list_profiles()}
    assert set(rows) == set(SHIPPED) | {"site/my_printer"}
    assert rows["generic_fdm_175"].name.startswith("Site copy of")
    assert rows["generic_fdm_175"].path == tmp_path / "generic_fdm_175.toml"
    assert load_profile("site/my_printer").name == "My printer"


def test_extra_dirs_come_before_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    write(env_dir, "p", MINIMAL.replace("Test printer", "from env"))
    write(arg_dir, "p", MINIMAL.replace("Test printer", "from arg"))
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    assert load_profile("p").name == "from env"
    assert load_profile("p", extra_dirs=[arg_dir]).name == "from arg"


def test_edited_file_is_reloaded(tmp_path: Path) -> None:
    path = write(tmp_path, "p", MINIMAL)
    assert load_profile("p", extra_dirs=[tmp_path]).wall_count == 2
    assert load_profile("p", extra_dirs=[tmp_path]) is load_profile("p", extra_dirs=[tmp_path])
    path.write_text(MINIMAL + "wall_count = 3\n", encoding="utf-8")
    assert load_profile("p", extra_dirs=[tmp_path]).wall_count == 3


def test_list_profiles_strict_and_lenient(tmp_path: Path) -> None:
    write(tmp_path, "broken", MINIMAL + "bogus = 1\n")
    with pytest.raises(ProfileError, match="bogus"):
        list_profiles([tmp_path])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = [row.id for row in list_profiles([tmp_path], strict=False)]
    assert ids == sorted(SHIPPED)
    assert any("bogus" in str(w.message) for w in caught)
