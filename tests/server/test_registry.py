"""The connection registry: which connection is logged in as which candidate, across a
candidate leaving memory and their session moving to another process."""

from __future__ import annotations

from types import SimpleNamespace

from cat_engine.live.registry import Connections


def candidate(cid: int) -> SimpleNamespace:
    """What the registry reads of a candidate's live state: its id and its connection."""
    return SimpleNamespace(id=cid, sid=None)


def test_a_new_connection_replaces_the_old_one():
    reg, ani = Connections(), candidate(1)
    assert reg.attach(ani, "s1") is None
    assert reg.attach(ani, "s1") is None  # the same connection logging in again
    assert reg.attach(ani, "s2") == "s1"  # the old one must be told and closed
    assert reg.by_sid == {"s2": 1} and ani.sid == "s2"
    assert reg.detach("s1") is None and reg.detach("s2") == 1


def test_a_candidate_rebuilt_from_the_database_keeps_their_connection():
    reg, ani = Connections(), candidate(1)
    reg.attach(ani, "s1")
    reg.park(ani)
    rebuilt = candidate(1)
    reg.restore(rebuilt)
    assert rebuilt.sid == "s1" and reg.by_sid["s1"] == 1
    again = candidate(1)
    reg.restore(again)  # parked once: a second rebuild has no connection
    assert again.sid is None


def test_a_session_served_elsewhere_gives_up_its_connections():
    reg, ani, budi = Connections(), candidate(1), candidate(2)
    reg.attach(ani, "s1")
    reg.attach(budi, "s2")
    reg.came_from(1, "10.0.0.1")
    assert reg.drop([ani]) == ["s1"]  # to be disconnected: they reconnect to the new owner
    assert reg.by_sid == {"s2": 2}
    assert reg.came_from(1, "10.0.0.2") is None  # forgotten with the session


def test_release_cuts_the_connection():
    reg, ani = Connections(), candidate(1)
    reg.attach(ani, "s1")
    reg.cut(ani)
    assert ani.sid is None and reg.by_sid == {}
    assert reg.came_from(1, "10.0.0.1") is None
    assert reg.came_from(1, "10.0.0.9") == "10.0.0.1"
