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
