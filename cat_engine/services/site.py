"""The running test site: the runner of the candidates of the sessions this process owns.

:class:`Site` holds what a process needs to serve a session: the lease on it (ownership), its
bank and its candidates in memory (loaded on first use, rebuilt from the database), and the
login. Each action (admit, start, answer, flag, finish, pause, resume, extend, release,
disqualify) runs the candidate's command (services/candidate.py: the state machine, time plan
and score sheet, with no I/O) under the candidate's lock and commits what it returned through
:meth:`Site._commit`: its rows and audit entries in one transaction of the store's group commit,
fenced by the lease, so a method returns only after the change is durable. It returns an
:class:`Outcome`: the reply for the caller and the pushes the live layer must send. The
candidate namespace, the proctor namespace and the scheduler all call these.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from cat_engine import clock as clk
from cat_engine import site_secret
from cat_engine.live.registry import Connections
from cat_engine.services import events as ev
from cat_engine.services import grading
from cat_engine.services.candidate import (
    LABELS,
    SET_RESULT,
    Block,
    CandidateState,
    ClockData,
    Entry,
    Outcome,
    time_plan,
)
from cat_engine.services.errors import ServiceError
from cat_engine.services.guard import LoginGuard
from cat_engine.services.ownership import Ownership
from cat_engine.services.passwords import PasswordPool, check_pin
from cat_engine.services.runtime import (
    BankKey,
    SessionState,
    UnlockedBank,
    load_candidate,
    load_session,
    replay,
)
from cat_engine.store import LeaseLost, Prepared, Rows, Store, audit
from cat_engine.store.models import (
    AnswerEvent,
    AuditEntry,
    Candidate,
    Clock,
    ExamSession,
    Form,
    Outage,
)
from item_bank.render import terminal_access
from scoring import adaptive_section
from scoring.forms import Form as FormObj

log = logging.getLogger(__name__)

#: After a takeover, the longest reconnect of a working candidate that is credited to them.
RECONNECT_CREDIT_MS = 60_000

_last_seq = (select(func.max(AnswerEvent.seq))
             .where(AnswerEvent.candidate_id == Candidate.id).scalar_subquery())
#: The sessions under a token, with the registration's candidate in each (None when it has
#: none): what a login reads first. Prepared (store/prepared.py): a room's logins run it at once.
_LOGIN_ROWS = Prepared(
    select(ExamSession.id, ExamSession.state, Candidate.id, Candidate.pin_hash, Candidate.state,
           Candidate.terminal, _last_seq)
    .select_from(ExamSession)
    .outerjoin(Candidate, (Candidate.session_id == ExamSession.id)
               & (Candidate.registration == bindparam("registration")))
    .where(ExamSession.token_digest == bindparam("digest")))
#: A session's candidates in progress whose deadline has passed (see Site.due).
_DUE = Prepared(
    select(Clock.candidate_id).join(Candidate, Candidate.id == Clock.candidate_id)
    .where(Candidate.session_id == bindparam("sid"), Candidate.state == "in_progress",
           Clock.paused_since_ms.is_(None),
           Clock.started_ms + func.coalesce(Clock.block_end_ms, Clock.allowed_ms)
           + Clock.extension_ms + Clock.paused_ms + Clock.outage_ms <= bindparam("now")))
_SESSION_OF = Prepared(select(Candidate.session_id).where(Candidate.id == bindparam("cid")))


class Site:
    """A server process's view of the site: store, bank keys and candidates in memory."""

    def __init__(self, store: Store, *, async_mode: str = "threading",
                 keys: list[BankKey] | None = None, now: Callable[[], int] = clk.now_ms,
                 owner: str | None = None, lease_ttl_ms: int = 4000, steal: bool = False):
        self.store = store
        #: The sessions this process owns (docs/deploy.md, "Ownership"): only their
        #: candidates are held in memory, and every write of theirs carries the lease's fence.
        self.ownership = Ownership(store, now, owner=owner, ttl_ms=lease_ttl_ms, steal=steal)
        #: Called with (session id, socket ids) when another process took a session from
        #: this one: the live layer disconnects those sockets so they reach the new owner.
        self.on_deposed: Callable[[int, list[str]], None] | None = None
        #: Several processes behind a proxy: a terminal logs in only through a connection
        #: routed by its session (``?session=<id>``, docs/deploy.md, "Routing").
        self.routed = False
        self.async_mode = async_mode
        self.keys: list[BankKey] = list(keys or [])
        self.now = now
        self.sessions: dict[int, SessionState] = {}
        self.candidates: dict[int, CandidateState] = {}
        #: Which connection is logged in as which candidate (live/registry.py).
        self.connections = Connections()
        if async_mode == "gevent":
            import gevent
            import gevent.event
            import gevent.lock

            self._new_lock = gevent.lock.RLock
            self._new_event = gevent.event.Event
            self._sleep = gevent.sleep
            self._spawn = gevent.spawn
        else:
            self._new_lock = threading.RLock
            self._new_event = threading.Event
            self._sleep = time.sleep
            self._spawn = lambda fn: threading.Thread(target=fn, daemon=True).start()
        #: One loader per candidate at a time; a room's logins after a takeover load their
        #: candidates side by side (one lock for all made them queue for the database).
        self._load_locks = [self._new_lock() for _ in range(64)]
        #: session id -> the lock held while this process takes that session
        self._own_locks: dict[int, Any] = {}
        #: sessions being taken over: loaded, not yet credited (callers wait in own())
        self._taking: set[int] = set()
        #: session id -> (when this process served it again after an outage, the candidates
        #: credited since for their reconnect)
        self._served_again: dict[int, tuple[int, set[int]]] = {}
        #: session id -> why its bank could not be opened with the keys held
        self._locked: dict[int, str] = {}
        #: session id -> set when the bank derivation running for it ends (see unlock).
        self._opening: dict[int, Any] = {}
        #: True once warm() has loaded the open sessions' candidates (see /healthz).
        self.warmed = False
        #: Wrong-PIN lockouts and wrong-token throttling (app.py sets the configured limits).
        self.guard = LoginGuard(store, now=now)
        #: Costly argon2 (console passwords, typed passphrases; the server's own bank keys
        #: apart) in OS threads, off the event loop. A PIN's check (under a millisecond) runs
        #: inline: handed to a thread (niced or not), a room's storm of 2,000 logins took
        #: longer and more CPU (the hand-off and the GIL's back and forth cost more than the
        #: hash; docs/benchmarks.md, issue 14).
        self.passwords = PasswordPool(async_mode, threads=1, queue=8)
        #: Not at a low priority: only our own keys go there (nothing a stranger can flood),
        #: and a takeover's terminals wait for them; a loaded machine starved a niced thread.
        self.banks = PasswordPool(async_mode, threads=1, queue=1024, low_priority=False)
        #: (exam row, accommodation, extra minutes) -> a candidate's time blocks.
        self._plans: dict[tuple, tuple[Block, ...]] = {}
        #: The site's Ed25519 key: signs chain heads and receipts (services/anchors.py).
        self.signing_key = None
        #: Chain each answer and flag into the audit log (config AUDIT_ANSWERS).
        self.chain_answers = True
        #: Public keys of the bank issuers this site trusts (services/trust.py); None opens
        #: any bank, for development and the demo (--allow-untrusted-banks).
        self.trusted: list | None = None

    # -- loading ---------------------------------------------------------------------------

    def session(self, session_id: int, *, refresh: bool = False) -> SessionState:
        state = self.sessions.get(session_id)
        if state is None or refresh:
            from scoring.exam import parse_exam

            fresh = load_session(self.store, session_id, lambda text: parse_exam(text))
            if fresh is None:
                raise ServiceError("session_not_open", f"no session {session_id}")
            if state is not None:
                fresh.bank = state.bank
            self.sessions[session_id] = state = fresh
        return state

    def add_key(self, key: BankKey) -> None:
        self.keys.append(key)
        self._locked.clear()

    def unlock(self, session: SessionState, key: BankKey | None = None) -> UnlockedBank:
        """The session's bank, opened with ``key`` or one of the keys the server holds.

        A ``key`` given is always checked, even when the bank is open already (a console's
        unlock must not accept any passphrase then). Key derivation runs in the password
        pool, off the event loop.
        """
        if session.bank is not None and key is None:
            return session.bank
        if key is None and session.id in self._locked:
            # Deriving a key costs a quarter of a second: do not retry the same failing keys
            # at every login; a new key (add_key, or one given here) clears this.
            raise ServiceError("session_locked", self._locked[session.id])
        if key is None:
            # One derivation per session at a time: the logins that arrive meanwhile (the
            # derivation no longer blocks the loop) wait for it instead of each deriving.
            opening = self._opening.get(session.id)
            if opening is not None:
                opening.wait()
                return self.unlock(self.sessions.get(session.id) or session)
            self._opening[session.id] = opening = self._new_event()
            try:
                return self._open_with(session, self.keys, None)
            finally:
                del self._opening[session.id]
                opening.set()
        return self._open_with(session, [key], key)

    def _open_with(self, session: SessionState, tried: list[BankKey],
                   key: BankKey | None) -> UnlockedBank:
        reason = "no bank key on this server"
        for candidate_key in tried:
            try:
                # The server's own keys in a pool of their own: a flood of typed passwords
                # must never leave a candidate's first login without its bank.
                pool = self.banks if key is None else self.passwords
                opened = pool.run(self.open_bank, session, candidate_key)
            except ServiceError as exc:
                if exc.code != "session_locked":
                    raise
                reason = exc.detail
                if exc.extra.get("untrusted"):
                    break  # no other key makes the bank's signer trusted
                continue
            return self.adopt(session, opened, candidate_key)
        if key is None:
            self._locked[session.id] = reason
        raise ServiceError("session_locked", reason)

    def open_bank(self, session: SessionState, key: BankKey):
        """Open the session's bank file with ``key`` (slow: key derivation; no state
        changes, so a pool thread may run it). ServiceError("session_locked") if it fails,
        with ``untrusted`` when the bank's signer is not one the site trusts."""
        from item_bank.catbank import UntrustedSigner, open_bank
        from item_bank.errors import BankError

        try:
            return open_bank(session.bank_path, passphrase=key.passphrase, site_key=key.site_key,
                             trusted_signers=self.trusted)
        except UntrustedSigner as exc:
            from cat_engine.services.trust import HINT

            raise ServiceError("session_locked", f"{exc}; {HINT}", untrusted=True) from None
        except BankError as exc:
            raise ServiceError("session_locked", str(exc)) from None

    def adopt(self, session: SessionState, opened, key: BankKey) -> UnlockedBank:
        """Keep a bank opened with ``key`` (and the key, for the session's next loads)."""
        if session.bank is None:
            session.bank = UnlockedBank(opened)
            self._audit_async(session.id, None, "bank_opened", {
                "bank_id": opened.manifest.bank_id, "version": opened.manifest.version,
                "content_sha256": opened.manifest.content_sha256,
                "signer": opened.manifest.signer.fingerprint if opened.manifest.signer else None})
        if key not in self.keys:
            self.keys.append(key)
        self._locked.pop(session.id, None)
        return session.bank

    def candidate(self, candidate_id: int, session_id: int | None = None) -> CandidateState:
        """The candidate's live state, rebuilt from the database on first use; the session is
        taken first (ServiceError ``elsewhere`` when another live process owns it).
        ``session_id``: the candidate's session, when the caller read it already."""
        state = self.candidates.get(candidate_id)
        if state is not None:
            if state.session_id in self._taking:
                self.own(state.session_id)  # wait until the takeover credited the outage
            return state
        if session_id is None:
            found = self.store.query(_SESSION_OF, {"cid": candidate_id})
            session_id = found[0][0] if found else None
        if session_id is None:
            raise ServiceError("bad_credentials", f"no candidate {candidate_id}")
        self.own(session_id)
        with self._load_locks[candidate_id % len(self._load_locks)]:
            state = self.candidates.get(candidate_id)
            if state is None:
                state = self._load_candidate(candidate_id)
                self.connections.restore(state)
                self.candidates[candidate_id] = state
        return state

    def _load_candidate(self, candidate_id: int) -> CandidateState:
        row, form_row, clock_row, events = load_candidate(self.store, candidate_id)
        if row is None:
            raise ServiceError("bad_credentials", f"no candidate {candidate_id}")
        session = self.session(row.session_id)
        bank = self.unlock(session)
        if form_row is None:
            form = self.ensure_form(session, bank, candidate_id, row.seat)
        else:
            form = FormObj.from_dict(form_row.items)
        answers, doubtful, answer_seq, flag_seq, seqs = replay(len(form), events)
        if adaptive_section.is_adaptive(session.exam):
            sheet = adaptive_section.score_sheet(session, bank, form, answers, row.adaptive)
            form = sheet.form
        else:
            sheet = grading.LazyScoreSheet(
                lambda: grading.score_sheet(session, bank, form, answers))
        state = CandidateState(
            id=row.id, session_id=row.session_id, registration=row.registration,
            name=row.name, formation=row.formation, photo=row.photo,
            accommodations=dict(row.accommodations or {}), state=row.state,
            terminal=row.terminal, position=row.position, result=row.result,
            finish_reason=row.finish_reason, form=form,
            clock=ClockData.from_row(clock_row) if clock_row is not None else None,
            answers=answers, doubtful=doubtful, answer_seq=answer_seq, flag_seq=flag_seq,
            seqs=seqs, score_sheet=sheet, lock=self._new_lock(), exam=session.exam,
            plan=self._plan(session, row.accommodations or {}),
        )
        if isinstance(sheet, grading.LazyScoreSheet):
            sheet.owner = state
        return state

    def _plan(self, session: SessionState, accommodations: dict[str, Any]) -> tuple[Block, ...]:
        """A candidate's time blocks, made once per (exam, accommodation, extra minutes)."""
        key = (session.exam_id, accommodations.get("accommodation"),
               float(accommodations.get("extra_minutes", 0) or 0))
        plan = self._plans.get(key)  # an exam row never changes once stored
        if plan is None:
            plan = self._plans[key] = time_plan(session.exam, accommodations)
        return plan

    def ensure_form(self, session: SessionState, bank: UnlockedBank, candidate_id: int,
                    seat: int | None = None):
        """The candidate's form, assembled and stored the first time it is needed."""
        payload = grading.assemble(session, bank, candidate_id, seat).as_dict()
        now = self.now()

        def work(db):
            existing = db.get(Form, candidate_id)
            if existing is not None:  # another process got there first: theirs stands
                return existing.items
            db.add(Form(candidate_id=candidate_id, items=payload, created_ms=now))
            return payload

        return FormObj.from_dict(self._write(session.id, work))

    # -- ownership -------------------------------------------------------------------------

    def own(self, session_id: int, *, wait: bool = False) -> None:
        """Serve this session from here on: take its lease, open its bank, load its working
        candidates, and credit the time nobody served it to them (measured until now, when
        they can be served again). ServiceError ``elsewhere`` when another live process owns
        it. Until the credit is applied, every other caller for this session waits here.

        ``wait``: the caller's connection is routed to this process for this session (its
        owner died, or the proxy moved the session here): wait for the owner's lease to
        expire or be handed over (at most one lease period) instead of refusing, so that a
        room reconnecting after a failover is served the moment the session can be.
        """
        if session_id in self.ownership.held and session_id not in self._taking:
            return
        with self._own_locks.setdefault(session_id, self._new_lock()):
            if session_id in self.ownership.held and session_id not in self._taking:
                return
            began = time.monotonic()
            grant = self.ownership.acquire(session_id)
            ahead = None
            if grant is None:
                # Its terminals reach this process now: ask the owner to hand it over.
                self.ownership.want(session_id)
                if wait:  # the key derivation while the lease runs out, not after
                    ahead = self._open_ahead(session_id)
                # Wall time (not the site's clock, which tests hold still).
                until = began + (self.ownership.ttl_ms + 1000) / 1000
                while grant is None and wait:  # once at least, however long the bank took
                    grant = self.ownership.acquire(session_id)
                    if grant is not None or time.monotonic() >= until:
                        break
                    self._sleep(0.1)
            if grant is None:
                raise ServiceError("elsewhere", f"session {session_id} is served by another "
                                   "server process", retry_after_s=1)
            leased = time.monotonic()
            self._drop_session(session_id)  # nothing cached from an earlier ownership
            try:
                session = self.session(session_id, refresh=True)
                if ahead is not None and session.bank is None:
                    self.adopt(session, *ahead)
                self.unlock(session)
            except ServiceError:
                # This process cannot open the bank: leave the session to one that can, and
                # let its outage run on (served=False).
                self.ownership.release(session_id, served=False, fence=grant.fence)
                raise
            self._taking.add(session_id)
            self.ownership.held[session_id] = grant.fence
            try:
                if grant.last_served_ms is not None:
                    self._credit_outage(session_id, grant.last_served_ms, grant.fence)
                    self._served_again[session_id] = (self.now(), set())
            except Exception:
                self._drop_session(session_id)
                self.ownership.release(session_id, served=False)
                raise
            finally:
                self._taking.discard(session_id)
            log.log(logging.WARNING if grant.last_served_ms is not None else logging.INFO,
                    "serving session %s (fence %s): lease after %.2f s, bank open %.2f s",
                    session_id, grant.fence, leased - began, time.monotonic() - leased)

    def _open_ahead(self, session_id: int) -> tuple[Any, BankKey] | None:
        """Open the session's bank with the server's keys (no state changes) while its lease
        runs out: (bank, key) for ``adopt`` once the lease is ours, None if none opens it."""
        session = self.session(session_id)
        if session.bank is not None:
            return None
        for key in list(self.keys):
            try:
                return self.banks.run(self.open_bank, session, key), key
            except ServiceError:
                continue
        return None

    def _credit_reconnect(self, cand: CandidateState) -> None:
        """After a takeover, a working candidate is credited the time from the session being
        served again to their terminal resuming (its ``start``, which returns the sheet; at
        most RECONNECT_CREDIT_MS): the reconnect is caused by our failure, and a room's
        logins and starts are served one by one. The credit holds in memory at once and is
        committed beside the reply: waiting for that commit (a second under load) would take
        its latency from the time just credited."""
        taken = self._served_again.get(cand.session_id)
        if taken is None or cand.id in taken[1] or not cand.working():
            return
        since, credited = taken
        credited.add(cand.id)
        credit = cand.credit_outage(self.now(), since, RECONNECT_CREDIT_MS)
        if credit is None:
            return

        def persist() -> None:
            try:
                self._commit(cand, credit)
            except ServiceError as exc:  # deposed meanwhile: the next owner credits anew
                log.warning("outage credit of candidate %s not stored: %s", cand.id, exc)
            except Exception:  # dropped: rebuilt from the database, without this credit
                log.exception("outage credit of candidate %s not stored", cand.id)
        self._spawn(persist)

    def _credit_outage(self, session_id: int, since_ms: int, fence: int) -> None:
        """Add the time since the session was last served to the deadline of each of its
        candidates who was working then (not paused, not already past their deadline)."""
        now = self.now()

        def work(db):
            # Served until the candidates' last commit, if that came after the last renewal
            # (only the owner writes their actions; a refused login or our own bank entry
            # may follow): never credit time they were still being served.
            last = db.execute(select(AuditEntry.at_ms, AuditEntry.actor)
                              .where(AuditEntry.chain == session_id)
                              .order_by(AuditEntry.seq.desc()).limit(20)).all()
            since = max([since_ms, *(at for at, actor in last
                                     if actor == "candidate" and at <= now)])
            outage = now - since
            if outage <= 0:
                return 0
            clocks = db.execute(
                select(Clock).join(Candidate, Candidate.id == Clock.candidate_id)
                .where(Candidate.session_id == session_id, Candidate.state == "in_progress",
                       Clock.paused_since_ms.is_(None))).scalars().all()
            moved = [c for c in clocks if clk.deadline_ms(c) > since]
            for c in moved:
                c.outage_ms += outage
                loaded = self.candidates.get(c.candidate_id)
                if loaded is not None and loaded.clock is not None:
                    loaded.clock.outage_ms = c.outage_ms
            if moved:
                db.add(Outage(session_id=session_id, last_beat_ms=since, restart_ms=now,
                              candidates=len(moved)))
            # The session's berita acara records the outage and whom it credited.
            audit.append(db, at_ms=now, actor="system", action="outage",
                         session_id=session_id,
                         detail={"last_beat_ms": since, "outage_ms": outage,
                                 "candidates": len(moved)})
            return outage if moved else 0

        outage = self.store.write(work, (session_id, fence))
        if outage:
            log.warning("session %s was not served for %.1f s: its running deadlines moved",
                        session_id, outage / 1000)

    def _write(self, session_id: int, work, *, owned: bool = True) -> Any:
        """Commit a write of this session with the fence of its lease; a write refused by the
        database (another process took the session) drops the session from memory.
        ``owned=False``: an audit entry that may be written where the session is not served
        (a refused login); fenced when the session is ours."""
        if not owned and session_id not in self.ownership.held:
            # The session's audit chain is its owner's: a race for its head with the owner
            # is lost at most a few times in a row (a new transaction reads the new head).
            for attempt in range(3):
                try:
                    return self.store.write(work)
                except IntegrityError:
                    if attempt == 2:
                        raise
                    self._sleep(0.05)
        try:
            return self.store.write(work, self.ownership.fence(session_id))
        except LeaseLost:
            self.deposed(session_id)
            raise ServiceError("elsewhere", "this session is served by another server "
                               "process now", retry_after_s=1) from None

    def write_session(self, session_id: int, work) -> Any:
        """A session-level write (proctor settings, incidents, token): through the session's
        owner, as every write of its audit chain. Fenced here when this process serves it;
        refused (``elsewhere``) when another live process does, whose chain head it would
        race; written directly when nobody serves it (not started, or between owners)."""
        if session_id not in self.ownership.held and self.ownership.served_elsewhere(
                session_id):
            raise ServiceError("elsewhere", f"session {session_id} is served by another "
                               "server process", retry_after_s=1)
        return self._write(session_id, work, owned=False)

    def deposed(self, session_id: int) -> None:
        """Another process owns this session now: forget it and its candidates here."""
        self.ownership.held.pop(session_id, None)
        sids = self._drop_session(session_id)
        log.warning("session %s was taken over by another server process", session_id)
        if self.on_deposed is not None and sids:
            self.on_deposed(session_id, sids)

    def _drop_session(self, session_id: int) -> list[str]:
        """Forget the candidates of a session; the socket ids that were logged in to them."""
        dropped = [c for c in self.candidates.values() if c.session_id == session_id]
        for cand in dropped:
            self.candidates.pop(cand.id, None)
        return self.connections.drop(dropped)

    def renew(self) -> None:
        """Every heartbeat: renew the leases held; forget the sessions another process took,
        and hand over a session another process asked for once none of its terminals is
        connected here (the proxy now sends them there)."""
        lost, wanted = self.ownership.renew()
        for session_id in lost:
            self.deposed(session_id)
        for session_id in wanted:
            if not any(c.sid is not None for c in self.candidates.values()
                       if c.session_id == session_id):
                self._drop_session(session_id)
                self.ownership.release(session_id, served=True, handover=True)
                log.info("handed session %s over to the process that asked for it",
                         session_id)

    def adopt_sessions(self) -> list[int]:
        """Take the open sessions that no live process serves and that need one: those with
        candidates working (their deadlines must be kept), or, for a single process
        (``steal``), every open session. Returns the sessions taken."""
        states = (("registered", "admitted", "in_progress") if self.ownership.steal
                  else ("in_progress",))
        with self.store.read() as db:
            ids = list(db.scalars(
                select(Candidate.session_id).distinct()
                .join(ExamSession, Candidate.session_id == ExamSession.id)
                .where(ExamSession.state == "open", Candidate.state.in_(states))))
        ids = [s for s in ids if s not in self.ownership.held and s not in self._locked]
        if not self.ownership.steal:
            ids = self.ownership.orphans(ids)
        taken = []
        for session_id in ids:
            try:
                self.own(session_id)
                taken.append(session_id)
            except ServiceError as exc:
                log.info("session %s not taken: %s", session_id, exc)
        return taken

    def warm(self, pause: Callable[[], None] = lambda: None) -> int:
        """Take the sessions this process should serve (see adopt_sessions) and open their banks
        (key derivation, the form assembler), so that a room's logins find them ready.
        Candidates are loaded when they log in, not here: memory grows with the candidates
        connected, not with those registered.

        ``pause`` yields to other work between two sessions. Returns how many sessions are
        ready; sessions whose bank is locked are skipped (their logins say so).
        """
        self.adopt_sessions()
        with self.store.read() as db:
            ids = db.execute(select(ExamSession.id).where(ExamSession.state == "open")
                             .order_by(ExamSession.id)).scalars().all()
        if not self.ownership.steal:  # one of several processes: the sessions served here
            ids = [s for s in ids if s in self.ownership.held]
        ready = 0
        for session_id in ids:
            try:
                session = self.session(session_id)
                grading.assembler(session, self.unlock(session))
                ready += 1
            except ServiceError:
                pass
            pause()
        self.warmed = True
        return ready

    def forget(self, candidate_id: int) -> None:
        """Drop a candidate's cached state (it is rebuilt from the database on next use)."""
        state = self.candidates.pop(candidate_id, None)
        if state is not None:
            self.connections.park(state)  # the connection stays logged in

    # -- candidate actions -----------------------------------------------------------------

    def login(self, *, registration: str, pin: str, token: str, terminal: str,
              sid: str | None = None, address: str | None = None, device: str | None = None,
              route: str | None = None
              ) -> tuple[CandidateState, Outcome]:
        # Tokens are read off the room's screen: forgive case and stray spaces.
        registration, token = registration.strip(), token.strip().upper()
        rows, pin_key, sources = self._login_rows(registration, token, terminal, address)
        self._check_room(rows, terminal, address, device)
        limits = self.guard.read([pin_key, *sources])
        now = self.now()
        if any(limits[s].blocked(now) for s in sources if s in limits):
            raise ServiceError("rate_limited", "too many wrong logins from this terminal")
        if pin_key in limits and limits[pin_key].blocked(now):
            raise ServiceError("locked", retry_after_s=-(-(limits[pin_key].until_ms - now)
                                                         // 1000))
        # argon2 inline (see __init__); an unknown number costs the same as a known one.
        known = [r for r in rows if r[2] is not None]
        match = [r for r in known if check_pin(pin, r[3])]
        if not known:
            check_pin(pin, None)
        if not match:
            raise self._login_failed(registration, rows, pin_key, sources, terminal, address)
        if pin_key in limits:
            self.guard.clear([pin_key])
        session_id, session_state, candidate_id, _, db_state, db_terminal, db_seq = match[0]
        if session_state != "open":
            raise ServiceError("session_not_open")
        if self.routed and route != str(session_id):
            # The proxy sends a connection to the process that owns its session by this
            # route: the terminal reconnects with it and logs in again.
            raise ServiceError("elsewhere", "reconnect with this session's route",
                               route=str(session_id))
        # This connection is the session's (routed for it, or the only process): wait for a
        # dead owner's lease rather than refuse.
        self.own(session_id, wait=True)
        session = self.session(session_id)
        if session.state != "open":
            session = self.session(session_id, refresh=True)
        cached = self.candidates.get(candidate_id)
        if cached is not None and not cached.inflight and (
                cached.state != db_state or cached.last_seq != (db_seq or 0)):
            # Another server process (scale-out) or the CLI changed this candidate since it
            # was cached here: rebuild it from the database.
            self.forget(candidate_id)
        cand = self.candidate(candidate_id, session_id)
        cand.terminal = db_terminal if not cand.inflight else cand.terminal
        out = Outcome()
        with cand.lock:
            if cand.state == "disqualified":
                raise ServiceError("disqualified")
            if cand.terminal is not None and cand.terminal != terminal:
                self._audit_async(session_id, candidate_id, "refused_login",
                                  {"terminal": terminal, "bound": cand.terminal})
                out.emits.append(ev.to_proctors(session_id, "alert", {
                    "candidate_id": candidate_id, "kind": "second_login",
                    "detail": {"terminal": terminal}}))
                raise ServiceError("already_active", emits=out.emits)
            admit = cand.state == "registered" and session.settings.get("auto_admit", True)
            if cand.terminal is None and cand.sid is not None:
                # Released (e.g. by the CLI) while still connected: tell that terminal.
                out.emits.append(ev.Emit("released", {}, cand.sid, ev.CANDIDATE_NS))
                self.connections.cut(cand)
            if cand.terminal is None or admit:
                self._commit(cand, cand.bind(self.now(), terminal, admit, address))
            self._note_address(cand, terminal, address, out)
        out.reply = {
            "route": str(session_id),
            "candidate": {"name": cand.name, "registration": cand.registration,
                          "formation": cand.formation, "photo": cand.photo},
            "exam": {
                "title": session.exam.title or session.exam.id,
                "sections": [{"name": s.id, "items": s.positions}
                             for s in session.exam.sections],
                "duration_s": cand.allowed_ms() // 1000,
            },
            "status": cand.status(),
        }
        if cand.state == "finished":
            out.reply["result"] = cand.result
        out.emits.append(cand.progress(self.now(), connected=True))
        return cand, out

    def _check_room(self, rows, terminal: str, address: str | None,
                    device: str | None) -> None:
        """A session may require enrolled PCs and/or addresses in its room's ranges
        (settings ``enrolled_terminals``, ``networks``): a login from anything else is refused
        before its PIN is checked, audited and raised to the session's proctors."""
        from cat_engine.services import devices
        from cat_engine.services.proctoring import address_allowed

        for session_id, _state, candidate_id, *_rest in rows:
            settings = self.session(session_id).settings
            reason = None
            networks = settings.get("networks") or []
            if networks and not address_allowed(address, networks):
                reason = "address_not_allowed"
            elif settings.get("enrolled_terminals"):
                pc = devices.authenticate(self.store, device, "terminal")
                room = self.session(session_id).room
                if pc is None or pc.room not in (None, room):
                    reason = "device_not_enrolled"
            if reason is None:
                continue
            detail = {"reason": reason, "terminal": terminal, "address": address}
            self._audit_async(session_id, candidate_id, "refused_login", detail)
            raise ServiceError(reason, emits=[ev.to_proctors(session_id, "alert", {
                "candidate_id": candidate_id, "kind": "outside_room", "detail": detail})])

    def _login_rows(self, registration: str, token: str, terminal: str,
                    address: str | None) -> tuple[list, str, list[str]]:
        """The sessions under ``token`` with the registration's candidate in each (None when
        it has none): one query, whether the number exists or not. Also the guard keys of
        this attempt: the PIN count (the bound terminal's own, when this is it) and the
        sources (terminal and address)."""
        rows = self.store.query(_LOGIN_ROWS, {"registration": registration,
                                              "digest": site_secret.token_digest(token)})
        bound = any(r[2] is not None and r[5] == terminal for r in rows)
        pin_key = self.guard.pin_key(registration, terminal if bound else None)
        sources = [f"src:terminal:{terminal}"] + ([f"src:address:{address}"] if address else [])
        return rows, pin_key, sources

    def _login_failed(self, registration: str, rows, pin_key: str, sources: list[str],
                      terminal: str, address: str | None) -> ServiceError:
        """The refusal of a failed login, counted against the guessing limits.

        Every failure counts against the terminal and the address (a guesser spraying
        numbers from one PC is slowed down). A wrong token counts nowhere else. A wrong PIN,
        or a number not in the token's session, counts against the registration number
        (alike, so a lockout does not tell whether a number exists; the address limit keeps
        made-up numbers from minting rows); on the candidate's bound terminal against that
        terminal's own budget. The failure that reaches the limit locks it, with an audit
        entry and an alert in the console of each session where the registration sits.
        """
        self.guard.wrong_source(sources)
        if not rows:
            return ServiceError("bad_credentials")
        limit = self.guard.wrong_pin(pin_key)
        if limit.failures != self.guard.max_failures:
            return ServiceError("bad_credentials")
        known = [r for r in rows if r[2] is not None]
        log.warning("registration %s locked after %d wrong PINs", registration,
                    self.guard.max_failures)
        emits = []
        detail = {"failures": limit.failures, "until_ms": limit.until_ms, "address": address,
                  "terminal": terminal, "bound_terminal": "@" in pin_key}
        for session_id, _state, candidate_id, *_rest in known:
            self._audit_async(session_id, candidate_id, "login_locked", detail)
            emits.append(ev.to_proctors(session_id, "alert", {
                "candidate_id": candidate_id, "kind": "locked", "detail": detail}))
        return ServiceError("locked", retry_after_s=-(-(limit.until_ms - self.now()) // 1000),
                            emits=emits)

    def _note_address(self, cand: CandidateState, terminal: str, address: str | None,
                      out: Outcome) -> None:
        """Remember where the candidate logged in from; a session that continues from another
        address (a moved cable, or someone else's PC) is audited and shown to the proctor."""
        if not address:
            return
        previous = self.connections.came_from(cand.id, address)
        if previous is None or previous == address or cand.state not in ("admitted",
                                                                         "in_progress"):
            return
        detail = {"from": previous, "to": address, "terminal": terminal}
        self._audit_async(cand.session_id, cand.id, "address_changed", detail)
        out.emits.append(ev.to_proctors(cand.session_id, "alert", {
            "candidate_id": cand.id, "kind": "address_changed", "detail": detail}))

    def clock_push(self, cand: CandidateState, now: int | None = None) -> ev.Emit:
        return cand.clock_push(self.now() if now is None else now)

    # -- committing ------------------------------------------------------------------------

    def _commit(self, cand: CandidateState, out: Outcome) -> Outcome:
        """Commit what a command of the candidate decided: its rows and its audit entries in
        one transaction, fenced by the session's lease (:meth:`_write`). The command applied
        the change in memory already; if the commit fails the candidate is dropped, to be
        rebuilt from the database."""
        rows = out.rows
        for actor, action, detail in out.audit:
            rows.append(audit.deferred(at_ms=out.at_ms, actor=actor, action=action,
                                       session_id=cand.session_id, candidate_id=cand.id,
                                       detail=detail))
        if rows:
            try:
                self._write(cand.session_id, Rows(*rows))
            except Exception:
                self._drop(cand)
                raise
        return out

    def _drop(self, cand: CandidateState) -> None:
        """Drop a candidate whose change did not commit (unless dropped already)."""
        if self.candidates.get(cand.id) is cand:
            self.forget(cand.id)

    # -- the candidate's commands ------------------------------------------------------------

    def start(self, cand: CandidateState) -> Outcome:
        """Start the clock the first time; afterwards return the sheet (resume)."""
        cand.check_live(allow_finished=True)
        if cand.state == "finished":
            raise ServiceError("finished", result=cand.result)
        if cand.state == "registered":
            raise ServiceError("not_admitted")
        out = Outcome()
        with cand.lock:
            # A terminal resumes with this call after a takeover: the time until here is ours.
            self._credit_reconnect(cand)
            if cand.state == "admitted":
                # Core statements on the tables: a room's connect storm starts hundreds of
                # clocks a second, and the ORM's unit of work cost most of that commit.
                out = self._commit(cand, cand.start_clock(self.now()))
        now = self.now()
        if cand.expired(now):
            moved = self.time_up(cand)
            if cand.state == "finished":
                return moved
            out.emits += moved.emits
        out.reply = {"sheet": cand.sheet(now)}
        out.emits.append(cand.clock_push(now))
        return out

    def _refuse_if_expired(self, cand: CandidateState, now: int,
                           position: int | None = None) -> list[ev.Emit]:
        """Apply a deadline that passed before the scheduler saw it; the pushes to send."""
        if not cand.expired(now):
            return []
        out = self.time_up(cand)
        if cand.state == "finished":
            raise ServiceError("time_up", emits=out.emits)
        if position is not None:  # moved on to the next block: is the item still open?
            try:
                cand.check_block(position, self.now())
            except ServiceError as exc:
                exc.extra["emits"] = out.emits
                raise
        return out.emits

    def time_up(self, cand: CandidateState) -> Outcome:
        """The current block's time ran out: move on to the next block, or finish after the
        last. The scheduler calls this at every deadline, connected terminal or not."""
        emits: list[ev.Emit] = []
        with cand.lock:
            now = self.now()
            moved, last = cand.time_up(now)
            if moved is None and not last:
                return Outcome()
            if moved is not None:
                emits = self._commit(cand, moved).emits
        if last:
            return self.finish_now(cand, reason="time")
        return Outcome({"block": cand.block_info(now)}, emits)

    def next_block(self, cand: CandidateState, *, seq: int, block: int) -> Outcome:
        """The candidate closes their current block early (its unused time is given up)."""
        dup = self._wait_inflight(cand, seq)
        if dup is not None:
            return Outcome(dup)
        now = self.now()
        cand.check_working(None, now)
        moved = self._refuse_if_expired(cand, now)
        now = self.now()
        with cand.lock:
            return self._commit(cand, cand.next_block(now, seq=seq, block=block, moved=moved))

    def get_item(self, cand: CandidateState, position: int) -> Outcome:
        now = self.now()
        cand.check_working(position, now)
        moved = self._refuse_if_expired(cand, now, position)
        session = self.session(cand.session_id)
        stem_html, option_html = self.unlock(session).rendered(cand.form.item_ids[position])
        out = self._commit(cand, cand.shown(self.now(), position, moved))
        out.reply["stem_html"] = stem_html
        out.reply["options"] = [{"label": LABELS[shown], "html": option_html[authored]}
                                for shown, authored in enumerate(cand.form.option_order(position))]
        supports = session.exam.supports_for(cand.accommodations.get("accommodation"))
        if supports:  # catalog texts for the candidate's accommodation (docs/protocol.md)
            out.reply["access"] = terminal_access(
                self.unlock(session).item(cand.form.item_ids[position]),
                cand.form.option_order(position), supports)
        return cand.visit(out, self.now(), position)

    def _wait_inflight(self, cand: CandidateState, seq: int) -> dict[str, Any] | None:
        """The reply to a seq already held or being committed; None for a new seq."""
        cand.check_seq(seq)
        pending = cand.inflight.get(seq)
        if pending is not None:
            pending.wait()
        if seq in cand.seqs:
            return {"seq": seq, "saved": True, "duplicate": True}
        return None

    def answer(self, cand: CandidateState, *, seq: int, position: int,
               choice: int | None) -> Outcome:
        dup = self._wait_inflight(cand, seq)
        if dup is not None:
            return Outcome(dup)
        now = self.now()
        run = cand.check_answer(position, choice, now)
        moved = self._refuse_if_expired(cand, now, position)
        if moved:
            now = self.now()
        done = self._new_event()
        try:
            with cand.lock:
                # Applied in memory first so concurrent answers of one candidate keep seq
                # order; undone (the candidate is reloaded) if anything fails before commit.
                cand.inflight[seq] = done
                out = cand.answer(now, seq=seq, position=position, choice=choice, run=run,
                                  audited=self.chain_answers, emits=moved)
            self._commit(cand, out)
        except Exception:
            self._drop(cand)
            raise
        finally:
            cand.inflight.pop(seq, None)
            done.set()
        return cand.answered(out, now, position, run)

    def flag(self, cand: CandidateState, *, seq: int, position: int, doubtful: bool) -> Outcome:
        dup = self._wait_inflight(cand, seq)
        if dup is not None:
            return Outcome(dup)
        now = self.now()
        cand.check_working(position, now)
        moved = self._refuse_if_expired(cand, now, position)
        if moved:
            now = self.now()
        done = self._new_event()
        try:
            with cand.lock:
                cand.inflight[seq] = done
                out = cand.flag(now, seq=seq, position=position, doubtful=doubtful,
                                audited=self.chain_answers)
            self._commit(cand, out)
        except Exception:
            self._drop(cand)
            raise
        finally:
            cand.inflight.pop(seq, None)
            done.set()
        moved.append(cand.progress(now))
        out.emits = moved
        return out

    def finish(self, cand: CandidateState, *, seq: int) -> Outcome:
        """The candidate's own early finish."""
        held = self._wait_inflight(cand, seq) is not None
        if cand.state == "finished":
            return Outcome({"seq": seq, "saved": True, "result": cand.result,
                            "duplicate": True})
        cand.check_working(None, self.now())
        # A seq already used by an answer still finishes, but records no second event.
        out = self.finish_now(cand, reason="candidate", seq=None if held else seq)
        out.reply.update(seq=seq, saved=True)
        return out

    def finish_now(self, cand: CandidateState, *, reason: str, seq: int | None = None,
                   actor: str = "system", note: str = "") -> Outcome:
        """End a candidate's exam, store the result, and tell everyone who watches."""
        with cand.lock:
            previous_state = cand.state
            out = cand.finish(self.now(), reason=reason, seq=seq, actor=actor, note=note)
        if not out.rows:  # ended already
            return out
        session = self.session(cand.session_id)
        result = out.reply["result"]

        def work(db):
            # The first row ends the exam only if nobody did (another process, a proctor).
            (ended_row, *rows), now = out.rows, out.at_ms
            if db.execute(*ended_row).rowcount == 0:
                return False
            for statement, params in rows:
                db.execute(statement, params)
            for actor_, action, detail in out.audit:
                audit.append(db, at_ms=now, actor=actor_, action=action,
                             session_id=cand.session_id, candidate_id=cand.id, detail=detail)
            if self.signing_key is not None:
                # Signed at the finish entry: the receipt commits to the chain up to here,
                # and is itself the chain's next entry. The terminal gets only its code.
                receipt = self._receipt(cand, session, result, now, *audit.head(
                    db, cand.session_id))
                audit.append(db, at_ms=now, actor="system", action="receipt",
                             session_id=cand.session_id, candidate_id=cand.id, detail=receipt)
                result["receipt"] = {"code": receipt["code"]}
                db.execute(SET_RESULT, {"cid": cand.id, "res": result})
            return True

        try:
            ended = self._write(cand.session_id, work)
        except Exception:
            cand.state = previous_state
            self._drop(cand)
            raise
        if not ended:
            # Another process ended this exam: what the database holds is the result.
            self.forget(cand.id)
            stored = self.candidate(cand.id)
            return Outcome({"seq": seq, "result": stored.result, "duplicate": True})
        return out

    def _receipt(self, cand: CandidateState, session: SessionState, result: dict, now: int,
                 seq: int, chain_hash: str) -> dict:
        """docs/integrity.md's receipt: final answers, scores and the chain, signed."""
        from item_bank.keys import fingerprint
        from scoring.integrity import receipts

        form = cand.form
        answers = [(form.item_ids[p], None if shown is None else form.option_order(p)[shown])
                   for p, shown in enumerate(cand.answers)]
        body = receipts.payload(
            site=fingerprint(self.signing_key), session=session.name,
            registration=cand.registration, formation=cand.formation,
            answers=receipts.answers_digest(answers),
            scores={s["name"]: s["score"] for s in result["sections"]},
            total=result["total"], passed=result["passed"], rule_set=result["rule_set"],
            chain=cand.session_id, chain_seq=seq, chain_hash=chain_hash, finished_ms=now)
        return receipts.issue(self.signing_key, body)

    # -- proctor actions -------------------------------------------------------------------

    def admit(self, cand: CandidateState, *, actor: str, reason: str = "") -> Outcome:
        return self._commit(cand, cand.admit(self.now(), actor=actor, reason=reason))

    def pause(self, cand: CandidateState, *, actor: str, reason: str,
              scope: str = "proctor") -> Outcome:
        return self._commit(cand, cand.pause(self.now(), actor=actor, reason=reason,
                                             scope=scope))

    def resume(self, cand: CandidateState, *, actor: str, reason: str = "") -> Outcome:
        return self._commit(cand, cand.resume(self.now(), actor=actor, reason=reason))

    def extend(self, cand: CandidateState, *, minutes: float, actor: str, reason: str) -> Outcome:
        return self._commit(cand, cand.extend(self.now(), minutes=minutes, actor=actor,
                                              reason=reason))

    def release(self, cand: CandidateState, *, actor: str, reason: str) -> Outcome:
        """Free the candidate from their terminal so they can log in on a spare PC."""
        old_sid = cand.sid
        out = self._commit(cand, cand.release(self.now(), actor=actor, reason=reason))
        if old_sid is not None:
            self.connections.detach(old_sid)
        self.guard.unlock(cand.registration)  # a release also ends a wrong-PIN lockout
        return out

    def unlock_login(self, cand: CandidateState, *, actor: str, reason: str) -> Outcome:
        """End a wrong-PIN lockout without touching the candidate's terminal (a candidate
        still working there keeps working)."""
        was_locked = self.guard.locked_until(cand.registration) is not None
        self.guard.unlock(cand.registration)
        return self._commit(cand, Outcome({"locked": False}, at_ms=self.now(), audit=[Entry(
            actor, "login_unlocked", {"reason": reason, "was_locked": was_locked})]))

    def disqualify(self, cand: CandidateState, *, actor: str, reason: str) -> Outcome:
        return self._commit(cand, cand.disqualify(self.now(), actor=actor, reason=reason))

    def disconnect(self, cand: CandidateState) -> Outcome:
        return cand.disconnect(self.now())

    # -- time: deadlines, heartbeat, outages -----------------------------------------------

    def due(self, now: int | None = None) -> list[int]:
        """Candidates in progress whose deadline has passed, of the sessions served here (from
        the database: covers the candidates whose terminal never reconnected)."""
        now = self.now() if now is None else now
        held = list(self.ownership.held)
        if not held:
            return []
        # Prepared, one read per session served: the scheduler asks twice a second.
        return [row[0] for session_id in held
                for row in self.store.query(_DUE, {"sid": session_id, "now": now})]

    # -- helpers -------------------------------------------------------------------------

    def _audit_async(self, session_id: int, candidate_id: int | None, action: str,
                     detail: dict) -> None:
        now = self.now()

        def work(db):
            audit.append(db, at_ms=now, actor="system", action=action,
                         session_id=session_id, candidate_id=candidate_id, detail=detail)
        self._write(session_id, work, owned=False)
