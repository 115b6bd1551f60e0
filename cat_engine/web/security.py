"""Response headers and redirect checks every page of cat-engine shares.

Exam pages run on shared test-room PCs: nothing may linger in a browser cache, leak through a
referrer, load from elsewhere (test rooms are offline, and a CSP keeps injected markup inert),
or redirect off the site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Response

#: The default policy: everything from this server only, images also as data: URIs.
DEFAULT_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def content_security_policy(**directives: str) -> str:
    """The default policy with some directives changed (``form_action="'none'"``)."""
    policy = dict(DEFAULT_POLICY)
    policy.update({name.replace("_", "-"): value for name, value in directives.items()})
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def secure_headers(response: Response, policy: str, *, cache: str = "no-store") -> Response:
    """Set the cache, CSP, referrer and sniffing headers unless a view already set them."""
    response.headers.setdefault("Cache-Control", cache)
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def safe_next(target: str | None, fallback: str) -> str:
    """A same-site path to return to; anything else (another host, a scheme) goes to fallback."""
    if not target:
        return fallback
    parts = urlsplit(target)
    # Browsers read a backslash like a slash, so "/" + "\\host" means "//host": refuse them.
    if parts.scheme or parts.netloc or not target.startswith("/") or "\\" in target:
        return fallback
    return target


class PollingBodyLimit:
    """WSGI middleware: a Socket.IO long-polling POST over ``limit`` bytes gets 413 at once.

    python-engineio refuses such a body too, but closes the session first and waits for its
    queue to drain, which needs a GET the sender never makes: the POST then hangs.
    """

    def __init__(self, app: Callable, limit: int, prefix: str = "/socket.io/"):
        self.app = app
        self.limit = limit
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get(
                "PATH_INFO", "").startswith(self.prefix):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = self.limit + 1
            if length > self.limit:
                body = f"message too large: at most {self.limit} bytes".encode()
                start_response("413 Content Too Large", [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))), ("Connection", "close")])
                return [body]
        return self.app(environ, start_response)
