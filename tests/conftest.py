"""Shared fixtures: the shipped profiles and formulary, and small helpers."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def fdm_profile():
    from dosecraft.profiles import load_profile

    return load_profile("generic_fdm_175")


@pytest.fixture(scope="session")
def sse_profile():
    from dosecraft.profiles import load_profile

    return load_profile("generic_sse_syringe")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep tests away from the developer's own records, formulary and printer registry:
    platformdirs resolves the user folders from the XDG variables at call time."""
    base = tmp_path_factory.mktemp("xdg")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(base / name.lower()))
