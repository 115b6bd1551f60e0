"""The web pages of cat-engine (blueprints) and the language they speak.

Every page speaks Bahasa Indonesia unless the user asks for English with the language
switch. The browser's Accept-Language is ignored on purpose: a test-room PC may well be
set up in English, and the exam must still open in the candidates' language.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

import proctor_ui

#: Languages the catalogue is complete for, with the name each shows in its own language.
LANGUAGES: dict[str, str] = {"id": "Bahasa Indonesia", "en": "English"}
DEFAULT_LANGUAGE = "id"
#: Cookie that remembers the language switch (a preference, not a secret).
LANGUAGE_COOKIE = "cat_lang"
TRANSLATIONS_DIR = Path(proctor_ui.__file__).parent / "translations"


def select_language() -> str:
    """The language of this request: ``?lang=`` first, then the switch's cookie, else Indonesian."""
    for candidate in (request.args.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def current_language() -> str:
    """The language code in use for the current request (``id`` outside a request)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def init_i18n(app: Flask) -> None:
    """Set up Flask-Babel with the shared catalogue; does nothing if Babel is already set up.

    Every blueprint of ours calls this when it is registered, so an app that registers any
    of them speaks the right language without further wiring.
    """
    if "babel" in app.extensions:
        return
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    Babel(app, locale_selector=select_language)

    @app.context_processor
    def _language_context() -> dict[str, object]:
        return {"page_lang": current_language(), "languages": LANGUAGES}

    app.register_error_handler(HTTPException, error_page)


def error_page(exc: HTTPException):
    """An error page in the reader's language (Werkzeug's own pages are English)."""
    titles = {400: _("The request is not valid"), 403: _("You may not open this page"),
              404: _("This page does not exist"), 405: _("This page does not take that"),
              409: _("Not possible now"), 413: _("The upload is too large"),
              429: _("Too many requests; wait a moment")}
    title = titles.get(exc.code or 500, _("The server failed; nothing was changed. Try again"))
    # A description we wrote is translated where it is raised; Werkzeug's defaults are not.
    description = exc.description if exc.description != type(exc).description else ""
    return render_template("error.html", title=title, description=description), exc.code
