"""`proxy.nginx_route` says where the nginx configuration of `cat-engine proxy-config` sends a
session: checked against nginx itself, in front of three servers that answer with their port."""

from __future__ import annotations

import http.server
import threading
import urllib.request

import pytest

from cat_engine.proxy import nginx_route
from cat_engine.testing import Nginx


def _port_server() -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = str(self.server.server_address[1]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_route_model_is_the_route_nginx_takes(tmp_path):
    upstreams = [_port_server() for _ in range(3)]
    servers = [f"127.0.0.1:{u.server_address[1]}" for u in upstreams]
    try:
        proxy = Nginx(tmp_path, servers)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        # /healthz is what Nginx() waits for; any path is passed through.
        for session in range(1, 41):
            with urllib.request.urlopen(f"{proxy.url}/healthz?session={session}") as reply:
                port = reply.read().decode()
            assert nginx_route(servers, str(session)) == f"127.0.0.1:{port}", session
    finally:
        proxy.stop()
        for upstream in upstreams:
            upstream.shutdown()
