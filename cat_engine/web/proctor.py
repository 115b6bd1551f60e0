"""The proctor console: sign-in, the sessions of the day, one session's live page, and the
printable (and CSV) results and incident log (berita acara).

The live page is a thin client of the ``/proctor`` Socket.IO namespace
(:mod:`cat_engine.live.proctor`): every action goes through it, so the rules and the audit
live in one place. The pages here only render what the store says.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from base64 import b64decode
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from cat_engine.auth import init_auth, log_in, log_out, login_required
from cat_engine.services import proctoring
from cat_engine.services.errors import ServiceError
from cat_engine.services.grading import formation_title
from cat_engine.services.proctoring import Viewer
from cat_engine.web import current_language, init_i18n
from cat_engine.web.security import content_security_policy, safe_next, secure_headers
from proctor_ui import STATIC_DIR, TEMPLATES_DIR

bp = Blueprint("proctor", __name__, url_prefix="/proctor", template_folder=str(TEMPLATES_DIR),
               static_folder=str(STATIC_DIR), static_url_path="/static")

CONTENT_SECURITY_POLICY = content_security_policy()


@bp.record_once
def _setup(state) -> None:
    init_i18n(state.app)
    init_auth(state.app)


@bp.after_request
def _headers(response: Response) -> Response:
    # Rosters, tokens and results must not linger in a shared PC's cache.
    return secure_headers(response, CONTENT_SECURITY_POLICY)


def site():
    return current_app.extensions["cat_engine"]


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        outcome = log_in(form.username.data.strip(), form.password.data)
        if isinstance(outcome, Viewer):
            return redirect(safe_next(request.args.get("next"), url_for("proctor.sessions")))
        error = {"locked": _("Too many failed attempts. Wait a minute and try again."),
                 "busy": _("The server is busy. Try again in a moment.")}.get(
                     outcome, _("The username or password is wrong."))
    elif request.method == "POST":
        error = _("Fill in the username and the password.")
    status = 200 if error is None else 400
    return render_template("proctor/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    log_out()
    return redirect(url_for("proctor.login"))


def _check(viewer: Viewer, session_id: int) -> None:
    try:
        proctoring.check_access(site().store, viewer, session_id)
    except ServiceError:
        abort(403)


@bp.get("/")
@login_required()
def sessions(viewer: Viewer):
    """The sessions of the day (or every date with ?date=all) the viewer may see."""
    wanted = request.args.get("date") or dt.date.today().isoformat()
    date = None if wanted == "all" else wanted
    if date is not None:
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            abort(400, description=_("date %(date)s: use YYYY-MM-DD or 'all'", date=date))
    store = site().store
    rows = proctoring.session_rows(store, proctoring.visible_sessions(store, viewer), date=date)
    return render_template("proctor/sessions.html", viewer=viewer, rows=rows, date=wanted)


@bp.get("/session/<int:session_id>")
@login_required()
def console(viewer: Viewer, session_id: int):
    _check(viewer, session_id)
    info = proctoring.session_info(site().store, session_id)
    return render_template("proctor/console.html", viewer=viewer, session=info,
                           strings=client_strings())


@bp.get("/session/<int:session_id>/photo/<int:candidate_id>")
@login_required()
def photo(viewer: Viewer, session_id: int, candidate_id: int):
    _check(viewer, session_id)
    uri = proctoring.photo(site().store, session_id, candidate_id)
    if not uri or not uri.startswith("data:") or ";base64," not in uri:
        abort(404)
    media, _sep, data = uri[5:].partition(";base64,")
    if media not in ("image/jpeg", "image/png", "image/webp"):
        abort(404)
    response = make_response(b64decode(data))
    response.headers["Content-Type"] = media
    return response


def _exam(session_id: int):
    return site().session(session_id).exam


@bp.get("/session/<int:session_id>/results")
@login_required()
def results(viewer: Viewer, session_id: int):
    """The session's results, printable; ``?format=csv`` for a spreadsheet."""
    _check(viewer, session_id)
    store = site().store
    info = proctoring.session_info(store, session_id)
    exam = _exam(session_id)
    rows = proctoring.results(store, session_id, exam)
    sections = list(exam.section_ids)
    lang = current_language()
    if request.args.get("format") == "csv":
        header = ["rank", "registration", "name", "formation", "status", *sections, "total",
                  "passed", "receipt"]
        body = [[r["rank"] if r["rank"] is not None else "", r["registration"], r["name"],
                 r["formation"], "absent" if r["absent"] else r["state"],
                 *[_num(r["sections"][s]) for s in sections], _num(r["total"]),
                 {True: "yes", False: "no"}.get(r["passed"], "" if r["absent"] else NO_RESULT),
                 r["receipt"] or ""]
                for r in rows]
        return _csv(f"results-{info['name']}.csv", header, body)
    if request.args.get("format") == "pdf":
        from cat_engine.web import records

        number = records.Column
        record = _record_header(store, info)
        doc = records.Document(
            title=f"{_('Results')}: {info['name']}", fields=record["fields"], landscape=True,
            columns=[number("#", 0.5, "RIGHT"), number(_("Registration number"), 1.6),
                     number(_("Name"), 2.4), number(_("Formation"), 1.3),
                     number(_("Status"), 1.1),
                     *[number(s, 0.6, "RIGHT") for s in sections],
                     number(_("Total"), 0.7, "RIGHT"), number(_("Result"), 1.3),
                     number(_("Receipt"), 2.0)],
            rows=[[_rank_text(r), r["registration"], r["name"],
                   formation_title(exam, r["formation"], lang), _status_text(r),
                   *[_num(r["sections"][s]) for s in sections], _num(r["total"]),
                   _result_text(r), r["receipt"] or ""] for r in rows],
            empty=_("No candidate in this session."),
            signers=record["signers"])
        return _pdf_response(f"results-{info['name']}.pdf", records.render_pdf(doc))
    for r in rows:
        r["result_text"] = _result_text(r)
        r["status_text"] = _status_text(r)
        r["formation_text"] = formation_title(exam, r["formation"], lang)
    return render_template("proctor/results.html", viewer=viewer, session=info, rows=rows,
                           sections=sections, printed=_now_text())


#: What the results show for a candidate with no verdict yet (still waiting or working).
NO_RESULT = "—"


def _result_text(row: dict[str, Any]) -> str:
    if row["state"] == "disqualified":
        return str(_("Disqualified"))
    if row.get("absent"):
        return str(_("Absent"))
    if row["passed"] is None:
        return NO_RESULT
    return str(_("PASSED") if row["passed"] else _("NOT PASSED"))


@bp.get("/session/<int:session_id>/incidents")
@login_required()
def incidents(viewer: Viewer, session_id: int):
    """The berita acara: incidents and every proctor action, printable or as CSV."""
    _check(viewer, session_id)
    from cat_engine.web import records

    store = site().store
    info = proctoring.session_info(store, session_id)
    log = proctoring.incident_log(store, session_id)
    for number, entry in enumerate(log, start=1):
        entry.update(number=number, when=_time_text(entry["at_ms"]),
                     clock=_time_text(entry["at_ms"])[11:], event=records.event_text(entry),
                     by=records.by_text(entry))
    if request.args.get("format") == "csv":
        header = ["number", "time", "actor", "action", "registration", "name", "event",
                  "reason"]
        body = [[e["number"], e["when"], e["actor"], e["action"], e["registration"],
                 e["name"], e["event"], e["text"]] for e in log]
        return _csv(f"incidents-{info['name']}.csv", header, body)
    record = _record_header(store, info)
    if request.args.get("format") == "pdf":
        doc = records.Document(
            title=_("Record of the exam session (berita acara)"), fields=record["fields"],
            columns=[records.Column(_("No."), 0.45, "RIGHT"), records.Column(_("Time"), 0.85),
                     records.Column(_("Candidate"), 1.9), records.Column(_("Event"), 4.6),
                     records.Column(_("By"), 1.3)],
            rows=[[str(e["number"]), e["clock"], f"{e['registration']}\n{e['name']}".strip(),
                   e["event"], e["by"]] for e in log],
            empty=_("Nothing was recorded for this session."),
            notes=[record["closing"]], signers=record["signers"])
        return _pdf_response(f"incidents-{info['name']}.pdf", records.render_pdf(doc))
    return render_template("proctor/incidents.html", viewer=viewer, session=info, log=log,
                           record=record)


def _record_header(store, info: dict[str, Any]) -> dict[str, Any]:
    """The header fields, closing sentence and signers of a printed record."""
    counts = proctoring.state_counts(store, info["id"])
    names = proctoring.proctors(store, info["id"])
    absent = counts.get("registered", 0) + counts.get("admitted", 0)
    total = sum(counts.values())
    place = current_app.config.get("SITE_NAME") or ""
    fields = [
        # Without a configured name the site is written in by hand.
        (_("Site"), place or "_" * 24), (_("Exam"), info["exam"]), (_("Session"), info["name"]),
        (_("Room"), info["room"]), (_("Date"), info["date"]), (_("Start time"), info["time"]),
        (_("Proctors"), ", ".join(names) or "-"),
        (_("Candidates"), _("%(total)s registered, %(present)s present, %(absent)s absent, "
                            "%(finished)s finished, %(disqualified)s disqualified",
                            total=total, present=total - absent, absent=absent,
                            finished=counts.get("finished", 0),
                            disqualified=counts.get("disqualified", 0))),
        (_("Printed"), _now_text()),
    ]
    closing = _("This record was drawn up truthfully and signed by the proctors. "
                "%(place)s, %(date)s", place=place or "__________", date=info["date"])
    signers = [f"{_('Proctor')} {n}\n{name}" for n, name in enumerate(names, start=1)]
    signers = signers or [f"{_('Proctor')} 1", f"{_('Proctor')} 2"]
    # The site's coordinator signs beside the proctors, as on the paper forms.
    return {"fields": fields, "closing": closing,
            "signers": [*signers[:3], _("Site coordinator")]}


def _rank_text(row: dict[str, Any]) -> str:
    if row["rank"] is None:
        return "-"
    return f"{row['rank']}=" if row["tied"] else str(row["rank"])


def _status_text(row: dict[str, Any]) -> str:
    if row.get("absent"):
        return str(_("Absent"))
    state = row["state"]
    return {"registered": _("Waiting"), "admitted": _("Admitted"), "in_progress": _("Working"),
            "finished": _("Finished"), "disqualified": _("Disqualified")}.get(state, state)


def _pdf_response(filename: str, content: bytes) -> Response:
    response = make_response(content)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _time_text(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _now_text() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def _csv(filename: str, header: list[str], rows: list[list[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    # A cell starting with = + - @ is a formula to a spreadsheet: neutralise it.
    writer.writerows([[_cell(v) for v in row] for row in rows])
    response = make_response("\ufeff" + out.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def client_strings() -> dict[str, str]:
    """Sentences the console's script shows, in the request's language."""
    return {
        "connected": _("Live"),
        "disconnected": _("Connection lost; reconnecting…"),
        "status_registered": _("Waiting"),
        "status_admitted": _("Admitted"),
        "status_in_progress": _("Working"),
        "status_finished": _("Finished"),
        "status_disqualified": _("Disqualified"),
        "online": _("online"),
        "offline": _("offline"),
        "paused": _("paused"),
        "answered": _("%(n)s of %(total)s answered"),
        "doubtful": _("%(n)s doubtful"),
        "item": _("item %(n)s"),
        "time_left": _("Time left"),
        "seat": _("Seat %(n)s"),
        "state_scheduled": _("scheduled"),
        "state_open": _("open"),
        "state_closed": _("closed"),
        "alert_disconnected": _("%(who)s: terminal disconnected"),
        "alert_second_login": _("%(who)s: a second login was refused"),
        "alert_address_changed": _("%(who)s: the terminal changed address"),
        "alert_locked": _("%(who)s: login locked after too many wrong PINs (release to unlock)"),
        "alert_too_fast": _("%(who)s: answering faster than anyone can read"),
        "alert_outside_room": _("%(who)s: a login from a PC or network outside the room was "
                                "refused"),
        "device_display": _("Public screen"),
        "device_terminal": _("Candidate PC"),
        "device_site": _("whole site"),
        "device_revoked": _("revoked"),
        "action_enrol_device": _("Enrol"),
        "action_revoke_device": _("Revoke"),
        "ask_reason": _("Reason for: %(action)s"),
        "ask_minutes": _("Extra minutes"),
        "ask_passphrase": _("Bank passphrase"),
        "done": _("Done: %(action)s"),
        "failed": _("Refused: %(message)s"),
        "no_alerts": _("No alerts"),
        "action_admit": _("Admit"),
        "action_release": _("Release terminal"),
        "action_unlock_login": _("Unlock login"),
        "action_pause": _("Pause"),
        "action_resume": _("Resume"),
        "action_extend": _("Extend time"),
        "action_finish": _("Finish"),
        "action_disqualify": _("Disqualify"),
        "action_pause_room": _("Pause the room"),
        "action_resume_room": _("Resume the room"),
        "action_rotate_token": _("New token"),
        "action_close_session": _("Close the session"),
        "action_freeze": _("Freeze the board"),
        "action_unfreeze": _("Reveal the board"),
        "action_settings": _("Save settings"),
        "action_unlock": _("Unlock and open"),
        "action_incident": _("Record incident"),
        "locked": _("The bank of this session is locked on this server."),
        "cancel": _("Cancel"),
        "confirm": _("Confirm"),
    }
