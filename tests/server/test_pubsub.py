"""The message queue's wire format (cat_engine/live/pubsub.py): a batch of pushes travels as one
Redis message, in order; a process skips its own batches and the pushes for rooms none of its
clients is in, and still reads a single push published by python-socketio's own managers."""

from __future__ import annotations

import json

from cat_engine.live.pubsub import OrderedRedisManager
from cat_engine.tuning import OrjsonCodec


def manager() -> OrderedRedisManager:
    queue = OrderedRedisManager("redis://127.0.0.1:1/0")  # never connects here
    queue.json = OrjsonCodec  # what the server gives it (its packets' codec)
    return queue


def push(sender: OrderedRedisManager, i: int, room: str | None = "proctor:1") -> dict:
    return {"method": "emit", "event": "progress", "data": [{"candidate_id": i, "seq": i}],
            "namespace": "/proctor", "room": room, "skip_sid": None, "callback": None,
            "host_id": sender.host_id}


def test_a_batch_is_one_message_read_in_order_where_its_rooms_have_clients():
    sender, receiver = manager(), manager()
    receiver.basic_enter_room("sid-a", "/proctor", "proctor:1", eio_sid="eio-a")
    odd_room = "a room\twith a tab"
    pushes = [push(sender, 1), push(sender, 2, room="proctor:2"), push(sender, 3, room=None),
              push(sender, 4, room=odd_room), {"method": "disconnect", "sid": "x",
                                               "namespace": "/", "host_id": sender.host_id},
              push(sender, 5)]
    wire = sender.pack(pushes)
    # proctor:2 has no client there: skipped unread; a broadcast, an odd room and
    # anything but an emit are always read.
    expected = [pushes[0], pushes[2], pushes[3], pushes[4], pushes[5]]
    assert list(receiver.unpack(wire)) == expected
    assert list(receiver.unpack(wire.decode())) == expected
    receiver.basic_enter_room("sid-b", "/proctor", "proctor:2", eio_sid="eio-b")
    assert list(receiver.unpack(wire)) == pushes
    assert list(sender.unpack(wire)) == []  # delivered locally when emitted


def test_a_room_joined_while_a_batch_is_delivered_gets_the_rest_of_it():
    sender, receiver = manager(), manager()
    receiver.basic_enter_room("sid-a", "/proctor", "proctor:1", eio_sid="eio-a")
    reading = receiver.unpack(sender.pack([push(sender, 1), push(sender, 2, room="board:1")]))
    assert next(reading)["data"][0]["seq"] == 1
    # Delivering the first push may switch to a greenlet whose client joins board:1.
    receiver.basic_enter_room("sid-a", "/proctor", "board:1", eio_sid="eio-a")
    assert [m["data"][0]["seq"] for m in reading] == [2]


def test_a_single_push_of_a_stock_manager_and_garbage():
    receiver = manager()
    single = {"method": "emit", "event": "board", "data": [{}], "host_id": "elsewhere"}
    assert list(receiver.unpack(json.dumps(single).encode())) == [single]
    assert list(receiver.unpack(b"not json")) == []
    assert list(receiver.unpack(b"[1, 2]")) == []
