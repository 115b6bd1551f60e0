"""On a real server: answers go into the session's chain, the scheduler signs its head at the
configured interval, and the public display shows it (what `audit verify --anchor` takes)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from cat_engine.testing import ServerProcess, SocketClient, enrolled_device, prepare_site

pytestmark = pytest.mark.slow


def test_the_display_shows_the_signed_head_and_it_anchors_the_log(tmp_path):
    site = prepare_site(tmp_path, candidates=2)
    env = {**site.env(), "CAT_ENGINE_AUDIT_SIGN_S": "1"}
    with ServerProcess(site, env=env) as server:
        screen = {"device": enrolled_device(site.database_url)}  # an enrolled display
        display = SocketClient(server.url, "/display", auth=screen).connect()
        terminal = SocketClient(server.url).connect()
        try:
            assert display.call("subscribe", {"session": site.session})["ok"]
            assert terminal.call("login", site.login(0))["ok"]
            assert terminal.call("start")["ok"]
            assert terminal.call("get_item", {"position": 0})["ok"]
            assert terminal.call("answer", {"seq": 1, "position": 0, "choice": 2})["ok"]
            head = display.wait_for("anchor", lambda d: d["seq"] >= 5, timeout=10)
            again = SocketClient(server.url, "/display", auth=screen).connect()
            snap = again.call("subscribe", {"session": site.session})
            again.close()
            assert snap["anchor"]["seq"] >= head["seq"]
        finally:
            display.close()
            terminal.close()
    fp = head["fingerprint"]
    assert len(fp) == 19 and fp.count("-") == 3
    result = CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(site.data_dir),
                                      "--anchor", f"{site.session}#{head['seq']}:{fp}"])
    assert result.exit_code == 0, result.output
    assert "1 anchors" in result.output
