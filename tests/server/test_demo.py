"""`cat-engine serve --demo` on a fresh data directory: a working site and its logins."""

from __future__ import annotations

import re

import pytest
import socketio

from cat_engine.testing import ServerProcess

pytestmark = pytest.mark.slow


def test_demo_site_prints_logins_that_work(tmp_path):
    data = tmp_path / "fresh"
    server = ServerProcess(data_dir=tmp_path, args=["--demo"])
    server.command = lambda: [*ServerProcess.command(server), "--data-dir", str(data)]
    with server:
        out = server.output()
        assert f"{server.url}/terminal/" in out and f"{server.url}/proctor/" in out
        proctor = re.search(r"user 'proctor'\s+password '([^']+)'", out)
        assert proctor and len(proctor.group(1)) >= 8
        token = re.search(r"token (\w{6})", out).group(1)
        pins = re.findall(r"^\s+(DEMO\d{4})\s+(\d{6})\s", out, re.M)
        assert len(pins) == 40
        names = re.findall(r"^\s+DEMO\d{4}\s+\d{6}\s+(.+)$", out, re.M)
        assert len(set(names)) == 40, "every demo candidate has a name of their own"
        client = socketio.Client(reconnection=False)
        client.connect(server.url, namespaces=["/candidate"], transports=["websocket"])
        reg, pin = pins[0]
        login = client.call("login", {"registration": reg, "pin": pin, "token": token,
                                      "terminal": "demo-pc"}, namespace="/candidate")
        assert login["ok"] and login["exam"]["duration_s"] == 6000
        sheet = client.call("start", {}, namespace="/candidate")["sheet"]
        assert sheet["n_items"] == 110
        item = client.call("get_item", {"position": 0}, namespace="/candidate")
        assert item["ok"] and item["stem_html"]
        client.disconnect()
    # SIGTERM (what systemd and docker send) stops it with a word, and cleanly.
    assert server.proc.returncode == 0
    assert "SIGTERM received, stopping" in server.output()
    assert "cat-engine stopped" in server.output()
    # A second start reuses the site and prints the same logins.
    again = ServerProcess(data_dir=tmp_path, args=["--demo"])
    again.command = lambda: [*ServerProcess.command(again), "--data-dir", str(data)]
    with again:
        assert again.log_path != server.log_path
        assert f"{reg}  {pin}" in again.output()
