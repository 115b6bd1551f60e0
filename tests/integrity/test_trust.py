"""Trusted issuers: a site opens a bank only if its signer is on the site's trust list;
development and the demo say so explicitly, and the server announces it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from cat_engine.services.errors import ServiceError
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.services.trust import trusted_issuers
from cat_engine.store import Store
from cat_engine.testing import PASSPHRASE_ENV, ServerProcess, SocketClient, prepare_site


def _login(files, trusted):
    store = Store(files.database_url)
    try:
        site = Site(store, keys=[BankKey(files.passphrase)])
        site.trusted = trusted
        reg = files.registrations[0]
        return site.login(registration=reg, pin=files.pins[reg], token=files.token,
                          terminal="T1")
    finally:
        store.close()


@pytest.mark.parametrize(("issuer", "why"), [
    ("unknown", "which is not a trusted signer"),
    (None, "is unsigned, but a trusted signer is required"),
])
def test_a_bank_from_an_unknown_issuer_or_unsigned_does_not_open(tmp_path, issuer, why):
    files = prepare_site(tmp_path, candidates=1, issuer=issuer)
    with pytest.raises(ServiceError) as refused:
        _login(files, trusted_issuers(files.data_dir))
    assert refused.value.code == "session_locked"
    assert why in refused.value.detail and "cat-engine keys trust" in refused.value.detail
    # Development opens it, explicitly.
    _cand, out = _login(files, None)
    assert out.reply["status"] == "ready"


def test_trusting_the_issuer_opens_the_bank_and_session_open_checks_too(tmp_path):
    files = prepare_site(tmp_path, candidates=1, issuer="unknown", open_session=False)
    env = {PASSPHRASE_ENV: files.passphrase}
    d = ["--data-dir", str(files.data_dir)]
    refused = CliRunner().invoke(cli, ["session", "open", files.session, "--passphrase-env",
                                       PASSPHRASE_ENV, *d], env=env)
    assert refused.exit_code == 2 and "not a trusted signer" in refused.output
    trusted = CliRunner().invoke(cli, ["keys", "trust", str(files.data_dir / "issuer.pub"), *d])
    assert trusted.exit_code == 0 and "trusted issuer" in trusted.output
    opened = CliRunner().invoke(cli, ["session", "open", files.session, "--passphrase-env",
                                      PASSPHRASE_ENV, *d], env=env)
    assert opened.exit_code == 0, opened.output
    _cand, out = _login(files, trusted_issuers(files.data_dir))
    assert out.reply["status"] == "ready"


@pytest.mark.slow
def test_the_server_refuses_an_untrusted_bank_and_announces_the_development_option(tmp_path):
    files = prepare_site(tmp_path, candidates=1, issuer="unknown")
    with ServerProcess(files) as server:
        t = SocketClient(server.url).connect()
        try:
            reply = t.call("login", files.login(0))
        finally:
            t.close()
    assert not reply["ok"] and reply["error"]["code"] == "session_locked"
    log = server.log_path.read_text()
    assert "banks open only if signed by a trusted issuer (0 in" in log
    with ServerProcess(files, args=["--allow-untrusted-banks"]) as server:
        t = SocketClient(server.url).connect()
        try:
            assert t.call("login", files.login(0))["ok"]
        finally:
            t.close()
    assert "WARNING: banks of any issuer, unsigned ones too, are opened" in (
        server.log_path.read_text())
