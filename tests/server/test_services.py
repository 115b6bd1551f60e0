"""Services in-process on a real store and bank: admission, proctor actions and their audit,
locked banks, and what a login forgives."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cat_engine.services.errors import ServiceError
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store, audit
from cat_engine.store.models import AuditEntry
from cat_engine.testing import prepare_site


@pytest.fixture
def files(tmp_path):
    return prepare_site(tmp_path, candidates=3, auto_admit=False)


@pytest.fixture
def store(files):
    s = Store(files.database_url)
    yield s
    s.close()


def _login(site, files, index, terminal="T1", token=None):
    reg = files.registrations[index]
    return site.login(registration=reg, pin=files.pins[reg], token=token or files.token,
                      terminal=terminal)


def test_admission_then_start(files, store):
    site = Site(store, keys=[BankKey(files.passphrase)])
    cand, out = _login(site, files, 0)
    assert out.reply["status"] == "waiting_admission"
    with pytest.raises(ServiceError) as waiting:
        site.start(cand)
    assert waiting.value.code == "not_admitted"
    admitted = site.admit(cand, actor="proctor1", reason="identity checked")
    assert next((e.event, e.room) for e in admitted.emits) == ("admitted", f"cand:{cand.id}")
    assert site.start(cand).reply["sheet"]["n_items"] == 10


def test_proctor_actions_are_audited_with_who_and_why(files, store):
    site = Site(store, keys=[BankKey(files.passphrase)])
    cand, _ = _login(site, files, 1)
    site.admit(cand, actor="proctor1", reason="ok")
    site.start(cand)
    site.pause(cand, actor="proctor1", reason="noise")
    site.resume(cand, actor="proctor1", reason="quiet")
    site.extend(cand, minutes=5, actor="proctor2", reason="PC restart")
    site.release(cand, actor="proctor2", reason="PC 4 died")
    site.disqualify(cand, actor="proctor1", reason="phone in pocket")
    with store.read() as db:
        rows = db.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
                          .where(AuditEntry.candidate_id == cand.id)
                          .order_by(AuditEntry.id)).all()
        assert audit.verify(db) == []
    proctor_rows = [(a, act, d.get("reason")) for a, act, d in rows if a.startswith("proctor")]
    assert proctor_rows == [
        ("proctor1", "admit", "ok"), ("proctor1", "pause", "noise"),
        ("proctor1", "resume", "quiet"), ("proctor2", "extend", "PC restart"),
        ("proctor2", "release", "PC 4 died"), ("proctor1", "disqualify", "phone in pocket")]
    with pytest.raises(ServiceError) as refused:
        site.answer(cand, seq=1, position=0, choice=0)
    assert refused.value.code == "disqualified"
    with pytest.raises(ServiceError):
        site.disqualify(cand, actor="proctor1", reason="  ")


def test_locked_bank_refuses_logins_until_a_key_is_given(files, store):
    site = Site(store, keys=[BankKey("wrong passphrase")])
    for _ in range(2):  # the second attempt does not derive the key again
        with pytest.raises(ServiceError) as locked:
            _login(site, files, 2)
        assert locked.value.code == "session_locked"
    site.add_key(BankKey(files.passphrase))
    _cand, out = _login(site, files, 2)
    assert out.reply["candidate"]["registration"] == files.registrations[2]


def test_login_forgives_token_case_and_spaces_but_not_a_wrong_pin(files, store):
    site = Site(store, keys=[BankKey(files.passphrase)])
    cand, _ = _login(site, files, 0, token=f"  {files.token.lower()} ")
    assert cand.registration == files.registrations[0]
    with pytest.raises(ServiceError) as wrong:
        site.login(registration=files.registrations[0], pin="9999", token=files.token,
                   terminal="T1")
    assert wrong.value.code == "bad_credentials"
