"""Printer registry: TOML file, validation, key lookup, clients."""

from __future__ import annotations

import sys
import tomllib
import types

import httpx
import pytest

from dosecraft.printers import (
    JobState,
    MoonrakerClient,
    OctoPrintClient,
    Printer,
    PrinterAuthError,
    RegistryError,
    RetryPolicy,
    UnknownPrinter,
    add_printer,
    client_for,
    default_registry_path,
    get_printer,
    key_env_var,
    load_registry,
    lookup_api_key,
    printer_status,
)

SECRET = "REGSECRET-8d2b6f0a4c"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "conf" / "printers.toml"


@pytest.fixture(autouse=True)
def no_real_keyring(monkeypatch):
    # A developer's real keyring must neither answer nor prompt during the tests.
    monkeypatch.setitem(sys.modules, "keyring", None)


def test_names_are_validated(path):
    with pytest.raises(RegistryError, match="name: use 1–64 letters, digits"):
        add_printer("lab.sse 2", "moonraker", "http://h", "p", path=path)
    assert not path.exists()


def test_round_trip_keeps_every_field(path):
    add_printer("fdm-1", "octoprint", "http://octopi-1.local/", "generic_fdm_175",
                formulations=["paracetamol_peo", "caffeine_pva", "paracetamol_peo"], path=path,
                port="VIRTUAL")
    add_printer("lab.sse_2", "moonraker", "https://voron.lab:7125", "generic_sse_syringe",
                path=path)
    reg = load_registry(path)
    assert list(reg) == ["fdm-1", "lab.sse_2"]
    fdm = reg["fdm-1"]
    assert fdm == Printer(name="fdm-1", kind="octoprint", url="http://octopi-1.local",
                          profile="generic_fdm_175",
                          formulations=("paracetamol_peo", "caffeine_pva"), port="VIRTUAL")
    assert reg["lab.sse_2"].formulations == () and reg["lab.sse_2"].port is None
    doc = tomllib.loads(path.read_text())
    assert set(doc["printers"]) == {"fdm-1", "lab.sse_2"}  # a dotted name is quoted
    assert "key" not in path.read_text().split("\n", 3)[-1]  # only the header mentions keys
    assert [p.name for p in path.parent.iterdir()] == ["printers.toml"]  # no temp files left


def test_may_print():
    any_ = Printer(name="a", kind="moonraker", url="http://h", profile="p")
    only = Printer(name="b", kind="moonraker", url="http://h", profile="p", formulations=["x"])
    assert any_.may_print("whatever") and only.may_print("x") and not only.may_print("y")


def test_existing_name_needs_replace(path):
    add_printer("fdm-1", "octoprint", "http://a", "p1", path=path)
    with pytest.raises(RegistryError, match="already exists.*replace=True"):
        add_printer("fdm-1", "octoprint", "http://b", "p1", path=path)
    add_printer("fdm-1", "moonraker", "http://b", "p2", path=path, replace=True)
    assert load_registry(path)["fdm-1"].kind == "moonraker"


def test_names_sharing_a_key_variable_are_refused(path):
    add_printer("fdm-1", "octoprint", "http://a", "p", path=path)
    with pytest.raises(RegistryError, match="share the key variable DOSECRAFT_PRINTER_FDM_1_KEY"):
        add_printer("fdm_1", "octoprint", "http://b", "p", path=path)


def test_missing_file_is_an_empty_registry(path):
    assert load_registry(path) == {}


def test_default_path_is_in_the_user_config_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_registry_path() == tmp_path / "xdg" / "dosecraft" / "printers.toml"
    add_printer("p1", "moonraker", "http://h:7125", "prof")
    assert get_printer("p1").url == "http://h:7125"
    assert (tmp_path / "xdg" / "dosecraft" / "printers.toml").exists()


@pytest.mark.parametrize("field", ["api_key", "apikey", "API-KEY", "key", "octoprint_key",
                                   "token", "access_token", "password", "passwd", "secret",
                                   "auth", "credentials"])
def test_a_key_like_field_is_refused_without_echoing_it(path, field):
    path.parent.mkdir(parents=True)
    path.write_text(f'[printers.fdm-1]\nkind = "octoprint"\nurl = "http://h"\nprofile = "p"\n'
                    f'"{field}" = "{SECRET}"\n')
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    msg = str(info.value)
    assert SECRET not in msg
    assert f"printers.fdm-1.{field}" in msg and "looks like a secret" in msg
    assert "DOSECRAFT_PRINTER_FDM_1_KEY" in msg and "keyring" in msg


def test_a_top_level_key_is_refused_too(path):
    path.parent.mkdir(parents=True)
    path.write_text(f'api_key = "{SECRET}"\n')
    with pytest.raises(RegistryError, match="'api_key' looks like a secret") as info:
        load_registry(path)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("url, why", [
    (f"http://admin:{SECRET}@printer-7.lab", "must not contain a user name or password"),
    (f"http://printer-7.lab/?apikey={SECRET}", "must not have a query string"),
    ("ftp://printer-7.lab", "http:// or https://"),
    ("printer-7.lab", "http:// or https://"),
])
def test_bad_urls_are_refused_without_echoing_them(path, url, why):
    with pytest.raises(RegistryError, match=why) as info:
        add_printer("fdm-1", "octoprint", url, "p", path=path)
    assert SECRET not in str(info.value) and "printer-7.lab" not in str(info.value)


def test_invalid_entries_name_the_field(path):
    path.parent.mkdir(parents=True)
    path.write_text('[printers.fdm-1]\nkind = "prusalink"\nurl = "http://h"\nprofile = "p"\n'
                    'colour = "red"\n')
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    msg = str(info.value)
    assert "printer 'fdm-1'" in msg
    assert "kind: Input should be 'octoprint' or 'moonraker' (got 'prusalink')" in msg
    assert "colour: unknown field; valid fields: name, kind, url, profile, formulations" in msg
    path.write_text('[printers.fdm-1]\nname = "x"\nkind = "octoprint"\nurl = "http://h"\n'
                    'profile = "p"\n')
    with pytest.raises(RegistryError, match="remove the 'name' field"):
        load_registry(path)
    path.write_text('printers = 3\n')
    with pytest.raises(RegistryError, match="must be a table"):
        load_registry(path)
    path.write_text('[others]\n')
    with pytest.raises(RegistryError, match=r"unknown top-level keys \['others'\]"):
        load_registry(path)


def test_invalid_toml_says_where(path):
    path.parent.mkdir(parents=True)
    path.write_text('[printers.fdm-1]\nkind = octoprint\n')
    with pytest.raises(RegistryError, match=r"not a valid TOML file.*line 2"):
        load_registry(path)


def test_get_printer_unknown_lists_known(path):
    add_printer("a", "octoprint", "http://h", "p", path=path)
    with pytest.raises(UnknownPrinter, match=r"no printer named 'b'.*\(registered: a\)"):
        get_printer("b", path)


def test_key_env_var_names():
    assert key_env_var("fdm-1") == "DOSECRAFT_PRINTER_FDM_1_KEY"
    assert key_env_var("Lab.SSE 2") == "DOSECRAFT_PRINTER_LAB_SSE_2_KEY"


def test_key_from_environment_then_keyring(monkeypatch):
    calls = []

    def get_password(service, user):
        calls.append((service, user))
        return f"{SECRET}\n"

    monkeypatch.setitem(sys.modules, "keyring", types.SimpleNamespace(get_password=get_password))
    assert lookup_api_key("fdm-1").reveal() == SECRET
    assert calls == [("dosecraft", "fdm-1")]
    monkeypatch.setenv("DOSECRAFT_PRINTER_FDM_1_KEY", "from-env")
    assert lookup_api_key("fdm-1").reveal() == "from-env"
    assert len(calls) == 1  # the environment wins without asking the keyring


def test_keyring_absent_or_broken_is_skipped_silently(monkeypatch, caplog):
    assert lookup_api_key("fdm-1") is None  # keyring not importable (fixture)

    def broken(service, user):
        raise RuntimeError("No recommended backend was available")

    monkeypatch.setitem(sys.modules, "keyring", types.SimpleNamespace(get_password=broken))
    assert lookup_api_key("fdm-1") is None
    monkeypatch.setitem(sys.modules, "keyring",
                        types.SimpleNamespace(get_password=lambda s, u: None))
    assert lookup_api_key("fdm-1") is None
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


def test_client_for_each_kind(monkeypatch):
    monkeypatch.setenv("DOSECRAFT_PRINTER_OP_KEY", SECRET)
    op = Printer(name="op", kind="octoprint", url="http://op", profile="p", port="VIRTUAL")
    mr = Printer(name="mr", kind="moonraker", url="http://mr:7125", profile="p")
    c = client_for(op)
    assert isinstance(c, OctoPrintClient) and c.port == "VIRTUAL" and c.url == "http://op"
    assert SECRET not in repr(c) and SECRET not in repr(vars(c))
    assert isinstance(client_for(mr), MoonrakerClient)


def test_printer_status_reports_unreachable_as_offline(monkeypatch):
    monkeypatch.setenv("DOSECRAFT_PRINTER_OP_KEY", SECRET)
    op = Printer(name="op", kind="octoprint", url="http://op", profile="p")

    def refuse(request):
        raise httpx.ConnectError("Connection refused")

    st = printer_status(op, transport=httpx.MockTransport(refuse),
                        retry=RetryPolicy(attempts=2, backoff_s=0), sleep=lambda s: None)
    assert st.state is JobState.OFFLINE and "not reachable at http://op" in st.message
    with pytest.raises(PrinterAuthError):
        printer_status(op, transport=httpx.MockTransport(lambda r: httpx.Response(403)))
