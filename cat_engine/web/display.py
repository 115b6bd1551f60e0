"""The public scoreboard pages: ``/display/<session>`` for one room and ``/display/`` for
the whole site (rooms side by side, or rotating on a single screen).

The pages carry no scores at all: the ``/display`` Socket.IO namespace sends the board's
snapshot and then its diffs (:mod:`cat_engine.live.display`), so a frozen board cannot leak
through the HTML either. Anyone on the site's network may watch; nobody can act from here.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _

from cat_engine.web import init_i18n
from cat_engine.web.security import content_security_policy, secure_headers
from proctor_ui import STATIC_DIR, TEMPLATES_DIR

bp = Blueprint("display", __name__, url_prefix="/display", template_folder=str(TEMPLATES_DIR),
               static_folder=str(STATIC_DIR), static_url_path="/static")

CONTENT_SECURITY_POLICY = content_security_policy(form_action="'none'")
#: Seconds each room stays on a rotating site-wide screen.
ROTATE_S = 15


@bp.record_once
def _setup(state) -> None:
    init_i18n(state.app)


@bp.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response, CONTENT_SECURITY_POLICY)


def client_strings() -> dict[str, str]:
    return {
        "waiting": _("Waiting"),
        "working": _("Working"),
        "finished": _("Finished"),
        "disqualified": _("Disqualified"),
        "frozen": _("The board is frozen; results are revealed later."),
        "reveal_at_finish": _("Scores appear when a candidate finishes."),
        "live": _("Scores update as each answer is saved."),
        "offline": _("Connection lost; reconnecting…"),
        "no_rooms": _("No session is open now."),
        "candidates": _("%(n)s candidates"),
        "passed": _("passed"),
        "not_passed": _("not passed"),
        "summary": _("%(working)s working · %(finished)s finished · %(passed)s passed"),
        "tied": _("tied"),
        # A session's latest signed audit head: SESSION#SEQ:FINGERPRINT is what
        # `cat-engine audit verify --anchor` takes.
        "anchor": _("Log %(session)s#%(seq)s:%(fp)s signed %(time)s"),
    }


@bp.get("/")
def site_wide():
    layout = request.args.get("layout", "auto")
    if layout not in ("auto", "side", "rotate"):
        abort(400, description=_("layout: one of auto, side, rotate"))
    return render_template("display/board.html", session_name="", layout=layout,
                           rotate_s=ROTATE_S, strings=client_strings())


@bp.get("/<name>")
def board(name: str):
    from cat_engine.services.sessions import SetupError, find_session

    try:
        find_session(current_app.extensions["cat_engine"].store, name)
    except SetupError:
        abort(404, description=_("There is no session %(name)s.", name=name))
    return render_template("display/board.html", session_name=name, layout="single",
                           rotate_s=ROTATE_S, strings=client_strings())
