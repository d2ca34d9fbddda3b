"""Run a real OctoPrint with its bundled virtual printer, for the integration tests.

The base folder is pre-seeded so OctoPrint starts ready to use and never goes online:

- ``config.yaml``: first-run wizard done; the online check, plugin blacklist and Python EOL
  check off (their wizards are then not required either); the server commands set (their
  wizard otherwise asks); every bundled plugin that phones home or announces itself on
  the LAN (discovery/zeroconf, software update, plugin repository, announcements,
  tracking, error tracking...) disabled; the Virtual Printer plugin on; serial port
  ``VIRTUAL`` preferred but not auto-connected (connecting is one of the tested calls).
- ``users.yaml`` (format version 2, as ``FilebasedUserManager`` writes it): one admin whose
  user API key, sent as ``X-Api-Key``, is the test key. The user API key is the supported
  way since OctoPrint 1.5 (the global ``api.key`` is deprecated and stops working in
  1.13). The password hash is a syntactically valid pbkdf2 one that matches no password:
  nobody logs in through the browser, and ``cleanup_legacy_hashes`` leaves it alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

#: Bundled plugins that make outbound connections or multicast; none may run in tests.
DISABLED_PLUGINS = [
    "announcements", "tracking", "softwareupdate", "discovery", "pluginmanager",
    "errortracking", "achievements", "backup", "health_check", "firmware_check",
    "file_check", "pi_support",
]

CONFIG_YAML = """\
server:
  firstRun: false
  onlineCheck: {{enabled: false}}
  pluginBlacklist: {{enabled: false}}
  pythonEolCheck: {{enabled: false}}
  commands:
    systemShutdownCommand: "true"
    systemRestartCommand: "true"
    serverRestartCommand: "true"
plugins:
  _disabled: [{disabled}]
  virtual_printer:
    enabled: true
serial:
  port: VIRTUAL
  autoconnect: false
"""

USERS_YAML = """\
_version: 2
{user}:
  password: "$pbkdf2-sha256$29000$ZG9zZWNyYWZ0LXRlc3Q$unusableunusableunusableunusableunusable12"
  active: true
  groups: [admins, users]
  permissions: []
  apikey: "{api_key}"
  settings: {{}}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_basedir(basedir: Path, api_key: str, user: str = "dosecraft") -> None:
    """Write config.yaml and users.yaml so OctoPrint starts configured."""
    basedir.mkdir(parents=True, exist_ok=True)
    (basedir / "config.yaml").write_text(
        CONFIG_YAML.format(disabled=", ".join(DISABLED_PLUGINS)), encoding="utf-8")
    users = basedir / "users.yaml"
    users.write_text(USERS_YAML.format(user=user, api_key=api_key), encoding="utf-8")
    users.chmod(0o600)


@dataclass
class OctoPrintServer:
    """A running OctoPrint process."""

    process: subprocess.Popen[bytes]
    url: str
    api_key: str
    basedir: Path
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the server's console log, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it to exit."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_octoprint(venv: Path, basedir: Path, api_key: str,
                    startup_timeout_s: float = 90.0) -> OctoPrintServer:
    """Seed ``basedir``, start ``octoprint serve`` on a free port, wait until it answers.

    Raises
    ------
    RuntimeError
        The server exited or did not answer ``/api/version`` in time (log tail included).
    """
    seed_basedir(basedir, api_key)
    port = free_port()
    cmd = [str(venv / "bin" / "octoprint"), "serve", "--basedir", str(basedir),
           "--host", "127.0.0.1", "--port", str(port)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # OctoPrint refuses to run as root unless told; CI containers run as root.
        cmd.append("--iknowwhatimdoing")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    log_path = basedir / "console.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=basedir)
    server = OctoPrintServer(proc, f"http://127.0.0.1:{port}", api_key, basedir, log_path)
    deadline = time.monotonic() + startup_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"OctoPrint exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            r = httpx.get(f"{server.url}/api/version", headers={"X-Api-Key": api_key},
                          timeout=2.0)
            if r.status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"OctoPrint did not answer within {startup_timeout_s:g} s:\n"
                       f"{server.log_tail()}")
