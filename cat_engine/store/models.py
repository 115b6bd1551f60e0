"""The database tables of a test site (SQLAlchemy 2 declarative models).

Item text never enters the database: a bank is stored as its path and manifest, a form as item
ids and option orders. Times are UTC epoch milliseconds (integers): exact, comparable and the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cat_engine import site_secret

SESSION_STATES = ("scheduled", "open", "closed")
CANDIDATE_STATES = ("registered", "admitted", "in_progress", "finished", "disqualified")
USER_ROLES = ("admin", "proctor")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict] = {dict[str, Any]: JSON, list[Any]: JSON}


class Exam(Base):
    __tablename__ = "exams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: A preset name ("skd") or the TOML text of the exam definition.
    source: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    bank_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(128))
    #: The public manifest (counts, holders, signature status): never item text or keys.
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_ms: Mapped[int] = mapped_column(BigInteger)


class ExamSession(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    date: Mapped[str] = mapped_column(String(10))
    time: Mapped[str] = mapped_column(String(5))
    room: Mapped[str] = mapped_column(String(64))
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    #: Seed of every candidate's randomized form in this session.
    seed: Mapped[str] = mapped_column(String(64))
    #: What the room's screen shows and candidates type at login, never kept in clear
    #: (issue 11b): its keyed digest for the login lookup, and sealed for the console to show.
    token_digest: Mapped[str] = mapped_column(String(64), index=True)
    token_sealed: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    #: auto_admit (bool), public_names (bool), live_scores (bool)...
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    opened_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    @property
    def token(self) -> str:
        return site_secret.open_token(self.token_sealed)

    def set_token(self, token: str) -> None:
        self.token_digest = site_secret.token_digest(token)
        self.token_sealed = site_secret.seal_token(token)


class Candidate(Base):
    """One row of a session's roster, with where the candidate stands."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("session_id", "registration"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    registration: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[str] = mapped_column(String(10))
    formation: Mapped[str] = mapped_column(String(64), default="general")
    #: {"extra_time_pct": 30} and similar; see services.clock.allowed_ms.
    accommodations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    photo: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Seat number in the session (the roster's ``seat`` column, or roster order): neighbours'
    #: forms are drawn from disjoint item blocks (scoring.forms). None: rows older than seats.
    seat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: argon2id of the PIN (services/passwords.py); rows from before issue 11 hold
    #: "salt$hex(sha256(salt:pin))", still accepted.
    pin_hash: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="registered")
    #: The terminal id the candidate is bound to (None: free to log in anywhere).
    terminal: Mapped[str | None] = mapped_column(String(64), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: Latest section scores {name: score}, updated with every saved answer.
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: Adaptive sections: {section: {items, responses, theta, se, ...}}, committed together
    #: with each answer event (scoring/adaptive_section.py).
    adaptive: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Form(Base):
    """A candidate's randomized form: item ids and shown option orders, never item text."""

    __tablename__ = "forms"

    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), primary_key=True)
    #: [[item_id, section, [authored labels in shown order]], ...]
    items: Mapped[list[Any]] = mapped_column(JSON)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class AnswerEvent(Base):
    """Every answer, clear, flag and finish a terminal sent, as committed."""

    __tablename__ = "answer_events"
    __table_args__ = (UniqueConstraint("candidate_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))  # answer | flag | finish
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Shown option index (answer), 0/1 (flag), None (clear or finish).
    value: Mapped[int | None] = mapped_column(Integer, nullable=True)
    server_ms: Mapped[int] = mapped_column(BigInteger)


class Clock(Base):
    """A candidate's clock. deadline = started + allowed + extension + paused + outage."""

    __tablename__ = "clocks"

    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), primary_key=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    allowed_ms: Mapped[int] = mapped_column(BigInteger)
    extension_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Total of closed pause intervals; the open one starts at paused_since_ms.
    paused_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    paused_since_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Server outages added by the restart policy.
    outage_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    #: [[start_ms, end_ms], ...] of every pause, for the audit and the proctor.
    pauses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The current time block (docs/operations.md), and its start and end in worked time
    #: (elapsed minus pauses, outages and extensions). No end: the block ends at allowed_ms.
    block: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    block_start_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    block_end_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Heartbeat(Base):
    """One row the running server touches every second; its age after a crash is the outage."""

    __tablename__ = "heartbeat"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beat_ms: Mapped[int] = mapped_column(BigInteger)
    boot_ms: Mapped[int] = mapped_column(BigInteger)


class SessionLease(Base):
    """Which server process owns an exam session (docs/deploy.md, "Ownership").

    The owner renews ``expires_ms`` every second; another process may take the session only
    once it has expired, and taking it increments ``fence``. Every write of the session's
    candidates conditionally touches this row with the fence its writer holds, in the same
    transaction, so a deposed owner's late write finds no row and is refused by the database.
    """

    __tablename__ = "session_leases"

    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    #: "host:pid:nonce" of the process that holds it; None once released.
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    fence: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    #: The last time the owner served the session (renewal or release): an outage starts here.
    renewed_ms: Mapped[int] = mapped_column(BigInteger)
    #: Set by a process that receives this session's terminals while another owns it: the
    #: owner hands the session over once none of its terminals is connected to it.
    wanted_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Outage(Base):
    __tablename__ = "outages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The session whose candidates were credited (None: rows from before session leases).
    session_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_beat_ms: Mapped[int] = mapped_column(BigInteger)
    restart_ms: Mapped[int] = mapped_column(BigInteger)
    candidates: Mapped[int] = mapped_column(Integer)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))  # argon2id
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    #: Raised by a log-out or a disable: every cookie signed with an older epoch is void.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ProctorAssignment(Base):
    __tablename__ = "proctor_assignments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), primary_key=True)


class AuditEntry(Base):
    """Append-only, one hash chain per session (scoring.integrity.chain: ``hash`` covers every
    column but ``id``, and ``prev_hash``)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_session", "session_id"),
                      UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The session's id; 0 for the site's own entries (users, outages).
    chain: Mapped[int] = mapped_column(Integer)
    #: 1, 2, ... within the chain.
    seq: Mapped[int] = mapped_column(BigInteger)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    candidate_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """A chain's head as the site's Ed25519 key signed it (scoring.integrity.heads)."""

    __tablename__ = "audit_heads"
    __table_args__ = (Index("ix_audit_heads_chain", "chain", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signed_ms: Mapped[int] = mapped_column(BigInteger)
    #: "interval" or "close"
    reason: Mapped[str] = mapped_column(String(16))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    #: base64url Ed25519 signature of scoring.integrity.heads.statement(...)
    signature: Mapped[str] = mapped_column(String(128))


class LoginLimit(Base):
    """Failures counted against one key (a registration number, a terminal, an address, an
    account): blocked while ``until_ms`` is in the future. Rows are deleted only once they
    have expired, so a flood can never make the site forget a live lockout."""

    __tablename__ = "login_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    hold_ms: Mapped[int] = mapped_column(BigInteger)
    until_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


DEVICE_KINDS = ("display", "terminal")
DEVICE_STATES = ("pending", "enrolled", "revoked")


class Device(Base):
    """A public display or a candidate terminal enrolled by a proctor or an admin.

    The device holds a random secret (only its SHA-256 is stored); while ``pending`` it shows
    ``pairing_code`` on its screen until someone confirms it in the console, for one room
    (``room``) or the whole site (``room`` None).
    """

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    pairing_code: Mapped[str | None] = mapped_column(String(16), nullable=True, unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    room: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    enrolled_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    enrolled_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
