"""Schemas of the messages terminals send (docs/protocol.md), and the error texts they get.

Every model is strict: unknown keys, wrong types (``"3"`` or ``true`` for a number) and
out-of-range values are refused before a service sees the message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask import has_app_context
from flask_babel import LazyString, force_locale
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

MAX_SEQ = 2**31 - 1
#: No form is longer; a bigger number is refused before any lookup.
MAX_POSITION = 10_000


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Seq = Annotated[StrictInt, Field(ge=1, le=MAX_SEQ)]
Position = Annotated[StrictInt, Field(ge=0, le=MAX_POSITION)]


class Login(Message):
    registration: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    pin: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    token: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    terminal: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    lang: Literal["id", "en"] = "id"
    #: The PC's enrolment secret, when it has one (services/devices.py).
    device: Annotated[StrictStr, Field(min_length=20, max_length=100)] | None = None


class Pair(Message):
    lang: Literal["id", "en"] = "id"


class Start(Message):
    pass


class GetItem(Message):
    position: Position


class Answer(Message):
    seq: Seq
    position: Position
    choice: Annotated[StrictInt, Field(ge=0, le=7)] | None


class Flag(Message):
    seq: Seq
    position: Position
    doubtful: StrictBool


class Finish(Message):
    seq: Seq


class NextBlock(Message):
    seq: Seq
    #: The block being closed: a click that arrives after time moved the candidate on must
    #: not close the next block too.
    block: Annotated[StrictInt, Field(ge=0, le=50)]


EVENTS: dict[str, type[Message]] = {
    "login": Login, "pair": Pair, "start": Start, "get_item": GetItem, "answer": Answer,
    "flag": Flag, "finish": Finish, "next_block": NextBlock,
}


def describe(exc: ValidationError) -> str:
    """The first schema problem, naming the field: ``position: must be >= 0``."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "message"
    return f"{where}: {err.get('msg', 'invalid')}"


#: code -> the text a candidate reads (English msgid; the Indonesian is in the Flask-Babel
#: catalogue, proctor_ui/translations). Candidates read these, so they say what to do.
ERRORS: dict[str, LazyString] = {
    "bad_request": _l("Invalid message"),
    "unknown_event": _l("Unknown request"),
    "rate_limited": _l("Too many requests; wait a moment"),
    "bad_credentials": _l("Registration number, PIN or session token is wrong"),
    "locked": _l("Too many wrong PINs for this registration number; call the proctor"),
    "session_not_open": _l("The exam session is not open"),
    "session_locked": _l("The session is not ready; call the proctor"),
    "already_active": _l("You are logged in on another terminal; ask the proctor to release it"),
    "not_logged_in": _l("Please log in first"),
    "not_admitted": _l("Waiting for the proctor's admission"),
    "not_started": _l("The exam has not started"),
    "bad_position": _l("No such item number"),
    "bad_choice": _l("No such option"),
    "paused": _l("The exam is paused by the proctor"),
    "time_up": _l("Time is up"),
    "outside_block": _l("This item is in a part that is closed or not open yet"),
    "last_block": _l("This is the last part; use Finish to end the exam"),
    "finished": _l("Your exam is finished"),
    "disqualified": _l("You were disqualified; call the proctor"),
    "replaced": _l("This page was replaced by another window on this computer"),
    "overloaded": _l("The server is busy; try again in a moment"),
    "device_not_enrolled": _l("This computer is not enrolled for this room; show the code on "
                              "the screen to the proctor"),
    "address_not_allowed": _l("This computer is not on the room's network; call the proctor"),
    "internal": _l("The server failed; your answers are safe. Try again"),
    "elsewhere": _l("Connecting to the server of your session; your answers are safe"),
}

LANGUAGES = ("id", "en")
_texts: dict[tuple[str, str], str] = {}


def text(code: str, lang: str = "id") -> str:
    """The message of ``code`` in ``lang`` (``id`` unless ``en``), from the catalogue.

    Rendered in the terminal's language whatever the request's, and kept: the catalogue does
    not change while the server runs, and a flood of ``rate_limited`` should cost nothing.
    Needs an app context with Flask-Babel (the server's; outside one, the English msgid).
    """
    lang = lang if lang in LANGUAGES else "id"
    code = code if code in ERRORS else "internal"
    key = (code, lang)
    cached = _texts.get(key)
    if cached is None:
        with force_locale(lang):
            cached = str(ERRORS[code])
        if has_app_context():
            _texts[key] = cached
    return cached


def error(code: str, lang: str = "id", detail: str = "") -> dict:
    """The error part of a reply, in the terminal's language; ``code`` stays as given."""
    message = text(code, lang)
    if detail and code == "bad_request":
        # The field's name (a protocol word) only: the schema's own words are English.
        message = f"{message}: {detail.split(':', 1)[0]}"
    return {"code": code, "message": message}
