"""Schemas of the messages terminals send (docs/protocol.md), and the error texts they get.

Every model is strict: unknown keys, wrong types (``"3"`` or ``true`` for a number) and
out-of-range values are refused before a service sees the message.
"""

from __future__ import annotations

from typing import Annotated, Literal

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


EVENTS: dict[str, type[Message]] = {
    "login": Login, "start": Start, "get_item": GetItem, "answer": Answer, "flag": Flag,
    "finish": Finish,
}


def describe(exc: ValidationError) -> str:
    """The first schema problem, naming the field: ``position: must be >= 0``."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "message"
    return f"{where}: {err.get('msg', 'invalid')}"


#: code -> (Bahasa Indonesia, English). Candidates read these, so they say what to do.
ERRORS: dict[str, tuple[str, str]] = {
    "bad_request": ("Pesan tidak valid", "Invalid message"),
    "unknown_event": ("Perintah tidak dikenal", "Unknown request"),
    "rate_limited": ("Terlalu banyak permintaan; tunggu sebentar",
                     "Too many requests; wait a moment"),
    "bad_credentials": ("Nomor peserta, PIN, atau token sesi salah",
                        "Registration number, PIN or session token is wrong"),
    "session_not_open": ("Sesi ujian belum dibuka", "The exam session is not open"),
    "session_locked": ("Sesi belum siap; hubungi pengawas",
                       "The session is not ready; call the proctor"),
    "already_active": ("Anda sudah masuk di komputer lain; minta pengawas melepaskannya",
                       "You are logged in on another terminal; ask the proctor to release it"),
    "not_logged_in": ("Silakan masuk terlebih dahulu", "Please log in first"),
    "not_admitted": ("Menunggu izin pengawas", "Waiting for the proctor's admission"),
    "not_started": ("Ujian belum dimulai", "The exam has not started"),
    "bad_position": ("Nomor soal tidak ada", "No such item number"),
    "bad_choice": ("Pilihan jawaban tidak ada", "No such option"),
    "paused": ("Ujian dijeda oleh pengawas", "The exam is paused by the proctor"),
    "time_up": ("Waktu ujian habis", "Time is up"),
    "finished": ("Ujian Anda sudah selesai", "Your exam is finished"),
    "disqualified": ("Anda didiskualifikasi; hubungi pengawas",
                     "You were disqualified; call the proctor"),
    "replaced": ("Sesi ini diambil alih oleh jendela lain di komputer ini",
                 "This page was replaced by another window on this computer"),
    "internal": ("Terjadi kesalahan di server; jawaban Anda tidak hilang. Coba lagi",
                 "The server failed; your answers are safe. Try again"),
}


def error(code: str, lang: str = "id", detail: str = "") -> dict:
    """The error part of a reply, in the terminal's language."""
    texts = ERRORS.get(code, ERRORS["internal"])
    message = texts[1] if lang == "en" else texts[0]
    if detail and code == "bad_request":
        message = f"{message}: {detail}"
    return {"code": code, "message": message}
