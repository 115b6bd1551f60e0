"""One self-contained HTML report of a session's item and test analysis.

Built from plain arrays (no database): per section a score matrix and optionally the chosen
options and key; optionally IRT parameters (ICCs, test information) and exposure rates.
Plots are matplotlib PNGs embedded as base64 ``data:`` URIs, so the file opens anywhere,
offline. Labels are in Bahasa Indonesia by default, English with ``lang="en"``.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from scoring.analysis.collusion import PairSignal
from scoring.analysis.dif import DIFResult
from scoring.analysis.flags import CheatingFlags
from scoring.analysis.items import ItemStats, item_statistics
from scoring.analysis.reliability import TestStats, test_statistics
from scoring.irt.models import ItemParams

TEXT = {
    "id": {
        "title": "Laporan analisis butir",
        "section": "Subtes",
        "examinees": "Peserta",
        "items": "Butir",
        "mean": "Rerata",
        "sd": "Simpangan baku",
        "alpha": "Alfa Cronbach / KR-20",
        "sem": "Galat baku pengukuran",
        "histogram": "Sebaran skor",
        "score": "Skor",
        "count": "Jumlah peserta",
        "item": "Butir",
        "facility": "Tingkat kemudahan (p)",
        "discrimination": "Daya beda (r point-biserial terkoreksi)",
        "flags": "Tanda",
        "options": "Pilihan: proporsi (kelompok atas / bawah)",
        "omit": "kosong",
        "flagged_icc": "Kurva karakteristik butir yang ditandai",
        "ability": "Kemampuan (θ)",
        "p_correct": "P(benar)",
        "tif": "Fungsi informasi tes",
        "information": "Informasi",
        "exposure": "Tingkat keterpaparan butir",
        "exposure_rate": "Proporsi peserta",
        "collusion": "Pasangan dengan jawaban salah identik di atas peluang",
        "pair": "Pasangan",
        "identical": "Salah identik",
        "expected": "Harapan",
        "none": "Tidak ada.",
        "observed": "teramati",
        "model": "model",
        "negative_discrimination": "daya beda negatif",
        "weak_discrimination": "daya beda lemah",
        "too_easy": "terlalu mudah",
        "too_hard": "terlalu sulit",
        "likely_wrong_key": "kunci mungkin salah",
        "dif": "Fungsi butir diferensial (Mantel-Haenszel, kategori ETS A/B/C)",
        "groups": "Kelompok (acuan / fokus)",
        "category": "Kategori",
        "cheating": "Tanda kecurangan dan buktinya",
        "cheating_alpha": "Tingkat alarm palsu keseluruhan α = {alpha}: ujian tanpa kecurangan "
                          "memunculkan satu tanda dari tiap jenis dengan peluang paling besar α "
                          "({examinees} peserta).",
        "copying": "Pasangan penyalin (kemiripan jawaban dengan memperhitungkan kemampuan, "
                   "pada butir yang dikerjakan keduanya)",
        "copier": "Diduga menyalin",
        "source": "Dari",
        "shared": "Butir bersama",
        "matches": "Jawaban sama",
        "false_alarms": "Pasangan jujur seekstrem ini per ujian",
        "person_fit": "Kecocokan pola jawaban (lz*; ditandai bila lz* ≤ {cut})",
        "speed": "Kecepatan tidak wajar (model waktu lognormal per butir)",
        "answers": "Jawaban",
        "too_fast": "Jauh terlalu cepat",
        "idle_bursts": "Diam lama lalu beruntun",
        "helper": "Penjoki jarak jauh: peserta yang jawabannya bergantian",
        "ring": "Kelompok (≥ 3 peserta saling terkait)",
        "linked": "Pasangan terkait",
        "while_busy": "Menjawab saat yang lain sibuk",
        "where": "Lokasi/sesi/ruang",
        "not_keyed": "Tidak ada butir berkunci: kemiripan jawaban dan kecocokan pola tidak "
                     "dihitung.",
        "not_timed": "Tidak ada waktu jawaban: kecepatan dan jawaban bergantian tidak dihitung.",
    },
    "en": {
        "title": "Item analysis report",
        "section": "Section",
        "examinees": "Examinees",
        "items": "Items",
        "mean": "Mean",
        "sd": "SD",
        "alpha": "Cronbach's alpha / KR-20",
        "sem": "Standard error of measurement",
        "histogram": "Score distribution",
        "score": "Score",
        "count": "Examinees",
        "item": "Item",
        "facility": "Facility (p)",
        "discrimination": "Discrimination (corrected point-biserial)",
        "flags": "Flags",
        "options": "Options: rate (top / bottom group)",
        "omit": "omitted",
        "flagged_icc": "Item characteristic curves of flagged items",
        "ability": "Ability (θ)",
        "p_correct": "P(correct)",
        "tif": "Test information function",
        "information": "Information",
        "exposure": "Item exposure rates",
        "exposure_rate": "Share of examinees",
        "collusion": "Pairs with more identical wrong answers than chance",
        "pair": "Pair",
        "identical": "Identical wrong",
        "expected": "Expected",
        "none": "None.",
        "observed": "observed",
        "model": "model",
        "negative_discrimination": "negative discrimination",
        "weak_discrimination": "weak discrimination",
        "too_easy": "too easy",
        "too_hard": "too hard",
        "likely_wrong_key": "likely wrong key",
        "dif": "Differential item functioning (Mantel-Haenszel, ETS A/B/C categories)",
        "groups": "Groups (reference / focal)",
        "category": "Category",
        "cheating": "Cheating flags and their evidence",
        "cheating_alpha": "Family-wise false-alarm rate α = {alpha}: an exam with no cheating "
                          "raises a flag of each kind with probability at most α "
                          "({examinees} candidates).",
        "copying": "Copying pairs (answer similarity given ability, over the items both "
                   "were shown)",
        "copier": "Likely copier",
        "source": "Source",
        "shared": "Shared items",
        "matches": "Identical answers",
        "false_alarms": "Honest pairs this extreme per exam",
        "person_fit": "Person fit (lz*; flagged at lz* ≤ {cut})",
        "speed": "Aberrant speed (lognormal response-time model per item)",
        "answers": "Answers",
        "too_fast": "Far too fast",
        "idle_bursts": "Long idle, then a burst",
        "helper": "Remote helper: candidates whose answers interleave",
        "ring": "Ring (≥ 3 linked candidates)",
        "linked": "Linked pairs",
        "while_busy": "Answers while the other was busy",
        "where": "Site/session/room",
        "not_keyed": "No keyed items: answer similarity and person fit not computed.",
        "not_timed": "No answer times: speed and interleaving not computed.",
    },
}


@dataclass(frozen=True)
class SectionData:
    """One section's results: scores (examinees x items) and, if known, choices and key."""

    name: str
    item_ids: Sequence[str]
    scores: ArrayLike
    choices: Sequence[Sequence[str]] | None = None
    key: Sequence[str] | None = None
    max_points: ArrayLike | None = None
    adaptive: bool = False
    #: The fewest points an item gives (its blank or lowest option); observed when None.
    min_points: ArrayLike | None = None


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _abilities(scores, item_ids, params, index):
    """EAP abilities on the section's calibrated items, or the standardised total score."""
    known = [j for j, i in enumerate(item_ids) if i in index]
    binary = np.all(np.isnan(scores) | (scores == 0) | (scores == 1))
    if params is not None and known and binary:
        from scoring.irt.estimators import EAPEstimator

        sub = params.subset([index[item_ids[j]] for j in known])
        x = scores[:, known]
        estimator = EAPEstimator()
        return np.array([
            estimator.estimate(sub, np.flatnonzero(~np.isnan(r)), r[~np.isnan(r)].astype(int)).theta
            for r in x
        ])
    total = np.nansum(scores, axis=1)
    return (total - total.mean()) / (total.std() or 1.0)


def build_report(
    sections: Sequence[SectionData],
    *,
    title: str | None = None,
    params: ItemParams | None = None,
    exposure: Mapping[str, float] | None = None,
    collusion: Sequence[PairSignal] | None = (),
    lang: str = "id",
    dif: Sequence[tuple[str, str, DIFResult]] = (),
    r_max: float = 0.25,
    cheating: CheatingFlags | None = None,
) -> str:
    """The HTML text of the report. ``collusion`` None leaves out the identical-wrong-answers
    table (the session report shows ``cheating``: every cheating flag with its evidence)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = TEXT.get(lang, TEXT["id"])
    esc = html.escape
    parts = [
        "<!doctype html>",
        f'<html lang="{esc(lang)}"><head><meta charset="utf-8">',
        f"<title>{esc(title or t['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:3px 6px;text-align:right}th{background:#eee}td.l{text-align:left}"
        ".flag{color:#a00}img{max-width:100%}</style></head><body>",
        f"<h1>{esc(title or t['title'])}</h1>",
    ]
    index = params.index if params is not None else {}
    for section in sections:
        # NaN marks an item the examinee was never shown; the statistics take it as such.
        scores = np.asarray(section.scores, dtype=float)
        stats: TestStats = test_statistics(scores)
        items: list[ItemStats] = item_statistics(
            scores,
            section.item_ids,
            max_points=section.max_points,
            min_points=section.min_points,
            choices=section.choices,
            key=section.key,
        )
        parts.append(f"<h2>{esc(t['section'])}: {esc(section.name)}</h2>")
        parts.append(
            "<table>"
            + "".join(
                f"<tr><th>{esc(t[name])}</th><td>{value}</td></tr>"
                for name, value in (
                    ("examinees", stats.n_examinees),
                    ("items", stats.n_items),
                    ("mean", f"{stats.mean:.2f}"),
                    ("sd", f"{stats.sd:.2f}"),
                    ("alpha", f"{stats.alpha:.3f}"),
                    ("sem", f"{stats.sem:.2f}"),
                )
            )
            + "</table>"
        )
        fig, ax = plt.subplots(figsize=(6, 3))
        totals = np.nansum(scores, axis=1)
        if np.allclose(totals, np.round(totals)) and np.ptp(totals) <= 400:
            # One bin per integer score: a psychometrician reads the distribution score by score.
            values, counts = np.unique(np.round(totals).astype(int), return_counts=True)
            ax.bar(values, counts, width=1.0, align="center")
        else:
            ax.bar(stats.bins[:-1], stats.counts, width=np.diff(stats.bins), align="edge")
        ax.set_xlabel(t["score"])
        ax.set_ylabel(t["count"])
        ax.set_title(f"{t['histogram']}: {section.name}")
        parts.append(_img(_png(fig), t["histogram"]))

        rows = []
        picks = np.asarray(section.choices, dtype=object) if section.choices is not None else None
        for j, it in enumerate(items):
            opts = " ".join(
                f"{'<b>' if o.is_key else ''}{esc(o.label)}{'</b>' if o.is_key else ''}"
                f" {o.overall:.2f} ({o.top:.2f}/{o.bottom:.2f})"
                for o in it.options
            )
            if picks is not None and it.presented:
                shown = ~np.isnan(scores[:, j])
                omit = float(np.mean(picks[shown, j] == ""))
                opts += f" · {t['omit']} {omit:.2f}"
            flags = ", ".join(t.get(f, f) for f in it.flags)
            rows.append(
                f"<tr><td class=l>{esc(it.item_id)}</td><td>{it.presented}</td>"
                f"<td>{it.facility:.2f}</td>"
                f"<td>{it.discrimination:.2f}</td><td class=l>{opts}</td>"
                f"<td class='l flag'>{esc(flags)}</td></tr>"
            )
        parts.append(
            f"<table><tr><th>{t['item']}</th><th>n</th><th>{t['facility']}</th>"
            f"<th>{t['discrimination']}</th><th>{t['options']}</th><th>{t['flags']}</th></tr>"
            + "".join(rows)
            + "</table>"
        )

        theta = _abilities(scores, section.item_ids, params, index)
        flagged = [j for j, it in enumerate(items) if it.flags][:12]
        if flagged:
            # One item per panel; observed proportions of ten ability groups at the groups'
            # mean theta (EAP on the calibrated items; the standardised total without them).
            cols = min(3, len(flagged))
            rows_n = -(-len(flagged) // cols)
            fig, axes = plt.subplots(rows_n, cols, figsize=(3.2 * cols, 2.6 * rows_n),
                                     squeeze=False, sharey=True)
            groups = np.array_split(np.argsort(theta, kind="stable"), min(10, len(theta)))
            grid = np.linspace(-4, 4, 161)
            for n, j in enumerate(flagged):
                ax = axes[n // cols][n % cols]
                item_id = section.item_ids[j]
                column = scores[:, j]
                top = float(np.nanmax(column)) if not np.isnan(column).all() else 1.0
                top = top or 1.0
                # A group in which nobody was shown the item has no point (NaN), not a zero.
                observed = [
                    np.nanmean(column[g]) / top if (~np.isnan(column[g])).any() else np.nan
                    for g in groups
                ]
                ax.plot([theta[g].mean() for g in groups], observed, "o", label=t["observed"])
                if item_id in index:
                    p = params.subset([index[item_id]]).prob(grid)[:, 0]
                    ax.plot(grid, p, "-", label=t["model"])
                ax.set_title(item_id, fontsize=9)
                ax.set_ylim(0, 1)
                ax.set_xlabel(t["ability"], fontsize=8)
                if n % cols == 0:
                    ax.set_ylabel(t["p_correct"], fontsize=8)
            for n in range(len(flagged), rows_n * cols):
                axes[n // cols][n % cols].set_visible(False)
            axes[0][0].legend(fontsize=7)
            fig.tight_layout()
            parts.append(f"<h3>{esc(t['flagged_icc'])}</h3>" + _img(_png(fig), t["flagged_icc"]))

        if section.adaptive and params is not None:
            known = [j for j, i in enumerate(section.item_ids) if i in index]
            if known:
                # Each candidate's own test information over the items they were given (the
                # pool's would say nothing about the precision anyone got).
                grid = np.linspace(-4, 4, 81)
                sub = params.subset([index[section.item_ids[j]] for j in known])
                per_item = sub.information(grid)  # (grid, items)
                given = ~np.isnan(scores[:, known])
                info = given.astype(float) @ per_item.T  # (candidates, grid)
                fig, ax = plt.subplots(figsize=(6, 3))
                for row in info[:300]:
                    ax.plot(grid, row, color="0.6", linewidth=0.5, alpha=0.5)
                ax.plot(grid, np.median(info, axis=0), color="C0", linewidth=2)
                ax.set_xlabel(t["ability"])
                ax.set_ylabel(t["information"])
                ax.set_title(f"{t['tif']}: {section.name}")
                parts.append(f"<h3>{esc(t['tif'])}</h3>" + _img(_png(fig), t["tif"]))

    if exposure:
        names = sorted(exposure, key=lambda k: -exposure[k])
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.bar(range(len(names)), [exposure[n] for n in names])
        ax.axhline(r_max, color="C3", linestyle="--", label=f"r_max = {r_max:g}")
        ax.legend(fontsize=7)
        labelled = names[:40]
        ax.set_xticks(range(len(labelled)), labelled, rotation=90, fontsize=6)
        ax.set_xlabel(t["item"])
        ax.set_ylabel(t["exposure_rate"])
        ax.set_title(t["exposure"])
        parts.append(f"<h2>{esc(t['exposure'])}</h2>" + _img(_png(fig), t["exposure"]))

    if cheating is not None:
        parts += _flags_html(cheating, t)
    if collusion is not None:
        parts.append(f"<h2>{esc(t['collusion'])}</h2>")
    if collusion:
        parts.append(
            f"<table><tr><th>{t['pair']}</th><th>{t['identical']}</th>"
            f"<th>{t['expected']}</th><th>z</th></tr>"
            + "".join(
                f"<tr><td class=l>{esc(s.first)} – {esc(s.second)}</td>"
                f"<td>{s.identical_wrong}</td><td>{s.expected:.1f}</td><td>{s.z:.1f}</td></tr>"
                for s in collusion
            )
            + "</table>"
        )
    elif collusion is not None:
        parts.append(f"<p>{esc(t['none'])}</p>")
    if dif:
        parts.append(f"<h2>{esc(t['dif'])}</h2>")
        parts.append(
            f"<table><tr><th>{t['item']}</th><th>{t['groups']}</th><th>n</th>"
            f"<th>Δ<sub>MH</sub></th><th>p</th><th>{t['category']}</th></tr>"
            + "".join(
                f"<tr><td class=l>{esc(r.item_id)}</td><td class=l>{esc(ref)} / {esc(foc)}</td>"
                f"<td>{r.reference} / {r.focal}</td><td>{r.delta:.2f}</td>"
                f"<td>{r.p_value:.3g}</td><td>{r.category}</td></tr>"
                for ref, foc, r in dif
            )
            + "</table>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are text (left-aligned), cells escaped."""
    esc = html.escape
    cells = "".join(
        "<tr>" + "".join(f"<td{' class=l' if k < left else ''}>{esc(str(v))}</td>"
                         for k, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>" + cells + \
        "</table>"


def _flags_html(flags: CheatingFlags, t: Mapping[str, str]) -> list[str]:
    """The cheating flags with their evidence: statistic, p-value or threshold, shared items."""
    esc = html.escape
    none = f"<p>{esc(t['none'])}</p>"
    rate = t["cheating_alpha"].format(alpha=f"{flags.alpha:g}", examinees=flags.examinees)
    out = [f"<h2 id=cheating>{esc(t['cheating'])}</h2>", f"<p>{esc(rate)}</p>"]
    if flags.keyed:
        out.append(f"<h3>{esc(t['copying'])}</h3>")
        out.append(_table(
            [t["copier"], t["source"], t["shared"], t["matches"], t["expected"], "p",
             t["false_alarms"]],
            [(p.copier, p.source, p.shared, p.matches, f"{p.expected:.1f}", f"{p.p_value:.2g}",
              f"{p.expected_false_alarms:.2g}") for p in flags.copying], left=2)
            if flags.copying else none)
        if flags.person_fit_cut is not None:
            out.append(f"<h3>{esc(t['person_fit'].format(cut=f'{flags.person_fit_cut:.2f}'))}</h3>")
            out.append(_table([t["examinees"], "lz*"],
                              [(f.examinee, f"{f.lz_star:.2f}") for f in flags.person_fit])
                       if flags.person_fit else none)
    else:
        out.append(f"<p>{esc(t['not_keyed'])}</p>")
    if not flags.timed:
        out.append(f"<p>{esc(t['not_timed'])}</p>")
        return out
    out.append(f"<h3>{esc(t['speed'])}</h3>")
    out.append(_table(
        [t["examinees"], t["answers"], t["too_fast"], t["expected"], "p", t["idle_bursts"]],
        [(f.examinee, f.answers, f.too_fast, f"{f.expected_too_fast:.2f}", f"{f.p_value:.2g}",
          f.idle_bursts) for f in flags.speed]) if flags.speed else none)
    out.append(f"<h3>{esc(t['helper'])}</h3>")
    if flags.rings:
        out.append(_table([t["ring"], t["where"]], [
            (", ".join(ring), ", ".join(flags.where.get(x, "") for x in ring))
            for ring in flags.rings], left=2))
    out.append(_table([t["linked"], t["while_busy"], t["expected"]], [
        (f"{p.first} – {p.second}", p.observed, f"{p.expected:.1f}")
        for p in flags.interleaved]) if flags.interleaved else none)
    return out
