"""The national announcement of a merge (scoring.integrity.merge), written to a directory:

ranking.csv and ranking.json (every candidate, by formation and rank), receipts.csv (the
transparency file: every candidate's receipt code), announcement.pdf (who goes on to the next
stage, per formation) and index.html, a static page that finds a registration number in
data/NN.js shards without a server (docs/integrity.md).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from proctor_ui import STATIC_DIR, TEMPLATES_DIR
from scoring.integrity.merge import Merged, fnv1a

SHARDS = 256


def _numbers(values: np.ndarray) -> list:
    """Scores as plain lists: whole numbers as ints (SKD's are; they also write three times
    faster than floats to CSV and JSON), others as floats."""
    if np.all(values == np.round(values)):
        return values.astype(np.int64).tolist()
    return values.tolist()


def columns(m: Merged) -> dict[str, list[Any]]:
    """Every candidate, in announcement order, as plain lists."""
    o = m.order
    sites = np.asarray([p.site for p in m.sources], dtype=object)[m.source[o]]
    sessions = np.asarray([p.session for p in m.sources], dtype=object)[m.source[o]]
    codes = np.asarray([f.code for f in m.formations], dtype=object)[m.formation[o]]
    return {
        "formation": codes.tolist(),
        "rank": [r or None for r in m.rank[o].tolist()],
        "tied": m.tied[o].tolist(),
        "registration": m.registration[o].tolist(),
        "name": m.name[o].tolist(),
        **{s: _numbers(m.scores[s][o]) for s in m.sections},
        "total": _numbers(m.total[o]),
        "status": m.status[o].tolist(),
        "passed": m.passed[o].tolist(),
        "next_stage": m.next_stage[o].tolist(),
        "tie_at_cut": m.tie_at_cut[o].tolist(),
        "site": sites.tolist(),
        "session": sessions.tolist(),
        "receipt": m.receipt[o].tolist(),
    }


def write_csv(path: Path, cols: dict[str, list[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(cols))
        writer.writerows(zip(*cols.values(), strict=True))


def write_all(m: Merged, out: Path, *, title: str, lang: str = "id") -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    cols = columns(m)
    paths = {"csv": out / "ranking.csv", "json": out / "ranking.json",
             "receipts": out / "receipts.csv", "pdf": out / "announcement.pdf",
             "html": out / "index.html"}
    write_csv(paths["csv"], cols)
    formations = [{"code": f.code, "name": f.name, "vacancies": f.vacancies,
                   "rule_set": f.rule_set} for f in m.formations]
    # dumps, not dump: dump streams through the pure-Python encoder, five times slower.
    paths["json"].write_text(json.dumps(
        {"type": "cat-engine.announcement", "v": 1, "title": title, "sections": m.sections,
         "formations": formations, "candidates": cols},
        ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    write_csv(paths["receipts"], {k: cols[k] for k in (
        "registration", "receipt", "site", "session", "formation", "total", "next_stage")})
    _write_pdf(m, cols, paths["pdf"], title, lang)
    _write_html(m, cols, out, title, lang)
    return paths


def _translations(lang: str):
    from babel.support import Translations

    return Translations.load(str(Path(TEMPLATES_DIR).parent / "translations"), [lang])


def _write_html(m: Merged, cols: dict[str, list[Any]], out: Path, title: str,
                lang: str) -> None:
    import jinja2

    data = out / "data"
    data.mkdir(exist_ok=True)
    shard = fnv1a(np.asarray(cols["registration"]), SHARDS)
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(SHARDS + 1))
    keys = ("registration", "name", "formation", "rank", "tied", "total", "passed",
            "next_stage", "tie_at_cut", "receipt", "site", "session", *m.sections)
    arrays = {k: np.asarray(cols[k], dtype=object) for k in keys}
    for b in range(SHARDS):
        rows = order[bounds[b]:bounds[b + 1]]
        payload = json.dumps({k: arrays[k][rows].tolist() for k in keys},
                             ensure_ascii=False, separators=(",", ":"))
        (data / f"{b:02x}.js").write_text(f"announce.load({b},{payload});\n", encoding="utf-8")
    shutil.copyfile(Path(STATIC_DIR) / "announce" / "search.js", out / "search.js")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                             autoescape=True, extensions=["jinja2.ext.i18n"])
    translations = _translations(lang)
    env.install_gettext_translations(translations, newstyle=True)
    formations = [{"code": f.code, "name": f.name, "vacancies": f.vacancies,
                   "next_stage": int(np.count_nonzero(m.next_stage & (m.formation == i)))}
                  for i, f in enumerate(m.formations)]
    html = env.get_template("announce/index.html").render(
        title=title, lang=lang, sections=m.sections, formations=formations,
        config={"shards": SHARDS, "sections": m.sections, "strings": _strings(translations)})
    (out / "index.html").write_text(html, encoding="utf-8")


def _strings(translations) -> dict[str, str]:
    _ = translations.gettext
    return {"not_found": _("No candidate with this registration number."),
            "next_stage": _("Goes on to the next stage"),
            "not_next": _("Does not go on to the next stage"),
            "tie_at_cut": _("Tied at the cut: every candidate of this tie goes on"),
            "not_ranked": _("Not ranked (did not finish the exam)"),
            "loading": _("Searching…")}


def _write_pdf(m: Merged, cols: dict[str, list[Any]], path: Path, title: str,
               lang: str) -> None:
    """Who goes on, per formation: one line of fixed-width text per candidate, placed with
    ``text`` in the PDF core font Courier (cells, or an embedded TrueType font, made a line
    three to a hundred times slower; a character outside Latin-1 prints as "?")."""
    from fpdf import FPDF

    _ = _translations(lang).gettext
    pdf = FPDF(orientation="P", format="A4")
    pdf.set_auto_page_break(False)
    y = 0.0

    font = None

    def line(text: str, size: float = 7, style: str = "", step: float = 3.2) -> None:
        nonlocal y, font
        if pdf.page == 0 or y + step > 285:
            pdf.add_page()
            y = 14.0
            font = None
        if font != (style, size):  # set_font cost as much as the line itself
            pdf.set_font("courier", style, size)
            font = (style, size)
        pdf.text(10, y, _latin1(text))
        y += step

    line(title, 11, "B", 7)
    line(_("Candidates who go on to the next stage, per formation (three times the "
           "vacancies; ties at the cut all go on, marked *)."), 7, "", 6)
    header = f"{'#':>6}  {_('Registration number'):<20} {_('Name'):<30}  " + "".join(
        f"{s:>7}" for s in m.sections) + f"{_('Total'):>7}  {_('Receipt')}"
    go = np.asarray(cols["next_stage"], dtype=bool)
    formation = np.asarray(cols["formation"], dtype=object)
    names = {f.code: f for f in m.formations}
    current = None
    for i in np.flatnonzero(go).tolist():  # rows are in formation order already
        if formation[i] != current:
            current = formation[i]
            f = names[current]
            y += 2
            line(f"{f.code} · {f.name} · {_('vacancies')} {f.vacancies}", 9, "B", 4.5)
            line(header)
        line(f"{cols['rank'][i]:>6}  {cols['registration'][i]:<20} "
             f"{str(cols['name'][i])[:30]:<30} {'*' if cols['tie_at_cut'][i] else ' '}"
             + "".join(f"{cols[s][i]:>7g}" for s in m.sections)
             + f"{cols['total'][i]:>7g}  {cols['receipt'][i] or ''}")
    pdf.output(str(path))


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")
