"""Setting up a test day: exams, banks, sessions, rosters, and opening and closing sessions.

Used by the CLI (``cat-engine session ...``) and later by the admin pages; each function runs
its own transaction and raises :class:`SetupError` with every problem it found.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
from base64 import b64encode
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from cat_engine.clock import now_ms
from cat_engine.services.passwords import hash_pin
from cat_engine.store import Store, audit
from cat_engine.store.models import Bank, Candidate, Exam, ExamSession
from item_bank.errors import Problem

#: No 0/O, 1/I/L: the token is read off the room's screen and typed.
TOKEN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MAX_PHOTO_BYTES = 512 * 1024
MAX_ROSTER_ROWS = 5000
REGISTRATION_RE = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
PIN_RE = re.compile(r"^[0-9A-Za-z]{4,32}$")
ROSTER_COLUMNS = ("registration", "name", "birth_date", "formation", "accommodation",
                  "extra_minutes", "photo", "pin", "seat")
#: Seat numbers a roster may give (the test room's own numbering, unique per session).
MAX_SEAT = 100_000


class SetupError(Exception):
    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("", "", problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(6))


def new_pin() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def register_exam(store: Store, source: str) -> Exam:
    """Store an exam definition (a preset name or a TOML file); reuses one of the same id."""
    from scoring.exam import ExamError, exam_to_toml, load_exam

    try:
        exam = load_exam(source)
    except ExamError as exc:
        raise SetupError(exc.problems) from None
    text = exam_to_toml(exam)
    with store.transaction() as db:
        row = db.scalar(select(Exam).where(Exam.name == exam.id))
        if row is None:
            row = Exam(name=exam.id, source=text, title=exam.title or exam.id,
                       created_ms=now_ms())
            db.add(row)
        elif row.source != text:
            raise SetupError(f"an exam with id {exam.id!r} is already stored with other rules; "
                             "give the new one another id")
        db.flush()
        db.expunge(row)
        return row


def register_bank(store: Store, path: Path) -> Bank:
    """Record a bank file by its path and public manifest (no key needed, no item text)."""
    from item_bank.catbank import read_manifest
    from item_bank.errors import BankError

    path = Path(path).resolve()
    try:
        manifest = read_manifest(path)
    except BankError as exc:
        raise SetupError(f"{path}: {exc}") from None
    except OSError as exc:
        raise SetupError(f"{path}: cannot be read ({exc.strerror})") from None
    data = manifest.summary()  # public: holders' salts and wrapped keys are left out
    with store.transaction() as db:
        row = db.scalar(select(Bank).where(Bank.path == str(path),
                                           Bank.content_hash == manifest.content_sha256))
        if row is None:
            row = Bank(path=str(path), bank_id=str(manifest.bank_id),
                       version=str(manifest.version), content_hash=manifest.content_sha256,
                       manifest=data, registered_ms=now_ms())
            db.add(row)
            db.flush()
        db.expunge(row)
        return row


def create_session(store: Store, *, name: str, exam_source: str, bank_path: Path,
                   date: str | None = None, time: str = "08:00", room: str = "R1",
                   seed: str | None = None, auto_admit: bool = True,
                   settings: dict[str, Any] | None = None, actor: str = "cli") -> ExamSession:
    if not re.fullmatch(r"[A-Za-z0-9._\-]{1,64}", name):
        raise SetupError(f"session name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    date = date or dt.date.today().isoformat()
    try:
        dt.date.fromisoformat(date)
        dt.time.fromisoformat(time)
    except ValueError:
        raise SetupError(f"date {date!r} / time {time!r}: use YYYY-MM-DD and HH:MM") from None
    exam = register_exam(store, exam_source)
    bank = register_bank(store, bank_path)
    now = now_ms()
    with store.transaction() as db:
        if db.scalar(select(ExamSession.id).where(ExamSession.name == name)) is not None:
            raise SetupError(f"a session named {name!r} exists already")
        row = ExamSession(
            name=name, date=date, time=time[:5], room=room, exam_id=exam.id, bank_id=bank.id,
            seed=seed or secrets.token_hex(16), state="scheduled",
            settings={"auto_admit": auto_admit, **(settings or {})}, created_ms=now,
        )
        row.set_token(new_token())
        db.add(row)
        db.flush()
        audit.append(db, at_ms=now, actor=actor, action="session_create", session_id=row.id,
                     detail={"name": name, "exam": exam.name, "bank": bank.bank_id})
        db.expunge(row)
        return row


def find_session(store: Store, name_or_id: str) -> ExamSession:
    with store.read() as db:
        row = db.scalar(select(ExamSession).where(ExamSession.name == name_or_id))
        if row is None and name_or_id.isdigit():
            row = db.get(ExamSession, int(name_or_id))
        if row is None:
            raise SetupError(f"no session {name_or_id!r} (see 'cat-engine session list')")
        db.expunge(row)
        return row


@dataclass
class RosterRow:
    registration: str
    name: str
    birth_date: str
    formation: str
    accommodations: dict[str, Any]
    photo: str | None
    pin: str | None
    #: None: the next seat after those taken, in roster order (add_candidates).
    seat: int | None = None


def parse_roster(text: str, *, source: str, exam, base_dir: Path | None = None
                 ) -> tuple[list[RosterRow], list[Problem]]:
    """Read a roster CSV; every bad row and field is reported, none is skipped silently."""
    problems: list[Problem] = []
    rows: list[RosterRow] = []
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("registration", "name", "birth_date") if c not in header]
    unknown = [c for c in header if c not in ROSTER_COLUMNS]
    if missing:
        problems.append(Problem(source, "header", f"missing column(s): {', '.join(missing)}"))
    if unknown:
        problems.append(Problem(source, "header", f"unknown column(s): {', '.join(unknown)} "
                                f"(known: {', '.join(ROSTER_COLUMNS)})"))
    if problems:
        return rows, problems
    seen: dict[str, int] = {}
    seats: dict[int, int] = {}
    for number, raw in enumerate(reader, start=2):
        where = f"row {number}"
        if number - 1 > MAX_ROSTER_ROWS:
            problems.append(Problem(source, where, f"more than {MAX_ROSTER_ROWS} candidates"))
            break
        if None in raw:
            problems.append(Problem(source, where, "more fields than columns"))
            continue
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        reasons = []
        reg = row.get("registration", "")
        if not REGISTRATION_RE.fullmatch(reg):
            reasons.append(f"registration {reg!r}: 1-64 letters, digits, '.', '_' or '-'")
        elif reg in seen:
            reasons.append(f"registration {reg} repeats row {seen[reg]}")
        else:
            seen[reg] = number
        name = row.get("name", "")
        if not 1 <= len(name) <= 200:
            reasons.append("name: required, at most 200 characters")
        birth = row.get("birth_date", "")
        try:
            dt.date.fromisoformat(birth)
        except ValueError:
            reasons.append(f"birth_date {birth!r}: use YYYY-MM-DD")
        formation = row.get("formation", "") or (exam.default_rule_set or "general")
        if exam.rule_sets and formation not in exam.rule_sets:
            reasons.append(f"formation {formation!r}: the exam knows "
                           f"{', '.join(exam.rule_sets)}")
        acc: dict[str, Any] = {}
        accommodation = row.get("accommodation", "")
        if accommodation:
            if accommodation not in exam.accommodations:
                known = ", ".join(exam.accommodations) or "none"
                reasons.append(f"accommodation {accommodation!r}: the exam knows {known}")
            acc["accommodation"] = accommodation
        extra = row.get("extra_minutes", "")
        if extra:
            try:
                minutes = float(extra)
                if not 0 <= minutes <= 600:
                    raise ValueError
                acc["extra_minutes"] = minutes
            except ValueError:
                reasons.append(f"extra_minutes {extra!r}: a number of minutes, 0 to 600")
        pin = row.get("pin", "") or None
        if pin is not None and not PIN_RE.fullmatch(pin):
            reasons.append("pin: 4-32 letters or digits")
        seat = None
        if row.get("seat"):
            if not row["seat"].isdigit() or not 1 <= int(row["seat"]) <= MAX_SEAT:
                reasons.append(f"seat {row['seat']!r}: a whole number, 1 to {MAX_SEAT}")
            elif int(row["seat"]) in seats:
                reasons.append(f"seat {row['seat']} repeats row {seats[int(row['seat'])]}")
            else:
                seat = int(row["seat"])
                seats[seat] = number
        photo = None
        if row.get("photo"):
            photo, reason = _photo_data_uri(row["photo"], base_dir)
            if reason:
                reasons.append(reason)
        if reasons:
            problems.extend(Problem(source, where, r) for r in reasons)
            continue
        rows.append(RosterRow(reg, name, birth, formation, acc, photo, pin, seat))
    if not rows and not problems:
        problems.append(Problem(source, "", "no candidates in the file"))
    return rows, problems


#: What a roster photo may be: the Pillow format, its media type and file name endings.
PHOTO_FORMATS = {"JPEG": ("image/jpeg", (".jpg", ".jpeg")), "PNG": ("image/png", (".png",)),
                 "WEBP": ("image/webp", (".webp",))}
MAX_PHOTO_PIXELS = 4000 * 4000


def _photo_data_uri(ref: str, base_dir: Path | None) -> tuple[str | None, str | None]:
    """A photo as a data URI. Only a plain file name in the roster's own folder (no path,
    no ``..``, no link out of it), whose content really is a JPEG, PNG or WebP image: a
    roster must not be a way to read other files of the server."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    if base_dir is None or ref != Path(ref).name or ref in (".", "..") or "\\" in ref:
        return None, (f"photo {ref!r}: give only a file name; the photo must be in the "
                      "roster's folder")
    folder = base_dir.resolve()
    path = (folder / ref).resolve()
    if path.parent != folder:
        return None, f"photo {ref!r}: must be a file in the roster's folder"
    if path.suffix.lower() not in {e for _m, ends in PHOTO_FORMATS.values() for e in ends}:
        return None, f"photo {ref!r}: a .jpg, .png or .webp file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"photo {ref!r}: cannot be read ({exc.strerror})"
    if len(data) > MAX_PHOTO_BYTES:
        return None, f"photo {ref!r}: larger than {MAX_PHOTO_BYTES // 1024} KiB"
    try:
        with Image.open(BytesIO(data)) as image:
            kind, size = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError):
        return None, f"photo {ref!r}: not a readable JPEG, PNG or WebP image"
    if kind not in PHOTO_FORMATS or path.suffix.lower() not in PHOTO_FORMATS[kind][1]:
        return None, f"photo {ref!r}: its content is {kind or 'unknown'}, not what its name says"
    if size[0] * size[1] > MAX_PHOTO_PIXELS:
        return None, f"photo {ref!r}: more than {MAX_PHOTO_PIXELS:,} pixels"
    return f"data:{PHOTO_FORMATS[kind][0]};base64,{b64encode(data).decode()}", None


def import_roster(store: Store, session_name: str, path: Path, *, actor: str = "cli"
                  ) -> list[tuple[str, str]]:
    """Add a roster CSV to a session; returns (registration, PIN) of every PIN generated or
    given. Nothing is imported if any row is bad."""
    from scoring.exam import parse_exam

    session = find_session(store, session_name)
    with store.read() as db:
        exam = parse_exam(db.get(Exam, session.exam_id).source)
        existing = set(db.scalars(select(Candidate.registration)
                                  .where(Candidate.session_id == session.id)))
        taken = set(db.scalars(select(Candidate.seat).where(Candidate.session_id == session.id,
                                                            Candidate.seat.is_not(None))))
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    rows, problems = parse_roster(text, source=str(path), exam=exam, base_dir=path.parent)
    problems += [Problem(str(path), "", f"registration {r.registration} is already in session "
                         f"{session.name}") for r in rows if r.registration in existing]
    problems += [Problem(str(path), "", f"seat {r.seat} (registration {r.registration}) is "
                         f"already taken in session {session.name}")
                 for r in rows if r.seat in taken]
    if problems:
        raise SetupError(problems)
    return add_candidates(store, session.id, rows, actor=actor)


def add_candidates(store: Store, session_id: int, rows: Iterable[RosterRow], *,
                   actor: str = "cli") -> list[tuple[str, str]]:
    """Add roster rows to a session. A row without a seat takes the next seat after every
    seat already taken or given, in roster order (so seats follow the roster)."""
    pins = []
    now = now_ms()
    rows = list(rows)
    with store.transaction() as db:
        taken = set(db.scalars(select(Candidate.seat).where(Candidate.session_id == session_id,
                                                            Candidate.seat.is_not(None))))
        given = [r.seat for r in rows if r.seat is not None]
        clash = sorted(taken.intersection(given)) or sorted(
            {seat for seat in given if given.count(seat) > 1})
        if clash:
            raise SetupError(f"seat(s) {', '.join(map(str, clash))} given twice in the session")
        next_seat = max([*taken, *given], default=0) + 1
        for r in rows:
            pin = r.pin or new_pin()
            pins.append((r.registration, pin))
            seat = r.seat
            if seat is None:
                seat, next_seat = next_seat, next_seat + 1
            db.add(Candidate(
                session_id=session_id, registration=r.registration, name=r.name,
                birth_date=r.birth_date, formation=r.formation, accommodations=r.accommodations,
                photo=r.photo, pin_hash=hash_pin(pin),
                state="registered", position=0, scores={}, seat=seat,
            ))
        audit.append(db, at_ms=now, actor=actor, action="roster_import", session_id=session_id,
                     detail={"candidates": len(pins)})
    return pins


def set_state(store: Store, session_name: str, state: str, *, actor: str = "cli",
              signing_key=None) -> ExamSession:
    """Open or close a session. Closing with the site's ``signing_key`` signs the session
    chain's final head (services.anchors)."""
    session = find_session(store, session_name)
    now = now_ms()
    with store.transaction() as db:
        row = db.get(ExamSession, session.id)
        if state == "closed":
            running = db.scalar(select(func.count()).select_from(Candidate).where(
                Candidate.session_id == row.id, Candidate.state == "in_progress"))
            if running:
                raise SetupError(f"session {row.name}: {running} candidate(s) still working; "
                                 "finish them from the proctor console first")
            row.closed_ms = now
        if state == "open":
            row.opened_ms = now
        row.state = state
        audit.append(db, at_ms=now, actor=actor, action=f"session_{state}", session_id=row.id)
        db.flush()
        db.expunge(row)
    if state == "closed" and signing_key is not None:
        from cat_engine.services import anchors

        anchors.sign_heads(store, signing_key, now, reason="close", chains=[row.id])
    return row


def list_sessions(store: Store) -> list[dict[str, Any]]:
    with store.read() as db:
        counts = dict(db.execute(select(Candidate.session_id, func.count())
                                 .group_by(Candidate.session_id)).all())
        return [
            {"id": s.id, "name": s.name, "date": s.date, "time": s.time, "room": s.room,
             "state": s.state, "token": s.token, "candidates": counts.get(s.id, 0)}
            for s in db.scalars(select(ExamSession).order_by(ExamSession.date,
                                                             ExamSession.time))
        ]


def candidate_id(store: Store, session_id: int, registration: str) -> int:
    with store.read() as db:
        found = db.scalar(select(Candidate.id).where(Candidate.session_id == session_id,
                                                     Candidate.registration == registration))
    if found is None:
        raise SetupError(f"no candidate {registration!r} in this session")
    return found


def open_session(store: Store, session_name: str, key=None, *, actor: str = "cli",
                 trusted: list | None = None) -> int:
    """Open a session for logins. With a key: check it unlocks the bank and assemble every
    candidate's form now (so the first minute of the exam does no assembly); returns how many
    forms were made."""
    from cat_engine.store.models import Form
    from scoring.adaptive_section import form_assembler
    from scoring.exam import parse_exam
    from scoring.forms import FormError

    session = find_session(store, session_name)
    made = 0
    if key is not None:
        from item_bank.catbank import UntrustedSigner, open_bank
        from item_bank.errors import BankError

        with store.read() as db:
            bank_row = db.get(Bank, session.bank_id)
            exam = parse_exam(db.get(Exam, session.exam_id).source)
            todo = list(db.execute(select(Candidate.id, Candidate.seat).where(
                Candidate.session_id == session.id,
                Candidate.id.not_in(select(Form.candidate_id)))))
        try:
            bank = open_bank(bank_row.path, passphrase=key.passphrase, site_key=key.site_key,
                             trusted_signers=trusted)
            assembler = form_assembler(exam, bank.index, bank.item)
        except UntrustedSigner as exc:
            from cat_engine.services.trust import HINT

            raise SetupError(f"{exc}; {HINT}") from None
        except BankError as exc:
            raise SetupError(f"bank {bank_row.path}: {exc}") from None
        except FormError as exc:
            raise SetupError(f"the bank cannot supply exam {exam.id}: {exc}") from None
        now = now_ms()
        with store.transaction() as db:
            for cid, seat in todo:
                form = assembler.assemble(exam_seed=session.seed, candidate_id=str(cid),
                                          seat=seat)
                db.add(Form(candidate_id=cid, items=form.as_dict(), created_ms=now))
                made += 1
    set_state(store, session_name, "open", actor=actor)
    return made


def release_terminal(store: Store, session_name: str, registration: str, reason: str, *,
                     actor: str = "cli") -> str | None:
    """Free a candidate from their terminal (a PC failed); returns the terminal released.

    A running server notices at the candidate's next login on another terminal and tells the
    old terminal it was released."""
    if not reason.strip():
        raise SetupError("give the reason of the release (it goes to the audit log)")
    session = find_session(store, session_name)
    cid = candidate_id(store, session.id, registration)
    with store.transaction() as db:
        row = db.get(Candidate, cid)
        previous = row.terminal
        row.terminal = None
        audit.append(db, at_ms=now_ms(), actor=actor, action="release", session_id=session.id,
                     candidate_id=cid, detail={"reason": reason, "terminal": previous})
    return previous
