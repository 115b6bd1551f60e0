"""The terminal page without a browser: language, headers, the catalogue, offline assets.

These run in milliseconds against a bare Flask app holding only the terminal blueprint, so a
missing translation or a CDN link fails CI even where chromium is not installed.
"""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from cat_engine.web import LANGUAGE_COOKIE, TRANSLATIONS_DIR
from cat_engine.web.terminal import bp, client_strings
from proctor_ui import STATIC_DIR, TEMPLATES_DIR

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__)
    app.config["TESTING"] = True
    app.register_blueprint(bp)
    return app


@pytest.fixture()
def client(app: Flask):
    return app.test_client()


def catalogue(lang: str):
    with open(TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


class _Text(HTMLParser):
    """Visible text nodes and the human-readable attributes of a page."""

    READABLE_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in self.READABLE_ATTRIBUTES and value:
                self.texts.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def page_texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.texts


# ---------------------------------------------------------------- language


def test_page_speaks_indonesian_even_to_an_english_browser(client):
    html = client.get("/terminal/", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert '<html lang="id">' in html
    assert "Masuk peserta" in html
    assert "Candidate login" not in html


def test_language_switch_remembers_english(client):
    response = client.get("/terminal/lang/en")
    assert response.status_code == 302
    assert response.headers["Location"] == "/terminal/"
    assert client.get_cookie(LANGUAGE_COOKIE).value == "en"
    html = client.get("/terminal/").text
    assert '<html lang="en">' in html
    assert "Candidate login" in html
    back = client.get("/terminal/lang/id", follow_redirects=True).text
    assert "Masuk peserta" in back


def test_unknown_language_is_refused_and_changes_nothing(client):
    response = client.get("/terminal/lang/fr")
    assert response.status_code == 404
    assert "fr" in response.text
    assert client.get_cookie(LANGUAGE_COOKIE) is None


@given(st.text(max_size=40))
def test_language_switch_never_redirects_off_site(app, target):
    with app.test_client() as client:
        response = client.get("/terminal/lang/en", query_string={"next": target})
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "https://evil.example/", "/\t/evil.example",
               "javascript:alert(1)", "terminal/"],
)
def test_language_switch_refuses_known_open_redirects(client, target):
    response = client.get("/terminal/lang/en", query_string={"next": target})
    assert response.headers["Location"] == "/terminal/"


def test_language_switch_returns_to_a_page_of_this_site(client):
    response = client.get("/terminal/lang/en", query_string={"next": "/terminal/?from=exam"})
    assert response.headers["Location"] == "/terminal/?from=exam"


def test_every_visible_string_of_the_page_is_translated(client):
    """Indonesian page: every text node and label is an Indonesian catalogue entry (or data)."""
    translated = {m.string for m in catalogue("id") if m.id}
    # Names, symbols and samples that are the same in every language.
    universal = {"CAT", "A\u2212", "A+", "Bahasa Indonesia", "English", "--:--", "?", "B",
                 "\u2190", "\u2192"}
    html = client.get("/terminal/").text
    strange = [t for t in page_texts(html) if t not in translated and t not in universal]
    assert strange == []


def test_script_strings_come_translated_from_the_catalogue(app):
    english = {}
    with app.test_request_context("/terminal/?lang=en"):
        english = client_strings()
    with app.test_request_context("/terminal/"):
        indonesian = client_strings()
    assert english.keys() == indonesian.keys()
    same_everywhere = {k for k, v in english.items() if v in ("Status", "Total", "PIN")}
    untranslated = [k for k in english if k not in same_everywhere and english[k] == indonesian[k]]
    assert untranslated == []


# ---------------------------------------------------------------- the catalogue


def test_catalogue_template_lists_every_string_of_the_code():
    """messages.pot is up to date: re-extraction finds no string it lacks."""
    # The same sources and keywords as babel.cfg and the update command in the README.
    sources = {"cat_engine": [("**.py", "python")],
               "proctor_ui": [("templates/**.html", "jinja2")]}
    keywords = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}
    extracted = set()
    for directory, method_map in sources.items():
        for _file, _line, message, *_rest in extract_from_dir(
            REPO / directory, method_map=method_map, keywords=keywords
        ):
            extracted.add(message if isinstance(message, str) else message[0])
    assert "Candidate login" in extracted  # the extraction itself works
    with open(TRANSLATIONS_DIR / "messages.pot", "rb") as f:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    missing = sorted(extracted - known)
    assert missing == [], "run the catalogue update in proctor_ui/translations/README.md"


@pytest.mark.parametrize("lang", ["id", "en"])
def test_catalogues_follow_the_template(lang):
    with open(TRANSLATIONS_DIR / "messages.pot", "rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert {m.id for m in catalogue(lang) if m.id} == template


def test_indonesian_catalogue_is_complete_and_keeps_placeholders():
    problems = []
    for message in catalogue("id"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        want = set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            if set(PLACEHOLDER.findall(text)) != want:
                problems.append(f"placeholders differ: {ids[0]!r} -> {text!r}")
    assert problems == []


@pytest.mark.parametrize("lang", ["id", "en"])
def test_compiled_catalogue_matches_its_source(lang):
    """The committed .mo is compiled from the committed .po (what users see is what we review)."""
    base = TRANSLATIONS_DIR / lang / "LC_MESSAGES"
    with open(base / "messages.mo", "rb") as f:
        compiled = _translations(read_mo(BytesIO(f.read())))
    assert compiled == _translations(m for m in catalogue(lang) if not m.fuzzy)


def _translations(messages) -> dict:
    """msgid -> msgstr of the entries that say something other than the msgid (the compiler
    fills an untranslated plural with its msgid: that is no translation)."""
    return {_plain(m.id): _plain(m.string) for m in messages
            if m.id and all(_plain(m.string)) and _plain(m.string) != _plain(m.id)}


def _plain(string):
    """A plural's forms as a tuple (read_mo gives a list, read_po a tuple)."""
    return tuple(string) if isinstance(string, list | tuple) else (string,)


# ---------------------------------------------------------------- what the browser receives


def test_page_headers_keep_the_exam_private(client):
    response = client.get("/terminal/")
    assert response.headers["Cache-Control"] == "no-store"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_everything_the_page_loads_is_served_here(client):
    """Test rooms are offline: no CDN, no absolute URL, and every asset answers 200."""
    html = client.get("/terminal/").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs, "the page loads its script and style"
    for ref in refs:
        assert not urlsplit(ref).netloc, ref
        if ref.startswith("/terminal/static/"):
            assert client.get(ref).status_code == 200, ref
    ours = [TEMPLATES_DIR / "base.html", *(TEMPLATES_DIR / "terminal").rglob("*.html"),
            *(STATIC_DIR / "terminal").rglob("*")]
    for path in ours:
        assert "http://" not in path.read_text() and "https://" not in path.read_text(), path


def test_vendored_socketio_client_is_the_documented_4x_build():
    bundle = STATIC_DIR / "vendor" / "socket.io.min.js"
    head = bundle.read_text()[:200]
    assert re.search(r"Socket\.IO v4\.\d+\.\d+", head)
    readme = (STATIC_DIR / "vendor" / "README.md").read_text()
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() in readme
    assert "MIT" in (STATIC_DIR / "vendor" / "socket.io-client.LICENSE.txt").read_text()
