"""The message queue's wire format (cat_engine/live/pubsub.py): a batch of pushes travels as one
Redis message, in order; a process skips its own batches, and still reads a single push published
by python-socketio's own managers."""

from __future__ import annotations

import json

from cat_engine.live.pubsub import OrderedRedisManager
from cat_engine.tuning import OrjsonCodec


def manager() -> OrderedRedisManager:
    queue = OrderedRedisManager("redis://127.0.0.1:1/0")  # never connects here
    queue.json = OrjsonCodec  # what the server gives it (its packets' codec)
    return queue


def test_a_batch_is_one_message_read_in_order_by_the_other_processes_only():
    sender, receiver = manager(), manager()
    pushes = [{"method": "emit", "event": "progress", "data": [{"candidate_id": i, "seq": i}],
               "namespace": "/proctor", "room": "proctor:1", "host_id": sender.host_id}
              for i in range(1, 4)]
    wire = sender.pack(pushes)
    assert receiver.unpack(wire.encode()) == pushes
    assert receiver.unpack(wire) == pushes
    assert sender.unpack(wire.encode()) == []  # delivered locally when emitted
    # Encoded by another codec (no fast prefix match): still recognised as its own.
    assert sender.unpack(json.dumps({"host_id": sender.host_id, "messages": pushes})) == []


def test_a_single_push_of_a_stock_manager_and_garbage():
    receiver = manager()
    single = {"method": "emit", "event": "board", "data": [{}], "host_id": "elsewhere"}
    assert receiver.unpack(json.dumps(single).encode()) == [single]
    assert receiver.unpack(b"not json") == []
    assert receiver.unpack(b"[1, 2]") == []
