"""The national announcement of a merge, written to a directory:

ranking.csv and ranking.json (every candidate, by formation and rank), receipts.csv (the
transparency file: every candidate's receipt code), announcement.pdf (who goes on to the next
stage, per formation) and index.html, a static page that finds a registration number in
data/NN.js shards without a server (docs/integrity.md).

The writers read a :class:`Ranked`: the merged candidates in announcement order, a chunk at a
time. The in-memory merge (:class:`MemoryRanked`) and the PostgreSQL one
(cat_engine.services.national) both provide it, so both modes write the same bytes.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from proctor_ui import STATIC_DIR, TEMPLATES_DIR
from scoring.integrity.merge import Formation, Merged, fnv1a

SHARDS = 256
#: Rows per chunk the writers hold at once (bounded memory whatever the national size).
CHUNK = 250_000
FONTS = Path(STATIC_DIR) / "fonts"
#: Bytes of one JSON column kept in memory before it spills to a temporary file.
SPOOL_BYTES = 64 << 20

#: A chunk of candidates as numpy columns: ``formation`` and ``source`` (indices into
#: Ranked.formations and Ranked.sources), ``registration``, ``name``, ``status``, ``receipt``
#: (objects; receipt None when there is none), one float column per section and ``total``,
#: ``rank`` (int; 0: not ranked) and the flags ``tied``, ``passed``, ``next_stage``,
#: ``tie_at_cut``.
Columns = dict[str, np.ndarray]


class Ranked(Protocol):
    """Merged, ranked candidates as the announcement's writers read them."""

    sections: list[str]
    formations: list[Formation]
    #: (site fingerprint, session name) of each source file, by index.
    sources: list[tuple[str, str]]
    #: The latest export time of the merged files (ms): the announcement's date, so that the
    #: same files always give the same bytes.
    created_ms: int

    def whole(self) -> dict[str, bool]:
        """Per score column (sections and ``total``): every value a whole number."""

    def chunks(self) -> Iterator[Columns]:
        """Every candidate in announcement order: formation, then rank (unranked last)."""

    def shards(self, count: int) -> Iterator[tuple[int, Columns]]:
        """Each page shard's candidates (:func:`fnv1a` of the registration), in
        announcement order within the shard, for every shard 0 .. count - 1."""

    def going_on(self) -> Iterator[Columns]:
        """Those who go on to the next stage, in announcement order."""

    def going_on_counts(self) -> list[int]:
        """How many go on, per formation index."""


class MemoryRanked:
    """:class:`Ranked` over an in-memory :class:`~scoring.integrity.merge.Merged`."""

    def __init__(self, m: Merged, chunk: int = CHUNK) -> None:
        self.m, self.chunk = m, chunk
        self.sections, self.formations = m.sections, m.formations
        self.sources = [(p.site, p.session) for p in m.sources]
        self.created_ms = max((p.exported_ms for p in m.sources), default=0)

    def whole(self) -> dict[str, bool]:
        cols = {**self.m.scores, "total": self.m.total}
        return {k: bool(np.all(v == np.round(v))) for k, v in cols.items()}

    def _take(self, rows: np.ndarray) -> Columns:
        m = self.m
        return {"formation": m.formation[rows], "source": m.source[rows],
                "registration": m.registration[rows], "name": m.name[rows],
                "status": m.status[rows], "receipt": m.receipt[rows],
                **{s: m.scores[s][rows] for s in m.sections}, "total": m.total[rows],
                "rank": m.rank[rows], "tied": m.tied[rows], "passed": m.passed[rows],
                "next_stage": m.next_stage[rows], "tie_at_cut": m.tie_at_cut[rows]}

    def chunks(self) -> Iterator[Columns]:
        for start in range(0, len(self.m.order), self.chunk):
            yield self._take(self.m.order[start:start + self.chunk])

    def shards(self, count: int) -> Iterator[tuple[int, Columns]]:
        order = self.m.order
        shard = fnv1a(self.m.registration[order], count)
        rows = order[np.argsort(shard, kind="stable")]
        bounds = np.searchsorted(np.sort(shard), np.arange(count + 1))
        for b in range(count):
            yield b, self._take(rows[bounds[b]:bounds[b + 1]])

    def going_on(self) -> Iterator[Columns]:
        order = self.m.order
        yield self._take(order[self.m.next_stage[order]])

    def going_on_counts(self) -> list[int]:
        return np.bincount(self.m.formation[self.m.next_stage],
                           minlength=len(self.formations)).tolist()


def plain(r: Ranked, cols: Columns, whole: dict[str, bool]) -> dict[str, list[Any]]:
    """A chunk as the files show it, in the files' column order: formation codes, ranks
    (None: not ranked), scores as whole numbers where every one of the column's is (SKD's
    are), site and session."""
    codes = np.asarray([f.code for f in r.formations], dtype=object)
    sites = np.asarray([s[0] for s in r.sources], dtype=object)
    sessions = np.asarray([s[1] for s in r.sources], dtype=object)
    rank = cols["rank"]
    return {
        "formation": codes[cols["formation"]].tolist(),
        "rank": np.where(rank > 0, rank.astype(object), None).tolist(),
        "tied": cols["tied"].tolist(),
        "registration": cols["registration"].tolist(),
        "name": cols["name"].tolist(),
        **{s: _numbers(cols[s], whole[s]) for s in r.sections},
        "total": _numbers(cols["total"], whole["total"]),
        "status": cols["status"].tolist(),
        "passed": cols["passed"].tolist(),
        "next_stage": cols["next_stage"].tolist(),
        "tie_at_cut": cols["tie_at_cut"].tolist(),
        "site": sites[cols["source"]].tolist(),
        "session": sessions[cols["source"]].tolist(),
        "receipt": cols["receipt"].tolist(),
    }


def _numbers(values: np.ndarray, whole: bool) -> list:
    return values.astype(np.int64).tolist() if whole else values.tolist()


RECEIPT_COLUMNS = ("registration", "receipt", "site", "session", "formation", "total",
                   "next_stage")
SHARD_COLUMNS = ("registration", "name", "formation", "rank", "tied", "total", "passed",
                 "next_stage", "tie_at_cut", "receipt", "site", "session")


def write_all(r: Ranked | Merged, out: Path, *, title: str, lang: str = "id",
              jobs: int = 1) -> dict[str, Path]:
    """Write the five outputs into ``out`` (created). With ``jobs`` > 1 and a ranking in
    this process's memory, a forked process writes ranking.csv meanwhile (the csv module's
    C writer over two million rows is the largest single piece of the work)."""
    if isinstance(r, Merged):
        r = MemoryRanked(r)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "ranking.csv", "json": out / "ranking.json",
             "receipts": out / "receipts.csv", "pdf": out / "announcement.pdf",
             "html": out / "index.html"}
    whole = r.whole()
    child = None
    if jobs > 1 and isinstance(r, MemoryRanked) and hasattr(os, "fork"):
        child = os.fork()
        if child == 0:  # the child: ranking.csv, then leave without any cleanup of ours
            code = 1
            try:
                _write_rows(r, whole, ranking=paths["csv"])
                code = 0
            except BaseException as exc:  # reported through the exit code
                print(f"{paths['csv']}: {exc}", file=sys.stderr)
            finally:
                os._exit(code)
    try:
        _write_rows(r, whole, ranking=None if child else paths["csv"],
                    receipts=paths["receipts"], json=paths["json"], title=title)
        _write_pdf(r, whole, paths["pdf"], title, lang)
        _write_html(r, whole, out, title, lang)
    finally:
        if child:
            _pid, status = os.waitpid(child, 0)
    if child and status != 0:
        raise OSError(f"the process writing {paths['csv'].name} failed")
    return paths


def _write_rows(r: Ranked, whole: dict[str, bool], *, ranking: Path | None = None,
                receipts: Path | None = None, json: Path | None = None,
                title: str = "") -> None:
    """Any of ranking.csv, receipts.csv and ranking.json, in one pass over the chunks.

    The JSON holds columns, so each column is spooled on its own (in memory up to a size,
    then in a temporary file) and the spools joined at the end. orjson: the standard
    library's encoder took 18 s for 2 million candidates."""
    names = list(plain(r, _empty(r), whole))
    with contextlib.ExitStack() as stack:
        writers = []
        if ranking is not None:
            writers.append((csv.writer(stack.enter_context(
                open(ranking, "w", newline="", encoding="utf-8"))), names))
        if receipts is not None:
            writers.append((csv.writer(stack.enter_context(
                open(receipts, "w", newline="", encoding="utf-8"))), list(RECEIPT_COLUMNS)))
        for writer, columns in writers:
            writer.writerow(columns)
        spools = {} if json is None else {k: stack.enter_context(
            tempfile.SpooledTemporaryFile(SPOOL_BYTES, dir=json.parent)) for k in names}
        for chunk in r.chunks():
            cols = plain(r, chunk, whole)
            for writer, columns in writers:
                writer.writerows(zip(*(cols[k] for k in columns), strict=True))
            for k, spool in spools.items():
                if cols[k]:
                    if spool.tell():
                        spool.write(b",")
                    spool.write(orjson.dumps(cols[k])[1:-1])
        if json is None:
            return
        head = orjson.dumps({
            "type": "cat-engine.announcement", "v": 1, "title": title, "sections": r.sections,
            "formations": [{"code": f.code, "name": f.name, "vacancies": f.vacancies,
                            "rule_set": f.rule_set} for f in r.formations]})
        with open(json, "wb") as handle:
            handle.write(head[:-1] + b',"candidates":{')
            for i, k in enumerate(names):
                handle.write((b"," if i else b"") + orjson.dumps(k) + b":[")
                spools[k].seek(0)
                shutil.copyfileobj(spools[k], handle, 1 << 20)
                handle.write(b"]")
            handle.write(b"}}")


def _empty(r: Ranked) -> Columns:
    obj, flag = np.array([], dtype=object), np.array([], dtype=bool)
    return {"formation": np.array([], np.int64), "source": np.array([], np.int64),
            "registration": obj, "name": obj, "status": obj, "receipt": obj,
            **{s: np.array([]) for s in r.sections}, "total": np.array([]),
            "rank": np.array([], np.int64), "tied": flag, "passed": flag,
            "next_stage": flag, "tie_at_cut": flag}


def _translations(lang: str):
    from babel.support import Translations

    return Translations.load(str(Path(TEMPLATES_DIR).parent / "translations"), [lang])


def _write_html(r: Ranked, whole: dict[str, bool], out: Path, title: str,
                lang: str) -> None:
    import jinja2

    data = out / "data"
    data.mkdir(exist_ok=True)
    keys = (*SHARD_COLUMNS, *r.sections)
    for b, chunk in r.shards(SHARDS):
        cols = plain(r, chunk, whole)
        payload = orjson.dumps({k: cols[k] for k in keys})
        (data / f"{b:02x}.js").write_bytes(b"announce.load(%d,%s);\n" % (b, payload))
    shutil.copyfile(Path(STATIC_DIR) / "announce" / "search.js", out / "search.js")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                             autoescape=True, extensions=["jinja2.ext.i18n"])
    translations = _translations(lang)
    env.install_gettext_translations(translations, newstyle=True)
    formations = [{"code": f.code, "name": f.name, "vacancies": f.vacancies, "next_stage": n}
                  for f, n in zip(r.formations, r.going_on_counts(), strict=True)]
    html = env.get_template("announce/index.html").render(
        title=title, lang=lang, sections=r.sections, formations=formations,
        config={"shards": SHARDS, "sections": r.sections, "strings": _strings(translations)})
    (out / "index.html").write_text(html, encoding="utf-8")


def _strings(translations) -> dict[str, str]:
    _ = translations.gettext
    return {"not_found": _("No candidate with this registration number."),
            "next_stage": _("Goes on to the next stage"),
            "not_next": _("Does not go on to the next stage"),
            "tie_at_cut": _("Tied at the cut: every candidate of this tie goes on"),
            "not_ranked": _("Not ranked (did not finish the exam)"),
            "loading": _("Searching…")}


#: Characters of a name a PDF line holds.
_NAME_CHARS = 30


def _write_pdf(r: Ranked, whole: dict[str, bool], path: Path, title: str, lang: str) -> None:
    """Who goes on, per formation: one line of fixed-width text per candidate, placed with
    ``text`` (cells cost a line ten times more) in DejaVu Sans Mono, bundled under
    proctor_ui/static/fonts. A name with a letter that font lacks (Vietnamese tones, for
    one) is set in DejaVu Sans, which has it; scripts neither covers (CJK) do not print."""
    from fpdf import FPDF

    _ = _translations(lang).gettext
    pdf = FPDF(orientation="P", format="A4")
    pdf.set_creation_date(datetime.fromtimestamp(r.created_ms / 1000, tz=UTC))
    pdf.set_auto_page_break(False)
    pdf.add_font("mono", "", str(FONTS / "DejaVuSansMono.ttf"))
    pdf.add_font("mono", "B", str(FONTS / "DejaVuSansMono-Bold.ttf"))
    pdf.add_font("sans", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("sans", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    covered = pdf.fonts["mono"].cmap
    y = 0.0
    font = None

    def setfont(family: str, style: str, size: float) -> None:
        nonlocal font
        if font != (family, style, size):  # set_font cost as much as the line itself
            pdf.set_font(family, style, size)
            font = (family, style, size)

    def line(text: str, size: float = 7, style: str = "", step: float = 3.2,
             family: str = "mono") -> float:
        nonlocal y, font
        if pdf.page == 0 or y + step > 285:
            pdf.add_page()
            y = 14.0
            font = None
        setfont(family, style, size)
        pdf.text(10, y, text)
        at = y
        y += step
        return at

    line(title, 11, "B", 7, "sans")
    line(_("Candidates who go on to the next stage, per formation (three times the "
           "vacancies; ties at the cut all go on, marked *)."), 7, "", 6, "sans")
    header = f"{'#':>6}  {_('Registration number'):<20} {_('Name'):<30}  " + "".join(
        f"{s:>7}" for s in r.sections) + f"{_('Total'):>7}  {_('Receipt')}"
    current = None
    for chunk in r.going_on():
        cols = plain(r, chunk, whole)
        for i, code in enumerate(cols["formation"]):  # rows are in formation order already
            if code != current:
                current = code
                f = r.formations[int(chunk["formation"][i])]
                y += 2
                line(f"{f.code} · {f.name} · {_('vacancies')} {f.vacancies}", 9, "B", 4.5,
                     "sans")
                line(header)
            name = str(cols["name"][i])[:_NAME_CHARS]
            if not name.isprintable():  # a tab or a line break in a name: a space on paper
                name = "".join(c if c.isprintable() else " " for c in name)
            mono = all(ord(c) in covered for c in name)
            text = (f"{cols['rank'][i]:>6}  {cols['registration'][i]:<20} "
                    f"{name if mono else '':<30} {'*' if cols['tie_at_cut'][i] else ' '}"
                    + "".join(f"{cols[s][i]:>7g}" for s in r.sections)
                    + f"{cols['total'][i]:>7g}  {cols['receipt'][i] or ''}")
            at = line(text)
            if not mono:  # the name goes where the mono text left it room
                x = 10 + pdf.get_string_width(text[:29])
                setfont("sans", "", 7)
                pdf.text(x, at, name)
    pdf.output(str(path))
