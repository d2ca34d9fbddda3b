"""Packages with lazy exports: every public name resolves, costly modules stay unloaded."""

import subprocess
import sys

import pytest

import dosecraft.release


@pytest.mark.parametrize("name", dosecraft.release.__all__)
def test_every_public_release_name_resolves(name: str) -> None:
    value = getattr(dosecraft.release, name)
    assert getattr(value, "__module__", "").startswith("dosecraft.release") or name == "MODELS"
    assert name in dir(dosecraft.release)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="dosecraft.release.*no_such_thing"):
        dosecraft.release.no_such_thing  # noqa: B018


def test_estimating_release_does_not_import_scipy_stats() -> None:
    code = ("import sys\nfrom dosecraft.release import estimate_release, similarity\n"
            "print('stats' if 'scipy.stats' in sys.modules else 'no stats')\n"
            "from dosecraft.release import calibrate_detailed\n"
            "print('stats' if 'scipy.stats' in sys.modules else 'no stats')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert run.stdout.split() == ["no", "stats", "stats"], run.stdout + run.stderr
