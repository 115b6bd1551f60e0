"""Whatever a client sends, the server answers with an error or a reply, and keeps serving."""

from __future__ import annotations

import json

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cat_engine.testing import ServerProcess, prepare_site

NS = "/candidate"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False)
    | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=5),
    max_leaves=20,
)
fields = st.sampled_from(["seq", "position", "choice", "doubtful", "registration", "pin",
                          "token", "terminal", "lang", "item", "key"])
payloads = st.one_of(
    json_values,
    st.dictionaries(fields, json_values, max_size=6),
    st.fixed_dictionaries({"seq": st.integers(-5, 2**40), "position": st.integers(-5, 20000),
                           "choice": st.none() | st.integers(-3, 12)}),
)
events = st.sampled_from(["login", "start", "get_item", "answer", "flag", "finish", "connect",
                          "disconnect", "", "x" * 200, "__proto__", "on_login"])


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    site = prepare_site(tmp_path_factory.mktemp("fuzz"), candidates=2)
    env = {**site.env(), "CAT_ENGINE_RATE_PER_S": "100000", "CAT_ENGINE_RATE_BURST": "100000"}
    with ServerProcess(site, env=env) as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, namespaces=[NS], transports=["websocket"])
        assert client.call("login", site.login(0), namespace=NS)["ok"]
        assert client.call("start", {}, namespace=NS)["ok"]
        yield site, server, client
        client.disconnect()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(event=events, payload=payloads)
def test_fuzzed_messages_get_an_error_and_break_nothing(fuzz_server, event, payload):
    _site, _server, client = fuzz_server
    if event in ("connect", "disconnect"):
        client.emit(event, payload, namespace=NS)  # reserved names: the server ignores them
        return
    reply = client.call(event, payload, namespace=NS, timeout=10)
    assert isinstance(reply, dict) and "ok" in reply, reply
    if not reply["ok"]:
        assert reply["error"]["code"] != "internal", (event, payload, reply)
    json.dumps(reply)


def test_server_survives_the_fuzz_and_garbage_packets(fuzz_server):
    site, server, client = fuzz_server
    import websocket

    ws = websocket.create_connection(server.url.replace("http", "ws")
                                     + "/socket.io/?EIO=4&transport=websocket", timeout=5)
    for garbage in ("42/candidate,{", "4" + "9" * 50, "\x00\xff", "40/candidate," + "[" * 500,
                    "42/candidate,1[\"answer\"," + "9" * 5000 + "]", "x" * 20000):
        ws.send(garbage)
    ws.close()
    # The fuzzed connection still gets answers (the fuzz may have finished its exam).
    assert "ok" in client.call("start", {}, namespace=NS)
    fresh = socketio.Client(reconnection=False)
    fresh.connect(server.url, namespaces=[NS], transports=["websocket"])
    assert fresh.call("login", site.login(1), namespace=NS)["ok"]
    assert fresh.call("start", {}, namespace=NS)["ok"]
    # A seq far ahead of the candidate's next is refused (issue 11); the next one is saved.
    huge = fresh.call("answer", {"seq": 2**31 - 1, "position": 0, "choice": 1}, namespace=NS)
    assert huge["error"]["code"] == "bad_request"
    assert fresh.call("answer", {"seq": 1, "position": 0, "choice": 1}, namespace=NS)["saved"]
    fresh.disconnect()
    assert server.proc.poll() is None
