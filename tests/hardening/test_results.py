"""The proctor's results: a verdict (lulus / tidak lulus) only for finished candidates; those
still waiting or working show "—" in the page, the CSV and the PDF."""

from __future__ import annotations

import csv
import io
import re

import pytest
import requests

from cat_engine.testing import ServerProcess

from .conftest import make_site, proctor_cookie


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    prepared, session_id = make_site(tmp_path_factory.mktemp("results"), candidates=3)
    with ServerProcess(prepared) as server:
        yield prepared, session_id, server


def test_only_finished_candidates_get_a_verdict(running, clients):
    prepared, session_id, server = running
    finished, working = clients(server.url), clients(server.url)
    assert finished.call("login", prepared.login(0))["ok"]
    assert finished.call("start")["ok"]
    done = finished.call("finish", {"seq": 1})
    assert done["ok"] and done["result"]["passed"] is False  # nothing answered
    assert working.call("login", prepared.login(1))["ok"]
    assert working.call("start")["ok"]
    assert working.call("answer", {"seq": 1, "position": 0, "choice": 0})["ok"]
    # The third candidate never logs in.

    web = requests.Session()
    web.headers["Cookie"] = proctor_cookie(server.url)
    base = f"{server.url}/proctor/session/{session_id}/results"

    rows = list(csv.DictReader(io.StringIO(web.get(f"{base}?format=csv", timeout=10).text)))
    verdicts = {r["registration"]: (r["status"], r["passed"]) for r in rows}
    regs = prepared.registrations
    assert verdicts == {regs[0]: ("finished", "no"), regs[1]: ("in_progress", "—"),
                        regs[2]: ("absent", "")}

    page = web.get(base, timeout=10).text  # Bahasa Indonesia by default
    cells = {m.group(1): m.group(2) for m in re.finditer(
        r"<td>(R\d+)</td>.*?<td>([^<]*)</td>\s*</tr>", page, re.S)}
    assert cells[regs[1]] == "—" and cells[regs[2]] == "Tidak hadir"
    assert cells[regs[0]] not in ("—", "")
    assert page.count(cells[regs[0]]) == 1  # "Tidak lulus" appears for the finished one only

    pdf = web.get(f"{base}?format=pdf", timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
