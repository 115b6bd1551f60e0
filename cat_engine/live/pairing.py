"""Pairing a screen with the site: the one step a display or a candidate terminal that is not
enrolled may take (:mod:`cat_engine.services.devices`)."""

from __future__ import annotations

from typing import Any

from flask_socketio import join_room

from cat_engine.services.errors import ServiceError

#: Pairing codes one address may ask for within PAIRING_HOLD_MS (a room's PCs each ask once).
PAIRINGS_PER_ADDRESS = 20
PAIRING_HOLD_MS = 10 * 60 * 1000


def pairing_room(code: str) -> str:
    return f"pairing:{code}"


def pair(site, kind: str, *, enrolled: bool) -> dict[str, Any]:
    """A new pairing code (to show) and secret (to keep) for this connection; it joins the
    code's room, where the console's confirmation is pushed (``enrolled``)."""
    from cat_engine.proxy import remote_address
    from cat_engine.services import devices

    if enrolled:
        raise ServiceError("bad_request", "this device is enrolled already")
    address = remote_address()
    key = f"pair:{address}"
    if site.guard.blocked_until([key]) is not None:
        raise ServiceError("rate_limited", "too many pairing codes from this address")
    site.guard.fail(key, limit=PAIRINGS_PER_ADDRESS, hold_ms=PAIRING_HOLD_MS)
    code, secret = devices.start_pairing(site.store, kind, address=address)
    join_room(pairing_room(code))
    return {"code": code, "secret": secret}
