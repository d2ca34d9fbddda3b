"""Run a real Moonraker without Klipper, for the integration tests.

Moonraker starts and serves ``/server/...`` (info, file upload, history) with no Klipper
behind it; ``/printer/...`` answers 404/503 until Klipper connects, which never happens
here. The config keeps it on the machine: no systemd/D-Bus provider, announcements read
from a local folder (``dev_mode``, no moonlight feed), a pre-made (empty) ``usb.ids`` so it
does not download one, and no ``[update_manager]``/``[zeroconf]`` sections.

Moonraker generates its API key itself; the helper reads it over Moonraker's local
Unix socket (``access.get_api_key``), which is how a local admin tool gets it too. No
trusted clients are configured, so HTTP requests without that key get 401.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from octoprint_server import free_port

CONFIG = """\
[server]
host: 127.0.0.1
port: {port}
klippy_uds_address: {data}/comms/klippy.sock

[machine]
provider: none
validate_service: False
validate_config: False

[announcements]
dev_mode: True
enable_moonlight: False

[authorization]
force_logins: False
"""


@dataclass
class MoonrakerServer:
    """A running Moonraker process."""

    process: subprocess.Popen[bytes]
    url: str
    api_key: str
    data: Path
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the server's console log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server and wait for it to exit."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _api_key_over_uds(sock_path: Path, timeout_s: float = 5.0) -> str:
    """Ask Moonraker for its API key over its local JSON-RPC socket (ETX-delimited)."""
    request = {"jsonrpc": "2.0", "method": "access.get_api_key", "id": 1}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(sock_path))
        s.sendall(json.dumps(request).encode() + b"\x03")
        buf = b""
        while not buf.endswith(b"\x03"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return str(json.loads(buf.rstrip(b"\x03"))["result"])


def start_moonraker(venv: Path, data: Path, startup_timeout_s: float = 60.0) -> MoonrakerServer:
    """Prepare a data folder, start Moonraker on a free port, wait until it answers.

    Raises
    ------
    RuntimeError
        It exited or did not come up in time (log tail included).
    """
    for sub in ("config", "misc", "gcodes", "logs", "comms", "development/announcements"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    (data / "misc" / "usb.ids").touch()
    port = free_port()
    conf = data / "config" / "moonraker.conf"
    conf.write_text(CONFIG.format(port=port, data=data), encoding="utf-8")
    cmd = [str(venv / "bin" / "python"), "-m", "moonraker", "-d", str(data), "-c", str(conf),
           "-n"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    log_path = data / "console.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=data)
    url = f"http://127.0.0.1:{port}"
    server = MoonrakerServer(proc, url, "", data, log_path)
    sock = data / "comms" / "moonraker.sock"
    deadline = time.monotonic() + startup_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Moonraker exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            # Any HTTP answer (401 without a key) means the server is listening.
            httpx.get(f"{url}/server/info", timeout=2.0)
            if sock.exists():
                server.api_key = _api_key_over_uds(sock)
                return server
        except (httpx.TransportError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"Moonraker did not come up within {startup_timeout_s:g} s:\n"
                       f"{server.log_tail()}")
