"""The printed records of a session: the berita acara (incident record a proctor signs) and
the results list, as PDF documents, and the human wording of every logged event.

The wording lives here, in the web layer, because it is in the reader's language (the
catalogue); the store keeps the structured audit detail. The PDFs are laid out with fpdf2
(wrapped table cells, repeated headings, page numbers) in DejaVu Sans, the font matplotlib
ships, so every character of a name prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext


def _clock(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


def duration_text(ms: int) -> str:
    """A span of time in words: "2 minutes 35 seconds"."""
    seconds = max(0, round(ms / 1000))
    minutes, seconds = divmod(seconds, 60)
    parts = []
    if minutes:
        parts.append(ngettext("%(num)s minute", "%(num)s minutes", minutes))
    if seconds or not minutes:
        parts.append(ngettext("%(num)s second", "%(num)s seconds", seconds))
    return " ".join(parts)


def actor_text(actor: str) -> str:
    """Who did it, in words: "Proctor budi", "System"."""
    role, _sep, name = actor.partition(":")
    if not name:
        return {"system": _("System"), "candidate": _("Candidate"),
                "cli": _("Command line")}.get(actor, actor)
    label = {"proctor": _("Proctor"), "admin": _("Administrator")}.get(role, role)
    return f"{label} {name}"


def by_text(entry: Mapping[str, Any]) -> str:
    """Who did what the entry records: a candidate's own finish is the candidate's."""
    detail = entry.get("detail") or {}
    if entry["action"] == "finish" and detail.get("reason") == "candidate":
        return _("Candidate")
    return actor_text(entry["actor"])


def _on_off(value: Any) -> str:
    return _("on") if value else _("off")


def settings_text(detail: Mapping[str, Any]) -> str:
    """What a settings change changed, in words."""
    parts = []
    for key, value in (detail.get("changes") or {}).items():
        if key == "auto_admit":
            parts.append(_("automatic admission: %(value)s", value=_on_off(value)))
        elif key == "public_names":
            parts.append(_("names on the public board: %(value)s",
                           value=_("shown") if value else _("hidden")))
        elif key == "scoreboard":
            parts.append(_("public scores: %(value)s", value=_("live") if value == "live"
                           else _("only after finishing")))
        else:
            parts.append(f"{key}: {value}")
    if detail.get("freeze") is True:
        parts.append(_("the public board was frozen"))
    elif detail.get("freeze") is False:
        parts.append(_("the public board was revealed again"))
    return "; ".join(parts) or _("nothing changed")


def event_text(entry: Mapping[str, Any]) -> str:
    """One logged event as a sentence of the record, with every detail it holds."""
    action, d = entry["action"], dict(entry.get("detail") or {})
    if action == "incident":
        return _("Incident: %(text)s", text=d.get("text", ""))
    if action == "finish":
        reason = d.get("reason")
        if reason == "proctor":
            text = _("The proctor ended the exam")
        elif reason == "time":
            text = _("The time ran out; the exam was ended")
        else:
            text = _("The candidate finished the exam")
        note = d.get("note") or ""
        return _with_reason(text, note)
    if action == "extend":
        # The console sends whole minutes (the service accepts a float: shown rounded).
        minutes = round(float(d.get("minutes", 0)))
        text = ngettext("Time extended by %(num)s minute", "Time extended by %(num)s minutes",
                        minutes)
    elif action == "settings":
        text = _("Settings changed: %(changes)s", changes=settings_text(d))
    elif action == "outage":
        last, down = d.get("last_beat_ms", entry["at_ms"]), d.get("outage_ms", 0)
        text = _("The server was down from %(start)s to %(end)s (%(duration)s); the time was "
                 "credited to the %(num)s candidates who were working",
                 start=_clock(last), end=_clock(last + down), duration=duration_text(down),
                 num=d.get("candidates", 0))
    elif action == "resume":
        text = _("Exam resumed after a pause of %(duration)s",
                 duration=duration_text(d.get("paused_ms", 0)))
    elif action in ("pause_room", "resume_room"):
        n = d.get("candidates", 0)
        text = (ngettext("The whole room was paused (%(num)s candidate)",
                         "The whole room was paused (%(num)s candidates)", n)
                if action == "pause_room" else
                ngettext("The whole room resumed (%(num)s candidate)",
                         "The whole room resumed (%(num)s candidates)", n))
    elif action == "release":
        text = _("Released from computer %(terminal)s to continue on another computer",
                 terminal=d.get("terminal") or "-")
    elif action == "refused_login":
        text = _("A second login from computer %(terminal)s was refused (the candidate is on "
                 "%(bound)s)", terminal=d.get("terminal") or "-", bound=d.get("bound") or "-")
    else:
        text = {
            "admit": _("Admitted to the exam after the identity check"),
            "pause": _("Exam paused"),
            "disqualify": _("Disqualified"),
            "session_open": _("The session was opened for logins"),
            "session_closed": _("The session was closed"),
            "token_rotate": _("A new session token was issued (the old one stopped working)"),
            "unlock": _("The item bank was unlocked on the server"),
            "login_unlocked": _("The login lock after wrong PINs was lifted"),
        }.get(action, action)
    return _with_reason(text, d.get("reason") or "")


def _with_reason(text: str, reason: str) -> str:
    if not reason:
        return text
    return text + ". " + _("Reason: %(reason)s", reason=reason)


# ------------------------------------------------------------------------------ the PDF


@dataclass
class Column:
    heading: str
    width: float  # share of the page's text width
    align: str = "LEFT"


@dataclass
class Document:
    """A printed record: a title, header fields, one table, and signature blocks."""

    title: str
    fields: list[tuple[str, str]]
    columns: list[Column]
    rows: list[list[str]]
    empty: str = ""
    notes: list[str] = field(default_factory=list)
    signers: list[str] = field(default_factory=list)
    landscape: bool = False


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def render_pdf(doc: Document) -> bytes:
    """The document as an A4 PDF: long cells wrap, the table's heading repeats on every
    page, each page is numbered "page n of m"."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    page_of = _("Page %(page)s of %(pages)s", page="{page}", pages="{pages}")

    class Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("dejavu", size=8)
            self.cell(0, 6, page_of.format(page=self.page_no(), pages="{nb}"), align="R")

    pdf = Pdf(orientation="L" if doc.landscape else "P", unit="mm", format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=16)
    fonts = _font_dir()
    pdf.add_font("dejavu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("dejavu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_title(doc.title)
    pdf.add_page()
    pdf.set_font("dejavu", "B", 14)
    pdf.multi_cell(0, 7, doc.title.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("dejavu", size=9.5)
    # On a landscape page the header fields go two by two, leaving room for the table.
    pairs = 2 if doc.landscape else 1
    with pdf.table(col_widths=(1, 3) * pairs, first_row_as_headings=False,
                   borders_layout="NONE", line_height=5, padding=0.6,
                   text_align="LEFT") as table:
        for start in range(0, len(doc.fields), pairs):
            row = table.row()
            for label, value in doc.fields[start:start + pairs]:
                row.cell(label, style=FontFace(emphasis="BOLD"))
                row.cell(value)
    pdf.ln(4)
    if doc.rows:
        pdf.set_font("dejavu", size=9)
        with pdf.table(col_widths=[c.width for c in doc.columns],
                       text_align=[c.align for c in doc.columns], line_height=4.6,
                       padding=1, repeat_headings=1,
                       headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
                       ) as table:
            table.row([c.heading for c in doc.columns])
            for cells in doc.rows:
                table.row([str(v) for v in cells])
    else:
        pdf.multi_cell(0, 6, doc.empty, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", size=9.5)
    # The closing words and the signatures stay together on one page.
    lines = sum(len(pdf.multi_cell(0, 5, note, dry_run=True, output="LINES"))
                for note in doc.notes)
    needed = 7 * len(doc.notes) + 5 * lines + (SIGNATURES_MM if doc.signers else 0)
    if pdf.get_y() + needed > pdf.h - pdf.b_margin:
        pdf.add_page()
    for note in doc.notes:
        pdf.ln(2)
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
    if doc.signers:
        _signatures(pdf, doc.signers)
    return bytes(pdf.output())


#: Height of the signature blocks: space above, the role, room to sign, name and NIP lines.
SIGNATURES_MM = 48


def _signatures(pdf, signers: Sequence[str]) -> None:
    """One block per signer, side by side: role, space to sign, name and NIP lines."""
    height = 38
    pdf.ln(8)
    top = pdf.get_y()
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / len(signers)
    for n, signer in enumerate(signers):
        x = pdf.l_margin + n * width
        pdf.set_xy(x, top)
        pdf.set_font("dejavu", "B", 9.5)
        pdf.multi_cell(width - 6, 5, signer, align="C")
        pdf.set_font("dejavu", size=9.5)
        for dy, text in ((24, "(" + "_" * 30 + ")"), (30, _("Name") + ": " + "_" * 24),
                         (35, _("NIP") + ": " + "_" * 26)):
            pdf.set_xy(x, top + dy)
            pdf.cell(width - 6, 5, text, align="C")
    pdf.set_xy(pdf.l_margin, top + height + 2)
