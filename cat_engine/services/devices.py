"""Enrolled devices: the public displays and, where a session asks for it, the candidates' PCs.

A device that is not enrolled asks for a pairing (:func:`start_pairing`): it gets a random
secret, which it keeps (the browser's localStorage), and a short code, which it shows on its
screen. A proctor or an admin types the code in the console (:func:`confirm`) for one room or
for the whole site; from then on the device's secret is its credential (:func:`authenticate`),
until someone revokes it (:func:`revoke`). Only the secret's SHA-256 is stored: it is 256
random bits, so a plain hash is enough, and the code shown on the screen is useless without it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from cat_engine.clock import now_ms
from cat_engine.services.errors import ServiceError
from cat_engine.store import Store, audit
from cat_engine.store.models import DEVICE_KINDS, Device

#: A pairing code not confirmed within this time is dropped.
PAIRING_MS = 15 * 60 * 1000
#: Letters that cannot be mistaken for one another on a screen across a room.
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"
CODE_LENGTH = 6


@dataclass(frozen=True)
class EnrolledDevice:
    id: int
    kind: str
    #: The room it serves, or None for the whole site.
    room: str | None
    name: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normal_code(code: str) -> str:
    """A pairing code as typed: case and separators forgiven."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def start_pairing(store: Store, kind: str, *, address: str | None = None
                  ) -> tuple[str, str]:
    """A new pending device: (code to show, secret to keep)."""
    if kind not in DEVICE_KINDS:
        raise ServiceError("bad_request", f"kind: one of {', '.join(DEVICE_KINDS)}")
    now = now_ms()
    secret = secrets.token_urlsafe(32)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))

    def work(db) -> None:
        db.execute(delete(Device).where(Device.state == "pending",
                                        Device.created_ms < now - PAIRING_MS))
        db.add(Device(kind=kind, state="pending", pairing_code=code,
                      secret_hash=_digest(secret), address=(address or "")[:64] or None,
                      created_ms=now, name=""))

    store.write(work)
    return code, secret


def confirm(store: Store, code: str, *, room: str | None, actor: str, name: str = "",
            kind: str | None = None) -> dict[str, Any]:
    """Enrol the pending device showing ``code`` for ``room`` (None: the whole site)."""
    code = normal_code(code)
    now = now_ms()

    def work(db) -> dict[str, Any]:
        device = db.scalar(select(Device).where(Device.pairing_code == code,
                                                Device.state == "pending"))
        if device is None or device.created_ms < now - PAIRING_MS or (
                kind is not None and device.kind != kind):
            raise ServiceError("not_found", f"no device is showing the code {code!r}")
        device.state = "enrolled"
        device.pairing_code = None
        device.room = room
        device.name = name[:100] or f"{device.kind} {device.id}"
        device.enrolled_ms = now
        device.enrolled_by = actor
        audit.append(db, at_ms=now, actor=actor, action="device_enrol",
                     detail={"device": device.id, "kind": device.kind, "room": room,
                             "name": device.name, "address": device.address})
        return _row(device)

    return store.write(work)


def revoke(store: Store, device_id: int, *, actor: str) -> dict[str, Any]:
    now = now_ms()

    def work(db) -> dict[str, Any]:
        device = db.get(Device, device_id)
        if device is None or device.state == "pending":
            raise ServiceError("not_found", f"no enrolled device {device_id}")
        if device.state != "revoked":
            device.state = "revoked"
            device.revoked_ms = now
            audit.append(db, at_ms=now, actor=actor, action="device_revoke",
                         detail={"device": device.id, "kind": device.kind,
                                 "room": device.room, "name": device.name})
        return _row(device)

    return store.write(work)


def authenticate(store: Store, secret: Any, kind: str) -> EnrolledDevice | None:
    """The enrolled device of ``kind`` holding ``secret``, or None."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        return None
    with store.read() as db:
        device = db.scalar(select(Device).where(Device.secret_hash == _digest(secret)))
        if device is None or device.state != "enrolled" or device.kind != kind:
            return None
        return EnrolledDevice(device.id, device.kind, device.room, device.name)


def still_enrolled(store: Store, device_ids: set[int]) -> set[int]:
    """Which of ``device_ids`` are still enrolled (one query)."""
    if not device_ids:
        return set()
    with store.read() as db:
        return set(db.scalars(select(Device.id).where(Device.id.in_(device_ids),
                                                      Device.state == "enrolled")))


def list_devices(store: Store, *, room: str | None = None) -> list[dict[str, Any]]:
    """Enrolled and revoked devices (all, or those of ``room`` and the site-wide ones)."""
    with store.read() as db:
        query = select(Device).where(Device.state != "pending").order_by(Device.id)
        rows = [_row(d) for d in db.scalars(query)]
    if room is not None:
        rows = [r for r in rows if r["room"] in (None, room)]
    return rows


def _row(device: Device) -> dict[str, Any]:
    return {"id": device.id, "kind": device.kind, "state": device.state, "room": device.room,
            "name": device.name, "address": device.address, "enrolled_ms": device.enrolled_ms,
            "enrolled_by": device.enrolled_by, "revoked_ms": device.revoked_ms}
