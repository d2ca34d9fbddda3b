"""`dosecraft send`: plate checks, upload/start/follow, and what goes into the records.

Printers are in-memory fakes that play a script of statuses (as in the dispatch tests),
plus one real OctoPrint client on httpx.MockTransport for the key and leak checks.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dosecraft.cli import printers_cmd
from dosecraft.cli.printers_cmd import read_header
from dosecraft.printers import (
    JobState,
    JobStatus,
    PrinterBusy,
    PrinterOffline,
    PrinterRejectedFile,
    RetryPolicy,
    add_printer,
    client_for,
)
from dosecraft.records import RecordStore, file_sha256

KEY = "DCSECRET-send-71c3be09"
HEADER = ("; dosecraft.version = 0.1.0\n; dosecraft.rx_id = RX-9\n"
          "; dosecraft.formulation = paracetamol_pva_fdm\n")
_clock = itertools.count(5000)
IDLE = JobStatus(JobState.IDLE)


def printing(f, p=0.5, job_id="j1"):
    return JobStatus(JobState.PRINTING, p, f, job_id)


def ended(state, f, job_id="j1", p=1.0):
    return JobStatus(state, p, f, job_id, float(next(_clock)))


class FakePrinter:
    """Reports ``initial`` until a start, then plays ``script(remote)`` (the last repeats)."""

    def __init__(self, name, initial=IDLE, script=None, start_error=None):
        self.name = name
        self.current = [initial]
        self.script = script or (lambda f: [printing(f, 0.3), printing(f, 0.7),
                                            ended(JobState.FINISHED, f)])
        self.start_error = start_error
        self.calls: list[str] = []
        self.closed = False

    def connect(self):
        self.calls.append("connect")

    def upload(self, source, name, select=False, start=False):
        self.calls.append(f"upload {name} select={select}")
        return name

    def start(self, name):
        self.calls.append(f"start {name}")
        if self.start_error:
            raise self.start_error
        self.current = list(self.script(name))

    def status(self):
        st = self.current.pop(0) if len(self.current) > 1 else self.current[0]
        if isinstance(st, BaseException):
            raise st
        return st

    def cancel(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)
    monkeypatch.delenv("DOSECRAFT_PRINTER_OP_1_KEY", raising=False)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A registry (op-1: FDM, paracetamol only; op-2: FDM; mr-1: SSE), a records file, and a
    ``send(*args, printer=FakePrinter)`` runner."""
    reg = tmp_path / "printers.toml"
    add_printer("op-1", "octoprint", "http://op.test", "generic_fdm_175",
                ["paracetamol_pva_fdm"], reg, port="VIRTUAL")
    add_printer("op-2", "octoprint", "http://op2.test", "generic_fdm_175", path=reg)
    add_printer("mr-1", "moonraker", "http://mr.test:7125", "generic_sse_syringe", path=reg)
    app = typer.Typer()
    printers_cmd.register(app)
    runner = CliRunner()

    class Env:
        records = tmp_path / "records.sqlite"
        fake: FakePrinter | None = None

        def send(self, *args, fake=None):
            self.fake = fake or FakePrinter("op-1")
            monkeypatch.setattr(printers_cmd, "make_client", lambda p, **o: self.fake)
            return runner.invoke(app, ["send", *args, "--printers-file", str(reg),
                                       "--records", str(self.records), "--poll-s", "0.1"])

        def jobs(self):
            with RecordStore(self.records) as store:
                return store.print_jobs()

        def audit(self):
            with RecordStore(self.records) as store:
                return [(e.action, e.payload.get("to")) for e in store.audit_entries(
                    entity="print_job")]

    return Env()


def gcode(tmp_path, name="rx_9.gcode", profile="generic_fdm_175", header=HEADER):
    p = tmp_path / name
    p.write_text(header + (f"; dosecraft.printer = {profile}\n" if profile else "") +
                 "G28\nG1 X10 Y10 E0.1\n", encoding="utf-8")
    return p


# -- the plate checks (nothing is sent, exit 2) --------------------------------------------

def test_wrong_profile_is_refused_even_when_forced(env, tmp_path):
    g = gcode(tmp_path, profile="generic_sse_syringe")
    for extra in ((), ("--force-foreign",)):
        r = env.send(str(g), "--printer", "op-1", "--start", *extra)
        assert r.exit_code == 2, r.output
        assert "sliced for printer profile 'generic_sse_syringe' but printer 'op-1' has " \
               "profile 'generic_fdm_175'" in r.stderr
        assert "printers with profile 'generic_sse_syringe': mr-1" in r.stderr
        assert env.fake.calls == [] and not env.records.exists()


@pytest.mark.parametrize("header, profile, what", [
    ("", None, "has no dosecraft header"),
    (HEADER, None, "has no '; dosecraft.printer' line"),
])
def test_unchecked_gcode_needs_force_foreign(env, tmp_path, header, profile, what):
    g = gcode(tmp_path, header=header, profile=profile)
    r = env.send(str(g), "--printer", "op-2")
    assert r.exit_code == 2 and what in r.stderr and "--force-foreign" in r.stderr
    assert env.fake.calls == []
    r = env.send(str(g), "--printer", "op-2", "--force-foreign")
    assert r.exit_code == 0, r.output
    (job,) = env.jobs()
    assert job["rx_id"] == ("RX-9" if header else None) and job["state"] == "sent"


def test_a_dedicated_printer_refuses_another_formulation(env, tmp_path):
    g = gcode(tmp_path, header=HEADER.replace("paracetamol_pva_fdm", "theophylline_hpmc_fdm"))
    r = env.send(str(g), "--printer", "op-1")
    assert r.exit_code == 2 and "may print only paracetamol_pva_fdm" in r.stderr
    assert env.send(str(g), "--printer", "op-2").exit_code == 0


@pytest.mark.parametrize("args, words", [
    (("--printer", "op-9"), ["no printer named 'op-9'", "op-1, op-2, mr-1"]),
    (("--printer", "op-1", "--wait"), ["--wait follows the print, so it needs --start"]),
])
def test_bad_input_exits_2(env, tmp_path, args, words):
    r = env.send(str(gcode(tmp_path)), *args)
    assert r.exit_code == 2 and all(w in r.stderr for w in words), r.stderr
    assert env.fake.calls == []


def test_missing_file_and_unopenable_records(env, tmp_path):
    r = env.send(str(tmp_path / "nope.gcode"), "--printer", "op-1")
    assert r.exit_code == 2 and "G-code file not found:" in r.stderr and "nope.gcode" in r.stderr
    assert "Traceback" not in r.output
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    env.records = blocker / "records.sqlite"
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start")
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and env.fake.calls == []


def test_header_reader_accepts_real_writer_output(tmp_path):
    from dosecraft.formulary import get_formulation
    from dosecraft.gcode import PlacedTablet, Plate, write_gcode
    from dosecraft.model import ExtrusionPath, Toolpath, ToolpathLayer, ToolRole
    from dosecraft.profiles import load_profile

    square = np.array([[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]])
    tp = Toolpath((ToolpathLayer(0, 0.2, 0.2, (ExtrusionPath(ToolRole.OUTER_WALL, square, 0.4,
                                                             0.08, closed=True),)),))
    program = write_gcode(Plate((PlacedTablet("RX-W_1", tp, np.array([100.0, 100.0])),)),
                          load_profile("generic_fdm_175"), get_formulation("paracetamol_pva_fdm"),
                          {"rx_id": "RX-W", "target_dose_mg": "0.4",
                           "predicted_dose_mg": "0.4", "design_sha256": "0" * 64})
    p = tmp_path / "w.gcode"
    p.write_text(program.text, encoding="utf-8")
    h = read_header(p)
    assert h["rx_id"] == "RX-W" and h["printer"] == "generic_fdm_175"
    assert h["formulation"] == "paracetamol_pva_fdm" and "design_sha256" in h


# -- upload, start, follow, records ---------------------------------------------------------

def test_upload_only_is_recorded_as_sent(env, tmp_path):
    g = gcode(tmp_path)
    r = env.send(str(g), "--printer", "op-1")
    assert r.exit_code == 0, r.output
    assert env.fake.calls == ["upload rx_9.gcode select=False"] and env.fake.closed
    (job,) = env.jobs()
    assert job["state"] == "sent" and job["rx_id"] == "RX-9" and job["printer"] == "op-1"
    assert job["file_sha256"] == file_sha256(g)
    assert job["job_id"] == f"upload:rx_9.gcode@{file_sha256(g)[:12]}"
    assert "not started" in r.stdout


def test_start_without_wait_stays_printing(env, tmp_path):
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start")
    assert r.exit_code == 0, r.output
    assert env.fake.calls == ["connect", "upload rx_9.gcode select=True", "start rx_9.gcode"]
    (job,) = env.jobs()
    assert (job["job_id"], job["state"]) == ("j1", "printing")
    assert "recorded as printing" in r.stdout


def test_wait_follows_to_finished(env, tmp_path):
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start", "--wait")
    assert r.exit_code == 0, r.output
    # The first status (30 %) went to reading the job ID; following starts at the next.
    assert "op-1: printing 70%" in r.stdout and "op-1: finished 100%" in r.stdout
    assert "job j1 recorded as finished" in r.stdout
    (job,) = env.jobs()
    assert job["state"] == "finished" and job["ended_at"]
    assert env.audit() == [("print_job.send", None), ("print_job.update", "printing"),
                           ("print_job.update", "finished")]


@pytest.mark.parametrize("state, recorded", [(JobState.CANCELLED, "cancelled"),
                                             (JobState.ERROR, "failed")])
def test_wait_records_a_confirmed_failure_and_exits_1(env, tmp_path, state, recorded):
    fake = FakePrinter("op-1", script=lambda f: [printing(f, 0.2), ended(state, f, p=0.2)])
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start", "--wait", fake=fake)
    assert r.exit_code == 1
    assert f"ended {state.value} at 20%" in r.stderr
    assert f"recorded as {recorded}" in r.stderr and len(r.stderr.splitlines()) == 1
    (job,) = env.jobs()
    assert job["state"] == recorded and f"ended {state.value}" in job["message"]


def test_unconfirmed_end_leaves_the_record_printing(env, tmp_path):
    off = PrinterOffline("printer 'op-1' at http://op.test is not reachable")
    fake = FakePrinter("op-1", script=lambda f: [printing(f), printing(f)] + [off] * 8)
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start", "--wait", fake=fake)
    assert r.exit_code == 1 and "stopped answering" in r.stderr
    assert "did not confirm how job j1 ended" in r.stderr
    assert env.jobs()[0]["state"] == "printing"


def test_timeout_leaves_the_job_running(env, tmp_path):
    fake = FakePrinter("op-1", script=lambda f: [printing(f)])
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start", "--wait",
                 "--timeout-min", "0.01", fake=fake)
    assert r.exit_code == 1 and "left running" in r.stderr
    assert env.jobs()[0]["state"] == "printing"


def test_a_refused_start_records_the_upload(env, tmp_path):
    busy = PrinterBusy("printer 'op-1' is busy (start rx_9.gcode: HTTP 409: already printing)")
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start",
                 fake=FakePrinter("op-1", start_error=busy))
    assert r.exit_code == 1 and "already printing" in r.stderr
    assert "uploaded but not started (recorded as sent)" in r.stderr
    (job,) = env.jobs()
    assert job["state"] == "sent" and job["job_id"].startswith("upload:rx_9.gcode@")


def test_a_refused_upload_is_not_recorded(env, tmp_path):
    class Refusing(FakePrinter):
        def upload(self, source, name, select=False, start=False):
            raise PrinterRejectedFile("printer 'op-1' refused the file (upload rx_9.gcode: "
                                      "HTTP 415: invalid type)")

    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", fake=Refusing("op-1"))
    assert r.exit_code == 1 and r.stderr == (
        "error: printer 'op-1' refused the file (upload rx_9.gcode: HTTP 415: invalid type)\n")
    assert env.jobs() == []


def test_ctrl_c_while_following_leaves_the_job_and_its_record(env, tmp_path):
    fake = FakePrinter("op-1", script=lambda f: [printing(f), printing(f), KeyboardInterrupt()])
    r = env.send(str(gcode(tmp_path)), "--printer", "op-1", "--start", "--wait", fake=fake)
    assert r.exit_code == 130 and "keeps printing on 'op-1'" in r.stderr
    assert env.jobs()[0]["state"] == "printing" and fake.closed


def test_a_stale_job_id_from_the_last_print_is_not_reused(env, tmp_path):
    # Moonraker re-printing the same file: the old result and job ID are still on show.
    g = gcode(tmp_path, profile="generic_sse_syringe",
              header=HEADER.replace("paracetamol_pva_fdm", "propranolol_gel_sse"))
    old = ended(JobState.FINISHED, g.name, job_id="000041")
    fake = FakePrinter("mr-1", initial=old, script=lambda f: [
        old, printing(f, 0.1, "000042"), printing(f, 0.6, "000042"),
        ended(JobState.FINISHED, f, "000042")])
    r = env.send(str(g), "--printer", "mr-1", "--start", "--wait", fake=fake)
    assert r.exit_code == 0, r.output
    (job,) = env.jobs()
    assert (job["job_id"], job["state"]) == ("000042", "finished")


# -- a real client: the key goes in the header, never in output or files ---------------------

class FakeOctoPrint:
    """Just enough of OctoPrint's API for upload → start → two polls → finished."""

    def __init__(self, key: str) -> None:
        self.key, self.polls, self.file, self.started = key, 0, None, False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("X-Api-Key") != self.key:
            # Echoes the key, as a misconfigured proxy might: the client must scrub it.
            sent = request.headers.get("X-Api-Key")
            return httpx.Response(403, json={"error": f"bad key {sent}"})
        path, method = request.url.path, request.method
        if path == "/api/version":
            return httpx.Response(200, json={"api": "0.1", "server": "1.11.8"})
        if path == "/api/connection":
            return httpx.Response(200, json={"current": {"state": "Operational",
                                                         "port": "VIRTUAL"}})
        if (method, path) == ("POST", "/api/files/local"):
            self.file = "rx_9.gcode"
            return httpx.Response(201, json={"files": {"local": {"path": self.file}}})
        if (method, path) == ("POST", f"/api/files/local/{self.file}"):
            self.started = True
            return httpx.Response(204)
        done = self.started and self.polls >= 2
        if path == "/api/job":
            self.polls += self.started
            state = "Printing" if self.started and not done else "Operational"
            completion = 100.0 if done else (50.0 if self.started else None)
            return httpx.Response(200, json={
                "state": state, "progress": {"completion": completion},
                "job": {"file": {"path": self.file, "name": self.file, "origin": "local",
                                 "date": 1000}}})
        if path == f"/api/files/local/{self.file}":
            last = {"prints": {"last": {"date": 2000, "success": True}}} if done else {}
            return httpx.Response(200, json={"name": self.file, "date": 1000, **last})
        return httpx.Response(404, json={"error": "not found"})


@pytest.mark.parametrize("key, code", [(KEY, 0), (KEY + "-wrong", 1)])
def test_real_client_uses_the_env_key_and_never_shows_it(env, tmp_path, monkeypatch, key, code):
    server = FakeOctoPrint(KEY)
    monkeypatch.setenv("DOSECRAFT_PRINTER_OP_1_KEY", key)
    runner = CliRunner()
    app = typer.Typer()
    printers_cmd.register(app)
    monkeypatch.setattr(printers_cmd, "make_client", lambda p, **o: client_for(
        p, transport=httpx.MockTransport(server), retry=RetryPolicy(attempts=1),
        sleep=lambda s: None))
    g = gcode(tmp_path)
    r = runner.invoke(app, ["send", str(g), "--printer", "op-1", "--start", "--wait",
                            "--poll-s", "0.1", "--printers-file", str(tmp_path / "printers.toml"),
                            "--records", str(env.records)])
    assert r.exit_code == code, r.output
    if code:
        assert "API key for printer 'op-1' was rejected" in r.stderr
        assert "set DOSECRAFT_PRINTER_OP_1_KEY to a valid key" in r.stderr
    else:
        assert env.jobs()[0]["state"] == "finished"
        assert env.jobs()[0]["job_id"] == "local/rx_9.gcode@1000"
    files = [p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert KEY not in r.output and not any(KEY.encode() in b for b in files)
