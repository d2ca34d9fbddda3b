"""`dosecraft printers add | list | status` with CliRunner (no network: httpx.MockTransport)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from dosecraft.cli import printers_cmd
from dosecraft.printers import RetryPolicy, add_printer, client_for, load_registry

KEY = "DCSECRET-unit-4e8a1c9f"
ENV = "DOSECRAFT_PRINTER_OP_1_KEY"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    printers_cmd.register(app)
    return app


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    """No key from the developer's environment or keyring leaks into a test."""
    import dosecraft.printers.apikeys as apikeys

    for var in ("DOSECRAFT_PRINTER_OP_1_KEY", "DOSECRAFT_PRINTER_MR_1_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(sys.modules, "keyring", None)
    assert apikeys.lookup_api_key("op-1") is None


@pytest.fixture
def cli(app, tmp_path):
    runner = CliRunner()
    printers = tmp_path / "printers.toml"

    def run(*args: str, file: Path | None = printers):
        extra = ["--printers-file", str(file)] if file is not None else []
        return runner.invoke(app, [*args, *extra])

    run.file = printers  # type: ignore[attr-defined]
    return run


def add_op(cli, name="op-1", *extra):
    return cli("printers", "add", name, "--kind", "octoprint", "--url", "http://op.test",
               "--profile", "generic_fdm_175", *extra)


# -- add / list -------------------------------------------------------------------------------

def test_add_writes_the_registry_and_says_how_to_give_the_key(cli):
    r = add_op(cli, "op-1", "--formulations", "paracetamol_pva_fdm, prednisolone_pva_fdm",
               "--port", "VIRTUAL")
    assert r.exit_code == 0, r.output
    assert "added printer 'op-1'" in r.stdout and ENV in r.stdout
    p = load_registry(cli.file)["op-1"]
    assert p.profile == "generic_fdm_175" and p.port == "VIRTUAL"
    assert p.formulations == ("paracetamol_pva_fdm", "prednisolone_pva_fdm")
    body = [line for line in cli.file.read_text().splitlines() if not line.startswith("#")]
    assert not any("key" in line.lower() for line in body)


def test_add_with_key_in_env_does_not_nag(cli, monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    r = add_op(cli)
    assert r.exit_code == 0 and "no API key" not in r.stdout and KEY not in r.output
    assert KEY not in cli.file.read_text()


def test_add_never_takes_a_key_option(cli):
    r = add_op(cli, "op-1", "--api-key", KEY)
    assert r.exit_code == 2 and "No such option" in r.output
    assert KEY not in r.output and not cli.file.exists()


@pytest.mark.parametrize("profile, words", [
    ("generic_fdm_999", ["unknown printer profile 'generic_fdm_999'", "generic_fdm_175",
                         "generic_sse_syringe"]),
    ("base/fdm", ["unknown printer profile 'base/fdm'", "klipper_fdm_175"]),
])
def test_add_unknown_profile_lists_the_ids(cli, profile, words):
    r = cli("printers", "add", "x", "--kind", "octoprint", "--url", "http://h",
            "--profile", profile)
    assert r.exit_code == 2 and r.stderr.startswith("error: ")
    assert all(w in r.stderr for w in words), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not cli.file.exists()


@pytest.mark.parametrize("formulations, words", [
    ("paracetamol_peo", ["unknown formulation 'paracetamol_peo'", "paracetamol_pva_fdm"]),
    ("propranolol_gel_sse", ["'propranolol_gel_sse' is sse", "prints fdm"]),
])
def test_add_checks_formulations(cli, formulations, words):
    r = add_op(cli, "op-1", "--formulations", formulations)
    assert r.exit_code == 2 and all(w in r.stderr for w in words), r.stderr
    assert not cli.file.exists()


def test_add_rejects_bad_entries_without_echoing_secrets(cli):
    r = cli("printers", "add", "op-1", "--kind", "octoprint", "--profile", "generic_fdm_175",
            "--url", f"http://admin:{KEY}@op.test")
    assert r.exit_code == 2 and "must not contain a user name or password" in r.stderr
    assert KEY not in r.output
    r = cli("printers", "add", "mr-1", "--kind", "moonraker", "--url", "http://mr.test",
            "--profile", "generic_sse_syringe", "--port", "VIRTUAL")
    assert r.exit_code == 2 and "--port is for OctoPrint only" in r.stderr
    r = cli("printers", "add", "mr-1", "--kind", "klipper", "--url", "http://mr.test",
            "--profile", "generic_sse_syringe")
    assert r.exit_code == 2 and "octoprint" in r.output


def test_add_twice_needs_replace(cli):
    assert add_op(cli).exit_code == 0
    r = add_op(cli)
    assert r.exit_code == 2 and "already exists" in r.stderr and "--replace" in r.stderr
    r = cli("printers", "add", "op-1", "--kind", "moonraker", "--url", "http://mr.test:7125",
            "--profile", "generic_fdm_175", "--replace")
    assert r.exit_code == 0 and load_registry(cli.file)["op-1"].kind.value == "moonraker"


def test_list(cli, monkeypatch):
    r = cli("printers", "list")
    assert r.exit_code == 0 and "no printers registered" in r.stdout
    add_op(cli)
    cli("printers", "add", "mr-1", "--kind", "moonraker", "--url", "http://mr.test:7125",
        "--profile", "generic_sse_syringe", "--formulations", "propranolol_gel_sse")
    monkeypatch.setenv(ENV, KEY)
    r = cli("printers", "list")
    assert r.exit_code == 0
    op = next(line for line in r.stdout.splitlines() if "op-1" in line)
    mr = next(line for line in r.stdout.splitlines() if "mr-1" in line)
    assert "octoprint" in op and "http://op.test" in op and "found" in op and "any" in op
    assert "propranolol_gel_sse" in mr and "DOSECRAFT_PRINTER_MR_1_KEY" in mr
    assert KEY not in r.output


def test_a_registry_holding_a_key_is_refused_without_a_traceback(cli):
    cli.file.write_text(f'[printers.op-1]\nkind = "octoprint"\nurl = "http://op.test"\n'
                        f'profile = "generic_fdm_175"\napi_key = "{KEY}"\n')
    for args in (("printers", "list"), ("printers", "status")):
        r = cli(*args)
        assert r.exit_code == 2 and "looks like a secret" in r.stderr and ENV in r.stderr
        assert KEY not in r.output and "Traceback" not in r.output


# -- status (real clients on httpx.MockTransport) --------------------------------------------

def octoprint_job(state="Operational", completion=None, path="plate.gcode"):
    return {"job": {"file": {"name": path, "path": path, "origin": "local", "date": 1000}},
            "progress": {"completion": completion}, "state": state}


def serve(monkeypatch, routes: dict[str, object]):
    """Clients whose servers answer GET /api/job (OctoPrint) or the Moonraker query from
    ``routes[printer name]``: a dict body, an int status, or an exception to raise."""
    seen: list[httpx.Request] = []

    def factory(printer, **options):
        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            answer = routes[printer.name]
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, int):
                return httpx.Response(answer, json={"error": "Forbidden"})
            if request.url.path.startswith("/api/files/local/"):
                return httpx.Response(200, json={"name": "plate.gcode", "date": 1000})
            return httpx.Response(200, json=answer)

        options.update(transport=httpx.MockTransport(handler), sleep=lambda s: None,
                       retry=RetryPolicy(attempts=1))
        return client_for(printer, **options)

    monkeypatch.setattr(printers_cmd, "make_client", factory)
    return seen


def test_status_table_and_key_header(cli, monkeypatch):
    add_op(cli)
    cli("printers", "add", "op-2", "--kind", "octoprint", "--url", "http://op2.test",
        "--profile", "generic_fdm_175")
    monkeypatch.setenv(ENV, KEY)
    monkeypatch.setenv("DOSECRAFT_PRINTER_OP_2_KEY", KEY + "-2")
    seen = serve(monkeypatch, {"op-1": octoprint_job(), "op-2": octoprint_job("Printing", 42.0)})
    r = cli("printers", "status")
    assert r.exit_code == 0, r.output
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if "op-" in line}
    assert "IDLE" in rows["op-1"] and "http://op.test" in rows["op-1"]
    assert "generic_fdm_175" in rows["op-1"]
    assert "PRINTING" in rows["op-2"] and "42%" in rows["op-2"] and "plate.gcode" in rows["op-2"]
    assert {r.headers["X-Api-Key"] for r in seen} == {KEY, KEY + "-2"}
    assert KEY not in r.output


def test_status_offline_and_key_problems_say_why(cli, monkeypatch):
    add_op(cli)
    cli("printers", "add", "mr-1", "--kind", "moonraker", "--url", "http://mr.test:7125",
        "--profile", "generic_sse_syringe")
    cli("printers", "add", "op-3", "--kind", "octoprint", "--url", "http://op3.test",
        "--profile", "generic_fdm_175")
    monkeypatch.setenv(ENV, KEY)
    serve(monkeypatch, {"op-1": 403, "mr-1": httpx.ConnectError("Connection refused"),
                        "op-3": 401})
    r = cli("printers", "status")
    assert r.exit_code == 1 and "Traceback" not in r.output
    text = " ".join(r.stdout.split())
    assert "KEY REJECTED" in text and f"set {ENV} to a valid key" in text
    assert "OFFLINE" in text and "not reachable at http://mr.test:7125" in text
    assert "NO KEY" in text and "set DOSECRAFT_PRINTER_OP_3_KEY" in text
    assert KEY not in r.output


def test_status_of_one_printer_and_of_an_unknown_one(cli, monkeypatch):
    add_op(cli)
    serve(monkeypatch, {"op-1": octoprint_job("Offline")})
    r = cli("printers", "status", "op-1")
    assert r.exit_code == 1 and "OFFLINE" in r.stdout
    assert "not connected to the printer firmware" in " ".join(r.stdout.split())
    r = cli("printers", "status", "op-9")
    assert r.exit_code == 2 and "no printer named 'op-9'" in r.stderr and "op-1" in r.stderr


def test_the_main_app_registers_printers_and_send():
    from dosecraft.cli.main import app

    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "printers" in r.stdout and "send" in r.stdout


def test_default_registry_path_is_used_without_the_option(cli, monkeypatch, tmp_path):
    target = tmp_path / "cfg" / "printers.toml"
    monkeypatch.setattr(printers_cmd, "default_registry_path", lambda: target)
    import dosecraft.printers.registry as registry

    monkeypatch.setattr(registry, "default_registry_path", lambda: target)
    r = cli("printers", "list", file=None)
    assert r.exit_code == 0 and str(target) in " ".join(r.stdout.split())
    add_printer("op-1", "octoprint", "http://op.test", "generic_fdm_175", path=target)
    assert "op-1" in cli("printers", "list", file=None).stdout
