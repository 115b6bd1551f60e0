"""The Redis message queue between server processes (docs/deploy.md, "A large site").

python-socketio's ``RedisManager`` publishes from whichever greenlet emits, each publish taking
a connection of the client's pool (100 at most), and on any publish error it reconnects by
replacing *both* its publishing client and the subscriber the listening greenlet is reading:
under load the pool ran out ("Too many connections"), the publisher swapped the subscriber, the
listener failed on the old one ("I/O operation on closed file") and slept a second before it
subscribed again, and every push from the other processes in that second was lost (issue 9).

Here one publisher greenlet owns one connection and sends, in order, everything queued since its
last round trip as one Redis message (a batch); the listener owns its subscriber, and reconnects
within a tenth of a second. A failing publish never touches the listener.

One message per batch, not per push: every process receives every push, and redis-py's reply
parser (pure Python, a logger lookup per pub/sub message) cost each process as much CPU per push
as the owner spent handling the answer that made it (issue 9: a third of every event loop).

Pushes published while Redis is away are lost to the other processes (pub/sub keeps nothing);
the consoles and displays see the gap in their numbered pushes and take a snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from socketio import RedisManager

log = logging.getLogger(__name__)

#: Pushes one Redis message carries at most.
BATCH = 500
#: Messages waiting for Redis beyond which the oldest are dropped (Redis is away): a console
#: or display that misses them resyncs from its next numbered push.
MAX_BACKLOG = 50_000
#: The listener's and the publisher's first and longest wait before reconnecting.
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0


class OrderedRedisManager(RedisManager):
    """A Redis message queue with one publisher greenlet (ordered, pipelined, a single
    connection) and a listener that no publish failure can disturb."""

    def __init__(self, url: str, channel: str = "flask-socketio", **kwargs: Any):
        super().__init__(url, channel=channel, **kwargs)
        self._backlog = None
        #: how this process's own batches begin (when encoded by orjson): skipped unread
        self._own = b'{"host_id":"' + self.host_id.encode() + b'"'
        #: messages dropped because Redis was away too long (logged)
        self.dropped = 0

    def initialize(self) -> None:
        super().initialize()
        if self.server is not None:
            self._backlog = self.server.eio.create_queue()
            self._empty = self.server.eio.get_queue_empty_exception()
            self.server.start_background_task(self._publisher)

    def _client(self):
        return self._get_redis_module().Redis.from_url(self.redis_url, **self.redis_options)

    def _publish(self, data: dict) -> None:
        if self._backlog is None:  # write-only (no server, no greenlets): publish here
            return super()._publish(data)
        if self._backlog.qsize() >= MAX_BACKLOG:
            self._drop(1)
            return None
        self._backlog.put(data)
        return None

    def _drop(self, n: int) -> None:
        if self.dropped // 1000 != (self.dropped + n) // 1000 or self.dropped == 0:
            log.warning("message queue: Redis unreachable, %d pushes to other processes "
                        "dropped so far", self.dropped + n)
        self.dropped += n

    def _take(self) -> list[dict]:
        """The next batch: block for one message, then take whatever else is waiting."""
        batch = [self._backlog.get()]
        while len(batch) < BATCH:
            try:
                batch.append(self._backlog.get_nowait())
            except self._empty:
                break
        return batch

    def _publisher(self) -> None:
        client = None
        while True:
            batch = self._take()
            payload = self.pack(batch)
            wait = RETRY_FIRST_S
            while True:
                try:
                    if client is None:
                        client = self._client()
                    client.publish(self.channel, payload)
                    break
                except Exception as exc:  # Redis away or restarting: reconnect, same order
                    log.warning("message queue: publish failed (%s); retrying in %.1f s",
                                exc, wait)
                    _close(client)
                    client = None
                    self.server.sleep(wait)
                    wait = min(wait * 2, RETRY_MAX_S)
                    if self._backlog.qsize() >= MAX_BACKLOG:
                        self._drop(len(batch))
                        break

    def _redis_listen_with_retries(self) -> Iterator[dict]:
        wait = RETRY_FIRST_S
        while True:
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                wait = RETRY_FIRST_S
                yield from pubsub.listen()
            except Exception as exc:
                log.warning("message queue: subscriber lost (%s); reconnecting in %.1f s",
                            exc, wait)
                _close(pubsub)
                _close(client)
                self.server.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_S)

    def pack(self, batch: list[dict]) -> str:
        """One Redis message for a batch of pushes, in order (read by :meth:`unpack`)."""
        return self.json.dumps({"host_id": self.host_id, "messages": batch})

    def unpack(self, data: bytes | str) -> list[dict]:
        """The pushes of one Redis message: none of this process's own (it delivered them
        here when it emitted them); a message of a single push (python-socketio's own
        managers, a write-only one) as it is."""
        if isinstance(data, str):
            data = data.encode()
        if data.startswith(self._own):
            return []
        try:
            message = self.json.loads(data)
        except ValueError:
            log.warning("message queue: unreadable message dropped")
            return []
        if not isinstance(message, dict):
            return []
        if "messages" not in message:
            return [message]
        if message.get("host_id") == self.host_id:
            return []
        return message["messages"]

    def _listen(self) -> Iterator[dict]:
        channel = self.channel.encode("utf-8")
        for message in self._redis_listen_with_retries():
            if (message["channel"] == channel and message["type"] == "message"
                    and "data" in message):
                yield from self.unpack(message["data"])


def _close(resource) -> None:
    if resource is None:
        return
    try:
        resource.close()
    except Exception:  # already broken: nothing to release
        log.debug("closing a broken Redis connection failed", exc_info=True)
