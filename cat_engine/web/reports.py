"""The item-analysis report of a closed session, for the proctor console to link to:
``GET /reports/session/<id>`` (signed-in users assigned to the session; ``?lang=en``).

The same HTML as ``cat-engine report`` (:mod:`cat_engine.services.reports`). A closed
session's report never changes, so it is made once per language and kept in memory. Drawing
the plots takes seconds of CPU: under gevent it runs on a native thread so that the live
exams of other rooms are not held up meanwhile.
"""

from __future__ import annotations

import threading

from flask import Blueprint, Response, abort, current_app
from flask_babel import gettext as _

from cat_engine.auth import init_auth, login_required
from cat_engine.services import proctoring
from cat_engine.services.errors import ServiceError
from cat_engine.services.proctoring import Viewer
from cat_engine.web import current_language, init_i18n
from cat_engine.web.security import content_security_policy, secure_headers

bp = Blueprint("reports", __name__, url_prefix="/reports")

#: The report is one file: inline styles, plots as data: URIs, no script.
CONTENT_SECURITY_POLICY = content_security_policy(
    default_src="'none'", script_src="'none'", style_src="'unsafe-inline'", img_src="data:",
    connect_src="'none'", form_action="'none'")
#: One report drawn at a time: matplotlib's pyplot is not safe to use from two threads.
_drawing = threading.Lock()


@bp.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response, CONTENT_SECURITY_POLICY, cache="private, no-store")


@bp.record_once
def _setup(state) -> None:
    init_i18n(state.app)
    init_auth(state.app)
    state.app.extensions["cat_engine_reports"] = {}


def _site():
    return current_app.extensions["cat_engine"]


@bp.get("/session/<int:session_id>")
@login_required()
def session_report(viewer: Viewer, session_id: int):
    site = _site()
    try:
        proctoring.check_access(site.store, viewer, session_id)
    except ServiceError:
        abort(403)
    try:
        session = site.session(session_id, refresh=True)
    except ServiceError:
        abort(404)
    lang = current_language()
    if session.state != "closed":
        abort(409, description=_("The report is made once the session is closed."))
    cache = current_app.extensions["cat_engine_reports"]
    html = cache.get((session_id, lang))
    if html is None:
        try:
            bank = site.unlock(session)
        except ServiceError:
            abort(409, description=_(
                "This server does not hold the key of the session's bank; unlock it first."))
        html = _render(site, session_id, bank, lang)
        cache[session_id, lang] = html
    return Response(html, mimetype="text/html")


def _render(site, session_id: int, bank, lang: str) -> str:
    from cat_engine.services.reports import ReportError, session_report

    def draw() -> str | Exception:
        try:
            return session_report(site.store, session_id, bank, lang=lang)
        except ReportError as exc:
            return exc

    # The lock is taken here, by the request (a greenlet under gevent), not in the thread.
    with _drawing:
        if site.async_mode == "gevent":
            import gevent

            result = gevent.get_hub().threadpool.apply(draw)
        else:
            result = draw()
    if isinstance(result, Exception):
        abort(409, description=str(result))
    return result
