"""The console script loads only the command being run; the command table stays complete."""

import subprocess
import sys

import typer
from typer.testing import CliRunner

from dosecraft.cli.commands import COMMAND_MODULES, build_app
from dosecraft.cli.main import app


def _top_level_names(application: typer.Typer) -> set[str]:
    group = typer.main.get_command(application)
    return set(group.commands)  # type: ignore[attr-defined]


def test_command_table_lists_every_command_of_the_full_app() -> None:
    assert _top_level_names(app) == set(COMMAND_MODULES)


def test_each_entry_registers_its_command() -> None:
    for name in COMMAND_MODULES:
        assert name in _top_level_names(build_app([name])), name


def test_help_and_version_of_the_console_script() -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dosecraft.cli.entry", *args],
                              capture_output=True, text=True)

    helped = run("--help")
    assert helped.returncode == 0
    for name in COMMAND_MODULES:
        assert name in helped.stdout, name
    assert run("--version").stdout.startswith("dosecraft ")
    unknown = run("sliec")
    assert unknown.returncode == 2 and "sliec" in unknown.stderr
    assert "profiles" in run("profiles", "--help").stdout


def test_full_app_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("dosecraft ")
