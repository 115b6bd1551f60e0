"""The candidate terminal: the one page a candidate uses at a test-room PC.

The page is a thin client of the ``/candidate`` Socket.IO namespace (docs/protocol.md): it
logs in, shows the item the server sends, and keeps every unacknowledged answer in the
browser's localStorage until the server has committed it. Login, confirmation, exam and
result are views of one document, so a single Socket.IO connection carries the whole exam
and a reload lands back where the candidate was.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from cat_engine.web import LANGUAGE_COOKIE, LANGUAGES, init_i18n
from cat_engine.web.security import content_security_policy, safe_next, secure_headers
from proctor_ui import STATIC_DIR, TEMPLATES_DIR

bp = Blueprint(
    "terminal",
    __name__,
    url_prefix="/terminal",
    template_folder=str(TEMPLATES_DIR),
    static_folder=str(STATIC_DIR),
    static_url_path="/static",
)

#: Socket.IO namespace of the candidates (docs/protocol.md).
CANDIDATE_NAMESPACE = "/candidate"
#: One year: the switch is a standing preference of the PC, not of a candidate.
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600

# The page runs only our own script and talks only to its own server; item images arrive
# as data: URIs inside the item HTML, never by URL.
CONTENT_SECURITY_POLICY = content_security_policy()


@bp.record_once
def _setup_language(state) -> None:
    init_i18n(state.app)


def client_strings() -> dict[str, str]:
    """Every sentence the page's script may show, in the request's language.

    Placeholders use Python's ``%(name)s`` form so translators see one convention; the
    script fills them in.
    """
    return {
        "connecting": _("Connecting to the exam server…"),
        "disconnected": _(
            "The connection to the exam server is lost. Your answers stay on this computer "
            "and are sent as soon as the connection returns. Do not close this page."
        ),
        "reconnected": _("The connection is back."),
        "paused": _("The exam is paused by the proctor. The clock is stopped."),
        "released": _(
            "This terminal was released by the proctor. Follow the proctor's instructions "
            "to continue on another computer."
        ),
        "saving": _("Saving…"),
        "saved": _("Saved"),
        "unsaved_count": _("Not saved yet: %(n)s"),
        "item_of": _("Item %(n)s of %(total)s"),
        "loading_item": _("Loading the item…"),
        "item_unavailable": _("This item could not be loaded. It is retried automatically."),
        "listen": _("Read the item aloud"),
        "no_speech": _("This terminal cannot read aloud; please call the proctor."),
        "grid_unanswered": _("Item %(n)s: not answered"),
        "grid_answered": _("Item %(n)s: answered %(label)s"),
        "grid_unanswered_doubtful": _("Item %(n)s: not answered, marked doubtful"),
        "grid_answered_doubtful": _("Item %(n)s: answered %(label)s, marked doubtful"),
        "option_label": _("Option %(label)s"),
        "finish_summary": _(
            "Unanswered items: %(unanswered)s. Items marked doubtful: %(doubtful)s."
        ),
        "finish_complete": _("Every item is answered and none is marked doubtful."),
        "finish_unsaved": _(
            "%(n)s changes are still being saved; the exam is finished once they are saved."
        ),
        "finishing": _("Submitting your answers…"),
        "finished_time": _("Time is up: your answers were submitted automatically."),
        "finished_proctor": _("The proctor ended your exam."),
        "finished_candidate": _("You finished the exam."),
        "passed": _("PASSED"),
        "failed": _("NOT PASSED"),
        "section_passed": _("Passed"),
        "section_failed": _("Not passed"),
        "no_threshold": _("not checked"),
        "rule_set": _("Passing rules: %(name)s"),
        "time_left_5": _("5 minutes left."),
        "time_left_1": _("1 minute left."),
        "time_up": _("Time is up. Waiting for the server…"),
        "clock_paused": _("paused"),
        "rejected": _("The server did not accept this change: %(message)s"),
        "error": _("Something went wrong. Please call the proctor."),
        "disqualified": _("The proctor disqualified you from this exam."),
        "already_active": _(
            "You are already logged in on another terminal. Ask the proctor to release it."
        ),
        "fields_missing": _("Fill in the registration number, the PIN and the session token."),
        "minutes": _("%(n)s minutes"),
        "block_of": _("(part %(n)s of %(total)s)"),
        "block_summary": _(
            "In this part: unanswered items: %(unanswered)s, marked doubtful: %(doubtful)s."
        ),
        "extended": _("The proctor added %(n)s minutes to your time."),
        "block_moved": _(
            "The time for this part is up. Its answers are saved; you are now in the next part."
        ),
        "block_waiting": _("Saving your answers before going on…"),
        "items": _("%(n)s items"),
    }


@bp.get("/")
def page() -> Response:
    """The terminal page: login, confirmation, exam and result views."""
    response = make_response(
        render_template(
            "terminal/page.html",
            strings=client_strings(),
            namespace=CANDIDATE_NAMESPACE,
        )
    )
    # Nothing of an exam may linger in a shared PC's cache or leak through a referrer.
    return secure_headers(response, CONTENT_SECURITY_POLICY)


@bp.get("/lang/<code>")
def switch_language(code: str) -> Response:
    """Remember the chosen language on this PC and go back to the page."""
    if code not in LANGUAGES:
        abort(404, description=_("Unknown language %(code)s; choose one of %(choices)s",
                                  code=code, choices=", ".join(sorted(LANGUAGES))))
    response = redirect(safe_next(request.args.get("next"), url_for("terminal.page")))
    response.set_cookie(
        LANGUAGE_COOKIE, code, max_age=LANGUAGE_COOKIE_MAX_AGE, samesite="Lax", httponly=True
    )
    return response
