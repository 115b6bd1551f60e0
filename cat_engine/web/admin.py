"""Admin pages: exams, banks (upload, inspect, verify), sessions, rosters and proctors.

Every page calls the same set-up services as the CLI (:mod:`cat_engine.services.sessions`),
so a roster imported here is checked exactly as ``cat-engine session import-roster`` checks
it: all or nothing, with every bad row reported. Only the ``admin`` role gets in.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from cat_engine.auth import init_auth, login_required
from cat_engine.services import proctoring, sessions, users
from cat_engine.services.errors import ServiceError
from cat_engine.services.proctoring import Viewer
from cat_engine.web import init_i18n
from cat_engine.web.security import content_security_policy, secure_headers
from proctor_ui import TEMPLATES_DIR

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder=str(TEMPLATES_DIR))

#: The largest bank or roster accepted through the browser.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
BANK_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@bp.record_once
def _setup(state) -> None:
    init_i18n(state.app)
    init_auth(state.app)
    state.app.config.setdefault("MAX_CONTENT_LENGTH", MAX_UPLOAD_BYTES)


@bp.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response, content_security_policy())


def store():
    return current_app.extensions["cat_engine"].store


def data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"])


def _page(viewer: Viewer, *, problems=None, notice=None, pins=None, status=200):
    st = store()
    return render_template(
        "proctor/admin.html", viewer=viewer, exams=proctoring.list_exams(st),
        banks=proctoring.list_banks(st), sessions=proctoring.session_rows(
            st, proctoring.visible_sessions(st, viewer)),
        users=users.list_users(st), presets=_presets(), problems=problems or [],
        notice=notice, pins=pins), status


def _presets() -> tuple[str, ...]:
    from scoring.exam import PRESETS

    return PRESETS


def _problems(exc: sessions.SetupError) -> list[str]:
    return [str(p).lstrip(": ") for p in exc.problems]


@bp.get("/")
@login_required("admin")
def index(viewer: Viewer):
    return _page(viewer)


@bp.post("/exams")
@login_required("admin")
def add_exam(viewer: Viewer):
    """Register a preset, or an exam TOML file."""
    upload = request.files.get("toml")
    preset = request.form.get("preset", "")
    try:
        if upload is not None and upload.filename:
            with tempfile.NamedTemporaryFile("wb", suffix=".toml", dir=data_dir(),
                                             delete=False) as handle:
                upload.save(handle)
            try:
                row = sessions.register_exam(store(), handle.name)
            finally:
                os.unlink(handle.name)
        elif preset in _presets():
            row = sessions.register_exam(store(), preset)
        else:
            return _page(viewer, problems=[_("Choose a preset or an exam file.")], status=400)
    except sessions.SetupError as exc:
        return _page(viewer, problems=_problems(exc), status=400)
    return _page(viewer, notice=_("Exam %(name)s is registered.", name=row.name))


@bp.post("/banks")
@login_required("admin")
def add_bank(viewer: Viewer):
    """Store an uploaded .catbank in the data directory and register its manifest (no key
    is needed, and none is asked for: banks are unlocked when a session opens)."""
    upload = request.files.get("bank")
    if upload is None or not upload.filename:
        return _page(viewer, problems=[_("Choose a .catbank file.")], status=400)
    folder = data_dir() / "banks"
    folder.mkdir(parents=True, exist_ok=True)
    stem = BANK_NAME_RE.sub("_", Path(upload.filename).stem)[:60] or "bank"
    target = folder / f"{stem}-{secrets.token_hex(4)}.catbank"
    upload.save(target)
    try:
        row = sessions.register_bank(store(), target)
    except sessions.SetupError as exc:
        target.unlink(missing_ok=True)  # a file that is not a bank is not kept
        return _page(viewer, problems=[f"{upload.filename}: {p}" for p in _problems(exc)],
                     status=400)
    return redirect(url_for("admin.bank", bank_row_id=row.id))


@bp.get("/banks/<int:bank_row_id>")
@login_required("admin")
def bank(viewer: Viewer, bank_row_id: int):
    try:
        row = proctoring.bank(store(), bank_row_id)
    except ServiceError:
        abort(404)
    return render_template("proctor/bank.html", viewer=viewer, bank=row,
                           verdict=request.args.get("verdict"))


@bp.post("/banks/<int:bank_row_id>/verify")
@login_required("admin")
def verify_bank(viewer: Viewer, bank_row_id: int):
    """Check the file's content hash against its manifest (no key needed)."""
    from item_bank.catbank import read_manifest, verify_content
    from item_bank.errors import BankError

    try:
        row = proctoring.bank(store(), bank_row_id)
    except ServiceError:
        abort(404)
    try:
        manifest = read_manifest(row["path"])
        verify_content(row["path"], manifest)
        ok = manifest.content_sha256 == row["content_hash"]
        verdict = "ok" if ok else "changed"
    except (BankError, OSError):
        verdict = "bad"
    return redirect(url_for("admin.bank", bank_row_id=bank_row_id, verdict=verdict))


@bp.post("/sessions")
@login_required("admin")
def add_session(viewer: Viewer):
    form = request.form
    try:
        exam_row = next(e for e in proctoring.list_exams(store())
                        if str(e["id"]) == form.get("exam", ""))
        bank_row = proctoring.bank(store(), int(form.get("bank", "0") or 0))
    except (StopIteration, ValueError, ServiceError):
        return _page(viewer, problems=[_("Choose a registered exam and bank.")], status=400)
    source = _exam_source(exam_row["id"])
    try:
        row = sessions.create_session(
            store(), name=form.get("name", "").strip(), exam_source=source,
            bank_path=Path(bank_row["path"]), date=form.get("date") or None,
            time=form.get("time") or "08:00", room=form.get("room", "").strip() or "R1",
            auto_admit=form.get("auto_admit") == "on",
            settings={"public_names": form.get("public_names") == "on",
                      "scoreboard": "finish" if form.get("scoreboard") == "finish"
                      else "live"},
            actor=viewer.actor)
    except sessions.SetupError as exc:
        return _page(viewer, problems=_problems(exc), status=400)
    finally:
        if source != exam_row["name"]:
            Path(source).unlink(missing_ok=True)
    return redirect(url_for("admin.session", session_id=row.id))


def _exam_source(exam_id: int) -> str:
    """A stored exam as create_session takes it: its preset name, or its TOML in a file."""
    from cat_engine.store.models import Exam
    from scoring.exam import PRESETS, exam_to_toml, load_exam

    with store().read() as db:
        row = db.get(Exam, exam_id)
        name, text = row.name, row.source
    if name in PRESETS and exam_to_toml(load_exam(name)) == text:
        return name
    with tempfile.NamedTemporaryFile("w", suffix=".toml", dir=data_dir(), delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text)
    return handle.name


@bp.get("/sessions/<int:session_id>")
@login_required("admin")
def session(viewer: Viewer, session_id: int):
    return _session_page(viewer, session_id)


def _session_page(viewer: Viewer, session_id: int, *, problems=None, pins=None, status=200):
    try:
        info = proctoring.session_info(store(), session_id)
    except ServiceError:
        abort(404)
    proctors = [u for u in users.list_users(store()) if u["role"] == "proctor"]
    return render_template(
        "proctor/admin_session.html", viewer=viewer, session=info,
        roster=proctoring.roster(store(), session_id), proctors=proctors,
        problems=problems or [], pins=pins), status


@bp.post("/sessions/<int:session_id>/roster")
@login_required("admin")
def import_roster(viewer: Viewer, session_id: int):
    """All or nothing: every bad row is listed and nothing is imported until all are right.
    The generated PINs are shown once, here, to be printed on the candidates' cards."""
    upload = request.files.get("roster")
    if upload is None or not upload.filename:
        return _session_page(viewer, session_id, problems=[_("Choose a roster CSV file.")],
                             status=400)
    info = proctoring.session_info(store(), session_id)
    with tempfile.TemporaryDirectory(dir=data_dir()) as folder:
        path = Path(folder) / (BANK_NAME_RE.sub("_", upload.filename)[:80] or "roster.csv")
        upload.save(path)
        try:
            pins = sessions.import_roster(store(), info["name"], path, actor=viewer.actor)
        except sessions.SetupError as exc:
            problems = [p.replace(str(path), upload.filename) for p in _problems(exc)]
            return _session_page(viewer, session_id, problems=problems, status=400)
    return _session_page(viewer, session_id, pins=pins)


@bp.post("/sessions/<int:session_id>/assign")
@login_required("admin")
def assign(viewer: Viewer, session_id: int):
    try:
        users.assign(store(), request.form.get("username", ""), session_id, actor=viewer.actor)
    except sessions.SetupError as exc:
        return _session_page(viewer, session_id, problems=_problems(exc), status=400)
    return redirect(url_for("admin.session", session_id=session_id))
