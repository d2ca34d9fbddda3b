"""API keys never leak: run the printer flows with distinctive keys, then search every
output (logs at DEBUG from every logger, exception messages and tracebacks, reprs, the
registry file, every file written, stdout/stderr) for them.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from integration_support import FAKE_MOONRAKER_KEY, OCTOPRINT_KEY
from octoprint_server import free_port

from dosecraft.errors import PrinterError
from dosecraft.printers import (
    JobState,
    PrinterAuthError,
    PrinterOffline,
    RegistryError,
    RetryPolicy,
    add_printer,
    client_for,
    dispatch_plates,
    get_printer,
    load_registry,
    lookup_api_key,
    printer_status,
    send_gcode,
)

pytestmark = pytest.mark.integration

WRONG_KEY = "DCSECRET-wrong-5e1d9b3f7a2c8046"
SECRETS = (OCTOPRINT_KEY, FAKE_MOONRAKER_KEY, WRONG_KEY)


def _leaks(text: str) -> list[str]:
    # Whole keys and their distinctive tails (a truncated key is still a leak).
    return [k for k in SECRETS if k in text or k[-16:] in text]


def test_keys_never_appear_in_logs_errors_or_files(octoprint, fake_moonraker, tmp_path: Path,
                                                   monkeypatch, caplog, capsys, tiny_gcode):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    outputs: list[str] = []
    registry = tmp_path / "cfg" / "printers.toml"

    def record_error(exc: BaseException) -> None:
        outputs.append(str(exc))
        outputs.append(repr(exc))
        outputs.append("".join(traceback.format_exception(exc)))

    add_printer("op-1", "octoprint", octoprint.url, "generic_fdm_175", path=registry,
                port="VIRTUAL")
    add_printer("mr-1", "moonraker", fake_moonraker.url, "generic_sse_syringe", path=registry)
    add_printer("dead", "octoprint", f"http://127.0.0.1:{free_port()}", "generic_fdm_175",
                path=registry)
    monkeypatch.setenv("DOSECRAFT_PRINTER_OP_1_KEY", OCTOPRINT_KEY)
    monkeypatch.setenv("DOSECRAFT_PRINTER_MR_1_KEY", FAKE_MOONRAKER_KEY)
    monkeypatch.setenv("DOSECRAFT_PRINTER_DEAD_KEY", WRONG_KEY)
    printers = load_registry(registry)
    outputs += [repr(printers), repr(lookup_api_key("op-1")), str(lookup_api_key("op-1")),
                f"{lookup_api_key('op-1')}"]

    # The happy paths, on both kinds of server.
    op = client_for(printers["op-1"], retry=RetryPolicy(attempts=2, backoff_s=0.01))
    outputs += [repr(op), repr(op.__dict__), repr(op.connect(wait_s=30.0, poll_s=0.1))]
    final = send_gcode(op, tiny_gcode, start=True, wait=True, poll_s=0.1, timeout_s=60,
                       on_status=lambda s: outputs.append(repr(s)))
    assert final.state is JobState.FINISHED
    outputs.append(repr(printer_status(printers["mr-1"])))
    plate = tmp_path / "sse_plate.gcode"
    plate.write_bytes(tiny_gcode.read_bytes())
    out = dispatch_plates([(plate, "generic_sse_syringe", "x")], printers, start=True,
                          wait=True, poll_s=0.01, timeout_s=10)
    assert out[0].ok
    outputs.append(repr(out))

    # The failure paths: a rejected key, an unreachable server, a key in the file.
    monkeypatch.setenv("DOSECRAFT_PRINTER_OP_1_KEY", WRONG_KEY)
    with pytest.raises(PrinterAuthError) as auth:
        printer_status(get_printer("op-1", registry))
    record_error(auth.value)
    dead = client_for(printers["dead"], retry=RetryPolicy(attempts=2, backoff_s=0.01))
    with pytest.raises(PrinterOffline) as off:
        dead.status()
    record_error(off.value)
    outputs.append(repr(printer_status(printers["dead"], retry=RetryPolicy(attempts=1))))
    bad = tmp_path / "cfg" / "with_key.toml"
    bad.write_text(f'[printers.x]\nkind = "octoprint"\nurl = "http://h"\nprofile = "p"\n'
                   f'api_key = "{OCTOPRINT_KEY}"\n', encoding="utf-8")
    with pytest.raises(RegistryError, match="looks like a secret") as reg:
        load_registry(bad)
    record_error(reg.value)
    bad.unlink()  # written by this test on purpose; everything else must be clean
    with pytest.raises(PrinterError) as url_err:
        add_printer("y", "octoprint", f"http://user:{OCTOPRINT_KEY}@h", "p", path=registry)
    record_error(url_err.value)

    captured = capsys.readouterr()
    files = {p: p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*")
             if p.is_file()}
    assert registry in files
    everything = {"logs": caplog.text, "stdout": captured.out, "stderr": captured.err,
                  **{f"output {i}": o for i, o in enumerate(outputs)},
                  **{f"file {p}": t for p, t in files.items()}}
    assert len(caplog.records) > 20, "the flows should have logged at DEBUG"
    leaked = {where: _leaks(text) for where, text in everything.items() if _leaks(text)}
    assert not leaked, f"API key found in: {sorted(leaked)}"
