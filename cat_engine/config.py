"""Configuration of a cat-engine site: defaults, environment variables, explicit overrides.

``create_app(config)`` merges, in order: these defaults, ``CAT_ENGINE_*`` environment variables
(so gunicorn's ``create_app()`` takes its settings from the environment) and the mapping given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Where the SQLite database, logs and the demo bank live.
    "DATA_DIR": "cat-engine-data",
    # Any SQLAlchemy URL; None means SQLite in DATA_DIR.
    "DATABASE_URL": None,
    # redis://... to run several server processes behind one address.
    "MESSAGE_QUEUE": None,
    # gevent: thousands of websockets on one process (see docs/benchmarks.md).
    "ASYNC_MODE": "gevent",
    # SQLite PRAGMA synchronous: FULL makes each commit survive a power cut.
    "SQLITE_SYNCHRONOUS": "FULL",
    # Seconds between heartbeat rows (outage detection) and between a terminal's clock pushes
    # (terminals count down locally; the push corrects drift).
    "HEARTBEAT_S": 1.0,
    "CLOCK_PUSH_S": 30.0,
    # Seconds between signatures of each grown audit chain's head (shown on the display).
    "AUDIT_SIGN_S": 60.0,
    # Chain every answer and flag into the audit log. Off only to measure what it costs
    # (benchmarks/bench_audit_chain.py): `audit verify` then reports every answer row.
    "AUDIT_ANSWERS": True,
    # Open banks of any issuer, unsigned ones too: development and the demo only (the server
    # announces it at start). Otherwise only issuers in DATA_DIR/trusted-issuers/.
    "ALLOW_UNTRUSTED_BANKS": False,
    # A session's owner renews its lease every heartbeat; after this many seconds without a
    # renewal another process may take the session over (docs/deploy.md, "Ownership").
    "LEASE_TTL_S": 4.0,
    # Per-connection flood limit on the candidate namespace.
    "RATE_PER_S": 20.0,
    "RATE_BURST": 60,
    # Largest Socket.IO packet a client may send.
    "MAX_MESSAGE_BYTES": 16 * 1024,
    # Bank keys the server holds in memory from the start (see `serve --key/--passphrase-env`).
    "BANK_PASSPHRASE": None,
    "BANK_SITE_KEY": None,
    # Start the deadline scheduler and heartbeat (off for app objects used only by the CLI).
    "START_BACKGROUND": True,
    "SECRET_KEY": None,
    # Wrong PINs per registration number before its logins are locked (until a proctor's
    # release or the cool-down), and wrong session tokens per terminal or address before they
    # are refused for a while (docs/protocol.md, "Guessing limits").
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_S": 900.0,
    "TOKEN_MAX_FAILURES": 10,
    "TOKEN_COOLDOWN_S": 60.0,
    # How many reverse proxies in front of the server add X-Forwarded-For (0: trust none,
    # the socket's peer address is the terminal's).
    "TRUST_PROXY": 0,
    # Send the console's session cookie only over HTTPS (a site behind TLS).
    "COOKIE_SECURE": False,
    # The exam site's name as printed on the berita acara and results ("TILC Jakarta").
    "SITE_NAME": None,
    "BABEL_DEFAULT_LOCALE": "id",
    "LANGUAGES": ("id", "en"),
}

#: Settings read from the environment, as CAT_ENGINE_<NAME>.
_ENV_KEYS = ("DATA_DIR", "DATABASE_URL", "MESSAGE_QUEUE", "ASYNC_MODE", "SQLITE_SYNCHRONOUS",
             "RATE_PER_S", "RATE_BURST", "CLOCK_PUSH_S", "BANK_PASSPHRASE", "BANK_SITE_KEY",
             "LOGIN_MAX_FAILURES", "LOGIN_LOCKOUT_S", "TOKEN_MAX_FAILURES", "TOKEN_COOLDOWN_S",
             "TRUST_PROXY", "COOKIE_SECURE", "AUDIT_SIGN_S", "AUDIT_ANSWERS",
             "SITE_NAME", "ALLOW_UNTRUSTED_BANKS", "LEASE_TTL_S", "HEARTBEAT_S")
_NUMERIC = ("RATE_PER_S", "RATE_BURST", "CLOCK_PUSH_S", "AUDIT_SIGN_S", "LOGIN_LOCKOUT_S",
            "TOKEN_COOLDOWN_S", "LEASE_TTL_S", "HEARTBEAT_S")
_INTEGER = ("LOGIN_MAX_FAILURES", "TOKEN_MAX_FAILURES", "TRUST_PROXY")
_BOOLEAN = ("COOKIE_SECURE", "AUDIT_ANSWERS", "ALLOW_UNTRUSTED_BANKS")


def resolve(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The effective settings: defaults < environment < ``config``."""
    settings = dict(DEFAULTS)
    for key in _ENV_KEYS:
        value = os.environ.get(f"CAT_ENGINE_{key}")
        if value:
            settings[key] = _parse(key, value)
    settings.update(config or {})
    data_dir = Path(settings["DATA_DIR"]).expanduser().resolve()
    settings["DATA_DIR"] = str(data_dir)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = sqlite_url(data_dir)
    if settings["ASYNC_MODE"] not in ("gevent", "threading", "eventlet"):
        raise ValueError(
            f"ASYNC_MODE must be gevent, threading or eventlet, not {settings['ASYNC_MODE']!r}"
        )
    if str(settings["SQLITE_SYNCHRONOUS"]).upper() not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError("SQLITE_SYNCHRONOUS must be FULL, EXTRA or NORMAL")
    return settings


def _parse(key: str, value: str) -> Any:
    try:
        if key in _NUMERIC:
            return float(value)
        if key in _INTEGER:
            return int(value)
    except ValueError:
        raise ValueError(f"CAT_ENGINE_{key}={value!r}: expected a number") from None
    if key in _BOOLEAN:
        lowered = value.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"CAT_ENGINE_{key}={value!r}: expected true or false")
        return lowered in ("1", "true", "yes", "on")
    return value


def sqlite_url(data_dir: Path) -> str:
    """The default database: one SQLite file in the data directory."""
    return f"sqlite:///{data_dir / 'cat-engine.sqlite3'}"


def secret_key(data_dir: Path) -> bytes:
    """The site's cookie-signing key, created once in the data directory (mode 0600)."""
    from cat_engine.site_secret import random_key_file

    return random_key_file(data_dir / "secret.key")
