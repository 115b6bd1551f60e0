"""Cookie and proxy settings reach a served site: ``serve --secure-cookies`` (or
CAT_ENGINE_COOKIE_SECURE) for sites behind TLS, and bad values stop the start with a sentence."""

from __future__ import annotations

import subprocess
import sys

import requests

from cat_engine.testing import ServerProcess

from .conftest import make_site


def login_cookie(url: str) -> str:
    """The session cookie the console's login page sets (it holds the form's CSRF token)."""
    return requests.get(f"{url}/proctor/login", timeout=10).headers["Set-Cookie"]


def test_secure_cookies_option_and_environment(tmp_path):
    prepared, _ = make_site(tmp_path, candidates=1)
    with ServerProcess(prepared, args=["--secure-cookies"]) as server:
        cookie = login_cookie(server.url)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    env = {**prepared.env(), "CAT_ENGINE_COOKIE_SECURE": "true"}
    with ServerProcess(prepared, env=env) as server:
        assert "Secure" in login_cookie(server.url)
    with ServerProcess(prepared) as server:  # plain HTTP on a closed LAN: the default
        cookie = login_cookie(server.url)
    assert "Secure" not in cookie and "SameSite=Lax" in cookie


def test_a_bad_setting_in_the_environment_is_named(tmp_path):
    env = {"CAT_ENGINE_COOKIE_SECURE": "maybe", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", "from cat_engine.cli import main; main()", "serve",
         "--data-dir", str(tmp_path), "--async-mode", "threading", "--port", "1"],
        env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "CAT_ENGINE_COOKIE_SECURE='maybe'" in done.stderr
    assert "Traceback" not in done.stderr
