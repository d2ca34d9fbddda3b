"""`dosecraft printers` and `dosecraft send` against a real OctoPrint with its virtual printer.

The plates are real dosecraft G-code from the writer (the shipped generic_fdm_175 profile
and paracetamol_pva_fdm formulation) with a start template that sets the heaters without
waiting for them: the virtual printer simulates heat-up in real time (~16 s), and these
tests are about the command line, not temperatures. Every output and file is searched for
the API keys.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import typer
from integration_support import OCTOPRINT_KEY, wait_for
from typer.testing import CliRunner

from dosecraft.cli.printers_cmd import register
from dosecraft.formulary import get_formulation
from dosecraft.gcode import PlacedTablet, Plate, write_gcode
from dosecraft.model import ExtrusionPath, Toolpath, ToolpathLayer, ToolRole
from dosecraft.printers import ApiKey, JobState, OctoPrintClient
from dosecraft.profiles import load_profile
from dosecraft.records import RecordStore, file_sha256

pytestmark = pytest.mark.integration

NAME = "it-cli-op"
ENV = "DOSECRAFT_PRINTER_IT_CLI_OP_KEY"
WRONG_KEY = "DCSECRET-cli-wrong-93b1f0c7e2d5"
PROFILE = "generic_fdm_175"


def plate_gcode(path: Path, rx_id: str, layers: int = 1, dwells: int = 0) -> Path:
    """A one-tablet plate written by dosecraft: a 10 mm square wall per layer.

    ``dwells`` adds that many 0.2 s dwells to the start template, to give a job time to be
    seen printing and cancelled (short ones: OctoPrint cancels between lines).
    """
    profile = load_profile(PROFILE).model_copy(update={
        "start_gcode": "M140 S{bed_temp_c}\nM104 S{nozzle_temp_c}\nG28\nG90"
                       + "\nG4 P200" * dwells,
        "end_gcode": "M104 S0\nM140 S0\nM84"})
    square = np.array([[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]])
    toolpath = Toolpath(tuple(
        ToolpathLayer(k, 0.2 * (k + 1), 0.2,
                      (ExtrusionPath(ToolRole.OUTER_WALL, square, 0.4, 0.08, closed=True),))
        for k in range(layers)))
    plate = Plate((PlacedTablet(f"{rx_id}_1", toolpath, np.array([100.0, 100.0])),))
    program = write_gcode(plate, profile, get_formulation("paracetamol_pva_fdm"),
                          {"rx_id": rx_id, "target_dose_mg": "0.4", "predicted_dose_mg": "0.4",
                           "design_sha256": "0" * 64})
    path.write_text(program.text, encoding="utf-8")
    return path


@pytest.fixture
def cli(octoprint, octoprint_client, tmp_path: Path, monkeypatch):
    """Run the CLI against a printers file that registers the session's OctoPrint."""
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    printers = tmp_path / "printers.toml"
    outputs: list[str] = []
    monkeypatch.setenv(ENV, OCTOPRINT_KEY)

    def run(*args: str):
        result = runner.invoke(app, [*args, "--printers-file", str(printers)])
        outputs.extend([result.stdout, result.stderr])
        return result

    result = run("printers", "add", NAME, "--kind", "octoprint", "--url", octoprint.url,
                 "--profile", PROFILE, "--port", "VIRTUAL")
    assert result.exit_code == 0, result.output
    yield run
    leaked = [o for o in outputs if OCTOPRINT_KEY in o or WRONG_KEY in o]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and (
        OCTOPRINT_KEY.encode() in p.read_bytes() or WRONG_KEY.encode() in p.read_bytes())]
    assert not leaked and not files, f"API key in output {leaked} or files {files}"


def test_add_then_status_shows_the_idle_printer(cli):
    result = cli("printers", "status")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if NAME in line)
    assert "octoprint" in row and PROFILE in row
    assert any(s in row for s in ("IDLE", "FINISHED", "CANCELLED")), row


def test_send_start_wait_finishes_and_is_recorded(cli, tmp_path):
    gcode = plate_gcode(tmp_path / "rx_cli_it_1.gcode", "RX-CLI-IT-1")
    db = tmp_path / "records.sqlite"
    result = cli("send", str(gcode), "--printer", NAME, "--start", "--wait", "--poll-s", "0.1",
                 "--records", str(db))
    assert result.exit_code == 0, result.output
    assert "finished" in result.stdout
    with RecordStore(db) as store:
        (job,) = store.print_jobs(printer=NAME)
    assert job["state"] == "finished" and job["rx_id"] == "RX-CLI-IT-1"
    assert job["file_sha256"] == file_sha256(gcode)
    assert job["job_id"].startswith(f"local/{gcode.name}@")


def test_cancelled_job_is_recorded_cancelled_and_exits_1(cli, octoprint, tmp_path):
    gcode = plate_gcode(tmp_path / "rx_cli_it_2.gcode", "RX-CLI-IT-2", dwells=50)
    db = tmp_path / "records.sqlite"
    canceller = OctoPrintClient("canceller", octoprint.url, api_key=ApiKey(octoprint.api_key))
    seen: list[JobState] = []

    def cancel_when_printing() -> None:
        st = wait_for(canceller, {JobState.PRINTING}, timeout_s=30.0)
        seen.append(st.state)
        if st.state is JobState.PRINTING and st.file_name == gcode.name:
            canceller.cancel()

    thread = threading.Thread(target=cancel_when_printing)
    thread.start()
    try:
        result = cli("send", str(gcode), "--printer", NAME, "--start", "--wait",
                     "--poll-s", "0.1", "--records", str(db))
    finally:
        thread.join(timeout=60)
        canceller.close()
    assert seen == [JobState.PRINTING]
    assert result.exit_code == 1, result.output
    assert "ended cancelled" in result.stderr and "recorded as cancelled" in result.stderr
    with RecordStore(db) as store:
        (job,) = store.print_jobs(printer=NAME)
    assert job["state"] == "cancelled" and job["rx_id"] == "RX-CLI-IT-2"


def test_wrong_key_is_a_clear_error_naming_the_variable(cli, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, WRONG_KEY)
    status = cli("printers", "status", NAME)
    assert status.exit_code == 1
    assert "KEY REJECTED" in status.stdout and ENV in status.stdout
    gcode = plate_gcode(tmp_path / "rx_cli_it_3.gcode", "RX-CLI-IT-3")
    db = tmp_path / "records.sqlite"
    sent = cli("send", str(gcode), "--printer", NAME, "--start", "--records", str(db))
    assert sent.exit_code == 1
    assert sent.stderr.startswith("error: API key for printer") and ENV in sent.stderr
    assert "Traceback" not in sent.output
    with RecordStore(db) as store:
        assert store.print_jobs() == []  # nothing reached the printer
