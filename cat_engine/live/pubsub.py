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
Each push in the batch is one line, its room ahead of its JSON: a process decodes only the
pushes for a room one of its own clients is in (most go to the consoles of a session, which the
proxy sends to the session's owner), and skips the others unread, as delivering them would reach
no one here.

Pushes published while Redis is away are lost to the other processes (pub/sub keeps nothing);
the consoles and displays see the gap in their numbered pushes and take a snapshot.

Rooms a namespace asks to be watched (:meth:`OrderedRedisManager.watch_rooms`: the consoles'
``proctor:<session>``) are published only while another process has a client in them. Each
process announces such rooms (at once when one gets its first client here, and every
:data:`INTEREST_S` while it has any); an announcement holds for :data:`INTEREST_TTL_S`. A
session's console pushes (one per answer) go to consoles that the proxy sends to the session's
owner, so most are never published: publishing them cost each process its JSON and each other
process a skipped line, about a fifth of an event loop's CPU (issue 9). A client that joins on
another process before the owner hears of it misses the pushes in between; so when a room's
pushes start being published again, the namespace is told (``on_remote``) and tells that
room's clients to take a fresh snapshot (:mod:`cat_engine.live.proctor`): every push it did not
publish went out before that message, every later one after it, in the publisher's order.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from time import monotonic
from typing import Any

from socketio import RedisManager
from socketio.pubsub_manager import PubSubManager

log = logging.getLogger(__name__)

#: Pushes one Redis message carries at most.
BATCH = 500
#: How long the publisher gathers pushes after the first before it publishes them (seconds):
#: each Redis message costs every process a round of redis-py's reply parsing, whatever it
#: carries, and a console or display on another process does not see 20 ms.
GATHER_S = 0.02
#: Messages waiting for Redis beyond which the oldest are dropped (Redis is away): a console
#: or display that misses them resyncs from its next numbered push.
MAX_BACKLOG = 50_000
#: The first line of a batch (then this process's host id); each next line is one push.
BATCH_HEAD = b"cat-engine-batch/1 "
#: The listener's and the publisher's first and longest wait before reconnecting.
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0
#: Seconds between two announcements of the watched rooms this process has clients in.
INTEREST_S = 1.0
#: How long an announcement holds: the owner stops publishing a room's pushes this long after
#: the last one (the room's clients elsewhere are told to resync when it starts again).
INTEREST_TTL_S = 5.0
#: The ``method`` of an announcement (python-socketio's own managers ignore it).
INTEREST = "cat-engine-rooms"


class OrderedRedisManager(RedisManager):
    """A Redis message queue with one publisher greenlet (ordered, pipelined, a single
    connection) and a listener that no publish failure can disturb."""

    def __init__(self, url: str, channel: str = "flask-socketio", **kwargs: Any):
        super().__init__(url, channel=channel, **kwargs)
        self._backlog = None
        #: how this process's own batches begin: skipped unread
        self._own = BATCH_HEAD + self.host_id.encode() + b"\n"
        #: messages dropped because Redis was away too long (logged)
        self.dropped = 0
        #: namespace -> (room prefix, on_remote): rooms published only when wanted elsewhere
        self._watched: dict[str, tuple[str, Callable[[str], None]]] = {}
        #: (namespace, room) -> until when another process has announced a client in it
        self._remote: dict[tuple[str, str], float] = {}

    def initialize(self) -> None:
        super().initialize()
        if self.server is not None:
            self._backlog = self.server.eio.create_queue()
            self._empty = self.server.eio.get_queue_empty_exception()
            self.server.start_background_task(self._publisher)
            self.server.start_background_task(self._announcer)

    # -- watched rooms: published only while another process has a client in them ------------

    def watch_rooms(self, namespace: str, prefix: str,
                    on_remote: Callable[[str], None]) -> None:
        """Publish a push to a room of ``namespace`` whose name starts with ``prefix`` only
        while another process has a client in it (:meth:`publishes` says; the caller emits
        with ``ignore_queue`` otherwise). ``on_remote(room)`` is called when another process
        announces a client in such a room and this process was not publishing its pushes,
        before any push it publishes for that room from then on."""
        self._watched[namespace] = (prefix, on_remote)

    def publishes(self, namespace: str, room: str) -> bool:
        """Whether a push to ``room`` must go through the message queue: not a watched room,
        or one that another process has a client in."""
        until = self._remote.get((namespace, room))  # once per answer: the clock only if so
        if until is not None and until > monotonic():
            return True
        return not self._is_watched(namespace, room)

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        fresh = not self.rooms.get(namespace, {}).get(room)
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if fresh and self._is_watched(namespace, room):
            # The first client here: the owner publishes for it from the announcement on.
            self._publish(self._interest(namespace, [room]))

    def _is_watched(self, namespace: str, room: Any) -> bool:
        watched = self._watched.get(namespace)
        return watched is not None and isinstance(room, str) and room.startswith(watched[0])

    def _interest(self, namespace: str, rooms: list[str]) -> dict:
        return {"method": INTEREST, "namespace": namespace, "rooms": rooms,
                "host_id": self.host_id}

    def announcements(self) -> list[dict]:
        """The watched rooms this process has clients in, one message per namespace."""
        out = []
        for namespace in self._watched:
            rooms = [room for room, members in self.rooms.get(namespace, {}).items()
                     if members and self._is_watched(namespace, room)]
            if rooms:
                out.append(self._interest(namespace, rooms))
        return out

    def _announcer(self) -> None:
        while True:
            self.server.sleep(INTEREST_S)
            try:
                for message in self.announcements():
                    self._publish(message)
                now = monotonic()
                for key in [k for k, until in self._remote.items() if until <= now - 60]:
                    del self._remote[key]
            except Exception:  # never stop announcing
                log.exception("message queue: announcing rooms failed")

    def heard(self, message: dict) -> None:
        """Another process has clients in these rooms: publish their pushes for a while; a
        room that was not published is announced to the namespace first."""
        watched = self._watched.get(message.get("namespace"))
        rooms = message.get("rooms")
        if watched is None or not isinstance(rooms, list) or message.get(
                "host_id") == self.host_id:
            return
        now = monotonic()
        for room in rooms:
            if not isinstance(room, str):
                continue
            key = (message["namespace"], room)
            was = self._remote.get(key, 0.0) > now
            self._remote[key] = now + INTEREST_TTL_S
            if not was:
                try:
                    watched[1](room)
                except Exception:
                    log.exception("message queue: %s %s: on_remote failed", *key)

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
        """The next batch: block for one message, gather for :data:`GATHER_S`, then take
        whatever is waiting."""
        batch = [self._backlog.get()]
        self.server.sleep(GATHER_S)
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

    def pack(self, batch: list[dict]) -> bytes:
        """One Redis message for a batch of pushes, in order (read by :meth:`unpack`): a head
        line, then one line per push, ``<namespace> <room>`` (empty for a push that is not
        a plain emit to one room) and a tab ahead of its JSON, which holds no newline."""
        lines = [self._own[:-1]]
        for message in batch:
            payload = self.json.dumps(message)
            lines.append(_room_key(message) + b"\t"
                         + (payload.encode() if isinstance(payload, str) else payload))
        return b"\n".join(lines)

    def unpack(self, data: bytes | str) -> Iterator[dict]:
        """The pushes of one Redis message that may reach a client of this process: none of
        this process's own batches (it delivered them here when it emitted them), none to a
        room no client here is in; a message of a single push (python-socketio's own
        managers, a write-only one) as it is. Lazily: whether a room has a client here is
        looked at just before the push would be delivered, as delivering it would."""
        if isinstance(data, str):
            data = data.encode()
        if not data.startswith(BATCH_HEAD):
            message = self._decode(data)
            if isinstance(message, dict):
                yield message
            return
        if data.startswith(self._own):
            return
        for line in data.split(b"\n")[1:]:
            key, _, payload = line.partition(b"\t")
            if key:
                namespace, _, room = key.decode().partition(" ")
                if not self.rooms.get(namespace, {}).get(room):
                    continue
            message = self._decode(payload)
            if isinstance(message, dict):
                yield message

    def _decode(self, payload: bytes) -> Any:
        try:
            return self.json.loads(payload)
        except ValueError:
            log.warning("message queue: unreadable message dropped")
            return None

    def receive(self, data: bytes | str) -> Iterator[dict]:
        """The pushes of one Redis message to deliver here (:meth:`unpack`); announcements
        of rooms are taken here (:meth:`heard`)."""
        for message in self.unpack(data):
            if message.get("method") == INTEREST:
                self.heard(message)
            else:
                yield message

    def _listen(self) -> Iterator[dict]:
        channel = self.channel.encode("utf-8")
        for message in self._redis_listen_with_retries():
            if (message["channel"] == channel and message["type"] == "message"
                    and "data" in message):
                yield from self.receive(message["data"])


class Audience:
    """Who may receive a namespace's pushes to a room, and the emit that reaches them and no
    one else: the proctor console's and the display's watched rooms (``prefix``), published
    through the message queue only while a client on another process is in them.

    With :class:`OrderedRedisManager`: this process's members of the room, and the
    announcements of the others (``on_remote(room)`` as the manager calls it). With one
    process (no message queue): this process's members only. With any other message queue:
    anybody, always published."""

    def __init__(self, socketio: Any, namespace: str, prefix: str,
                 on_remote: Callable[[str], None]):
        self.namespace = namespace
        manager = getattr(getattr(socketio, "server", None), "manager", None)
        #: namespace -> room -> members, of this process; None: not known, assume some
        self._local_rooms = getattr(manager, "rooms", None)
        if hasattr(manager, "watch_rooms"):
            manager.watch_rooms(namespace, prefix, on_remote)
            self._remote: Callable[[str, str], bool] = manager.publishes
        elif manager is not None and not isinstance(manager, PubSubManager):
            self._remote = _nobody
        else:
            self._local_rooms = None
            self._remote = _anybody

    def watchers(self, room: str) -> tuple[bool, bool]:
        """Whether a client here, and one on another process, may be in ``room``."""
        local = self._local_rooms is None or bool(
            self._local_rooms.get(self.namespace, {}).get(room))
        return local, self._remote(self.namespace, room)

    def emit(self, sio: Any, event: str, data: dict[str, Any], room: str,
             watchers: tuple[bool, bool] | None = None) -> None:
        """``sio.emit`` to ``room``: through the message queue only when a client on another
        process may be in it, to this process's clients only when none is, not at all when
        no one watches. ``watchers``: :meth:`watchers`, when the caller already asked."""
        local, remote = watchers or self.watchers(room)
        if remote:
            sio.emit(event, data, to=room, namespace=self.namespace)
        elif local:
            sio.emit(event, data, to=room, namespace=self.namespace, ignore_queue=True)


def room_session(room: str) -> int | None:
    """The session id of a session's room (``proctor:12``, ``board:12``); None for another
    room (the site-wide board)."""
    try:
        return int(room.split(":", 1)[1])
    except (IndexError, ValueError):
        return None


def _nobody(_namespace: str, _room: str) -> bool:
    return False


def _anybody(_namespace: str, _room: str) -> bool:
    return True


def _room_key(message: dict) -> bytes:
    """``<namespace> <room>`` of a plain emit to one room (a process without a client in that
    room may skip it unread); empty for anything else, which every process reads."""
    room = message.get("room")
    if (type(room) is not str or message.get("method") != "emit"
            or message.get("callback") is not None):
        return b""
    return _key(message.get("namespace"), room)


@functools.lru_cache(maxsize=4096)
def _key(namespace: Any, room: str) -> bytes:
    # A site has a few rooms per session: computed once each.
    if type(namespace) is not str or " " in namespace or any(c in namespace + room
                                                             for c in "\t\n"):
        return b""
    return f"{namespace} {room}".encode()


def _close(resource) -> None:
    if resource is None:
        return
    try:
        resource.close()
    except Exception:  # already broken: nothing to release
        log.debug("closing a broken Redis connection failed", exc_info=True)
