"""send_gcode, follow_job and dispatch_plates with scripted in-memory printers."""

from __future__ import annotations

import itertools

import pytest

from dosecraft.printers import (
    JobState,
    JobStatus,
    JobTimeout,
    Plate,
    Printer,
    PrinterAuthError,
    PrinterBusy,
    PrinterOffline,
    PrintFailed,
    dispatch_plates,
    follow_job,
    send_gcode,
)
from dosecraft.printers.jobs import MAX_MISSED_POLLS

_clock = itertools.count(1000)
IDLE = JobStatus(JobState.IDLE)


def finished(name, job_id="j"):
    return JobStatus(JobState.FINISHED, 1.0, name, job_id, float(next(_clock)))


def printing(name, p=0.5, job_id="j"):
    return JobStatus(JobState.PRINTING, p, name, job_id)


class FakeClient:
    """A printer that plays a script of statuses for each started job.

    ``script(name, n)`` gives the statuses the n-th started job reports, in turn (the last
    one repeats); before any start the printer reports ``initial``.
    """

    def __init__(self, name, initial=IDLE, script=None, upload_error=None,
                 status_error=None):
        self.name = name
        self.current = [initial]
        self.script = script or (lambda f, n: [printing(f, job_id=f"{self.name}-{n}"),
                                               finished(f, job_id=f"{self.name}-{n}")])
        self.upload_error = upload_error
        self.status_error = status_error
        self.uploads: list[tuple[str, bool, bool]] = []
        self.started: list[str] = []
        self.closed = False

    def info(self):
        raise NotImplementedError

    def connect(self):
        raise NotImplementedError

    def upload(self, source, name, select=False, start=False):
        if self.upload_error:
            raise self.upload_error
        self.uploads.append((name, select, start))
        return name

    def start(self, name):
        self.started.append(name)
        self.current = list(self.script(name, len(self.started)))

    def status(self):
        if self.status_error:
            raise self.status_error
        st = self.current.pop(0) if len(self.current) > 1 else self.current[0]
        if isinstance(st, Exception):
            raise st
        return st

    def cancel(self):
        pass

    def close(self):
        self.closed = True


def gcode(tmp_path, name="plate.gcode"):
    p = tmp_path / name
    p.write_bytes(b"G28\n")
    return p


def test_upload_only(tmp_path):
    c = FakeClient("a")
    st = send_gcode(c, gcode(tmp_path))
    assert c.uploads == [("plate.gcode", False, False)] and c.started == []
    assert st.state is JobState.IDLE and st.file_name == "plate.gcode"
    assert st.message == "uploaded, not started"


def test_start_without_wait_returns_the_job(tmp_path):
    c = FakeClient("a")
    st = send_gcode(c, gcode(tmp_path), start=True, remote_name="rx_42.gcode")
    assert c.uploads == [("rx_42.gcode", True, False)] and c.started == ["rx_42.gcode"]
    assert st.state is JobState.PRINTING and st.job_id == "a-1"


def test_wait_needs_start(tmp_path):
    with pytest.raises(ValueError, match="needs start=True"):
        send_gcode(FakeClient("a"), gcode(tmp_path), wait=True)


def test_follow_to_finish_with_progress_callback(tmp_path):
    c = FakeClient("a", script=lambda f, n: [printing(f, 0.1), printing(f, 0.6), finished(f)])
    seen = []
    st = send_gcode(c, gcode(tmp_path), start=True, wait=True, poll_s=0, on_status=seen.append,
                    sleep=lambda s: None)
    assert st.state is JobState.FINISHED
    assert [s.progress for s in seen] == [0.1, 0.6, 1.0]


def test_a_job_finished_before_the_first_poll_counts():
    c = FakeClient("a")
    done = finished("p.gcode")
    c.current = [done]
    before = JobStatus(JobState.IDLE, 0, "p.gcode")
    assert follow_job(c, "p.gcode", before=before, poll_s=0, sleep=lambda s: None) == done


def test_a_stale_result_from_the_last_job_is_not_taken_for_ours():
    old = finished("p.gcode")
    new = finished("p.gcode")
    c = FakeClient("a")
    c.current = [old, old, printing("p.gcode"), new]
    assert follow_job(c, "p.gcode", before=old, poll_s=0, sleep=lambda s: None) == new


def test_new_job_id_marks_a_fresh_result():
    before = JobStatus(JobState.FINISHED, 1, "p.gcode", "00002A", None)
    after = JobStatus(JobState.FINISHED, 1, "p.gcode", "00002B", None)
    c = FakeClient("a")
    c.current = [after]
    assert follow_job(c, "p.gcode", before=before, poll_s=0, sleep=lambda s: None) == after


@pytest.mark.parametrize("end, text", [
    (JobStatus(JobState.CANCELLED, 0.31, "p.gcode", "j", 5.0), "ended cancelled at 31%"),
    (JobStatus(JobState.ERROR, 0.2, "p.gcode", "j", 5.0, "Heater extruder not heating"),
     "ended error at 20%: Heater extruder not heating"),
    (JobStatus(JobState.OFFLINE, message="USB unplugged"), "went offline.*USB unplugged"),
    (JobStatus(JobState.PRINTING, 0.1, "someone_else.gcode"), "printing 'someone_else.gcode'"),
])
def test_failures_raise_print_failed_with_the_status(end, text):
    c = FakeClient("a")
    c.current = [printing("p.gcode"), end]
    with pytest.raises(PrintFailed, match=text) as info:
        follow_job(c, "p.gcode", poll_s=0, sleep=lambda s: None)
    assert info.value.status == end


def test_a_few_missed_polls_are_tolerated_but_not_many():
    blip = PrinterOffline("not reachable")
    c = FakeClient("a")
    c.current = [printing("p.gcode")] + [blip] * MAX_MISSED_POLLS + [finished("p.gcode")]
    assert follow_job(c, "p.gcode", poll_s=0, sleep=lambda s: None).state is JobState.FINISHED
    c.current = [printing("p.gcode")] + [blip] * (MAX_MISSED_POLLS + 1)
    with pytest.raises(PrintFailed, match="stopped answering"):
        follow_job(c, "p.gcode", poll_s=0, sleep=lambda s: None)


def test_timeout_leaves_the_job_running():
    c = FakeClient("a")
    c.current = [printing("p.gcode")]
    ticks = iter(range(100))
    with pytest.raises(JobTimeout, match="still printing after 5 s; it was left running"):
        follow_job(c, "p.gcode", poll_s=1, timeout_s=5, sleep=lambda s: None,
                   clock=lambda: next(ticks))


def test_send_gcode_builds_and_closes_a_client_for_a_registry_entry(tmp_path, monkeypatch):
    fake = FakeClient("fdm-1")
    monkeypatch.setattr("dosecraft.printers.jobs.client_for", lambda printer: fake)
    printer = Printer(name="fdm-1", kind="octoprint", url="http://h", profile="p")
    send_gcode(printer, gcode(tmp_path), start=True)
    assert fake.started == ["plate.gcode"] and fake.closed


# -- dispatch --------------------------------------------------------------------------


def fleet(*specs):
    printers, clients = [], {}
    for name, profile, forms, client in specs:
        printers.append(Printer(name=name, kind="moonraker", url=f"http://{name}",
                                profile=profile, formulations=forms))
        clients[name] = client or FakeClient(name)
    return printers, clients


def plates(tmp_path, *specs):
    return [(gcode(tmp_path, f"plate_{i}.gcode"), prof, form)
            for i, (prof, form) in enumerate(specs)]


def test_dispatch_matches_profile_and_formulation(tmp_path):
    printers, clients = fleet(("fdm-a", "fdm175", ["para"], None),
                              ("fdm-b", "fdm175", [], None),
                              ("sse-a", "sse10", [], None))
    items = plates(tmp_path, ("sse10", "levo"), ("fdm175", "caff"), ("fdm175", "para"),
                   ("fdm285", "para"))
    out = dispatch_plates(items, printers, start=True, client_factory=lambda p: clients[p.name])
    assert [a.printer for a in out] == ["sse-a", "fdm-b", "fdm-a", None]
    assert [a.job_id for a in out[:3]] == ["sse-a-1", "fdm-b-1", "fdm-a-1"]
    assert all(a.ok for a in out[:3]) and not out[3].ok
    assert "no registered printer has profile 'fdm285'" in out[3].error
    assert all(c.closed for c in clients.values())


def test_formulation_not_allowed_anywhere_is_reported(tmp_path):
    printers, clients = fleet(("fdm-a", "fdm175", ["para"], None))
    out = dispatch_plates(plates(tmp_path, ("fdm175", "levo")), printers,
                          client_factory=lambda p: clients[p.name])
    assert out[0].printer is None
    assert out[0].error == ("no printer with profile 'fdm175' may print formulation 'levo' "
                            "(checked: fdm-a); add it to a printer's formulations list")
    assert clients["fdm-a"].uploads == []


def test_busy_offline_and_refusing_printers_are_skipped_with_reasons(tmp_path):
    printers, clients = fleet(
        ("busy", "p", [], FakeClient("busy", initial=printing("other.gcode"))),
        ("down", "p", [], FakeClient("down", status_error=PrinterOffline("down is unreachable"))),
        ("nokey", "p", [], FakeClient("nokey", status_error=PrinterAuthError("key rejected"))),
        ("jam", "p", [], FakeClient("jam", upload_error=PrinterBusy("jam is busy"))),
        ("ok", "p", [], None))
    out = dispatch_plates(plates(tmp_path, ("p", "x"), ("p", "x")), printers, start=True,
                          client_factory=lambda p: clients[p.name])
    assert out[0].printer == "ok" and out[0].ok
    assert out[1].printer is None
    err = out[1].error
    assert err.startswith("no free printer for this plate (")
    for part in ("busy: it is printing", "down: down is unreachable", "nokey: key rejected",
                 "jam: jam is busy", "ok: took another plate"):
        assert part in err


def test_cancelled_and_error_printers_are_not_free_by_default(tmp_path):
    cancelled = JobStatus(JobState.CANCELLED, 0.3, "old.gcode")
    printers, clients = fleet(("a", "p", [], FakeClient("a", initial=cancelled)))
    out = dispatch_plates(plates(tmp_path, ("p", "x")), printers,
                          client_factory=lambda p: clients[p.name])
    assert out[0].printer is None and "a: it is cancelled" in out[0].error
    out = dispatch_plates(plates(tmp_path, ("p", "x")), printers,
                          client_factory=lambda p: clients[p.name],
                          free_states={JobState.IDLE, JobState.FINISHED, JobState.CANCELLED})
    assert out[0].printer == "a"


def test_with_wait_printers_take_the_next_plates_round_after_round(tmp_path):
    printers, clients = fleet(("a", "p", [], None), ("b", "p", [], None))
    items = plates(tmp_path, *[("p", "x")] * 5)
    seen = []
    out = dispatch_plates(items, printers, start=True, wait=True, poll_s=0,
                          sleep=lambda s: None, on_status=lambda n, s: seen.append(n),
                          client_factory=lambda p: clients[p.name])
    assert [a.printer for a in out] == ["a", "b", "a", "b", "a"]
    assert [a.job_id for a in out] == ["a-1", "b-1", "a-2", "b-2", "a-3"]
    assert all(a.ok and a.status.state is JobState.FINISHED for a in out)
    assert set(seen) == {"a", "b"}


def test_a_failed_job_is_reported_and_its_printer_retired(tmp_path):
    def script(f, n):
        if n == 1:
            return [printing(f), JobStatus(JobState.ERROR, 0.4, f, "a-1", 9.0, "Thermal runaway")]
        return [printing(f), finished(f)]

    printers, clients = fleet(("a", "p", [], FakeClient("a", script=script)))
    out = dispatch_plates(plates(tmp_path, ("p", "x"), ("p", "x")), printers, start=True,
                          wait=True, poll_s=0, sleep=lambda s: None,
                          client_factory=lambda p: clients[p.name])
    assert out[0].printer == "a" and "Thermal runaway" in out[0].error
    assert out[0].status.state is JobState.ERROR and out[0].job_id == "a-1"
    assert out[1].printer is None and "a: its last job did not finish" in out[1].error


def test_dispatch_timeout_marks_running_jobs(tmp_path):
    printers, clients = fleet(("a", "p", [], FakeClient(
        "a", script=lambda f, n: [printing(f)])))
    ticks = iter(range(100))
    out = dispatch_plates([Plate(gcode(tmp_path), "p", "x")], printers, start=True, wait=True,
                          poll_s=1, timeout_s=3, sleep=lambda s: None, clock=lambda: next(ticks),
                          client_factory=lambda p: clients[p.name])
    assert out[0].printer == "a" and "still running after 3 s" in out[0].error


def test_a_missing_file_is_the_plate_s_problem_not_the_printer_s(tmp_path):
    printers, clients = fleet(("a", "p", [], None))
    missing = (tmp_path / "gone.gcode", "p", "x")
    out = dispatch_plates([missing, *plates(tmp_path, ("p", "x"))], printers, start=True,
                          client_factory=lambda p: clients[p.name])
    assert out[0].printer is None and out[0].error.startswith("G-code file not found")
    assert out[1].printer == "a" and out[1].ok


def test_dispatch_argument_checks(tmp_path):
    with pytest.raises(ValueError, match="needs start=True"):
        dispatch_plates([], [], wait=True)
    assert dispatch_plates([], []) == []
    out = dispatch_plates(plates(tmp_path, ("p", "x")), {})
    assert "no registered printer has profile 'p' (profiles: none)" in out[0].error
