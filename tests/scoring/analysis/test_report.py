"""The HTML report: self-contained, plots embedded, Indonesian by default."""

from __future__ import annotations

import base64
import re

import numpy as np

from scoring.analysis.collusion import PairSignal
from scoring.analysis.report import SectionData, build_report
from scoring.irt.models import ItemParams


def test_report_is_self_contained_with_every_plot(session):
    choices, key, _ = session(n=150, k=12, seed=5)
    key = list(key)
    key[2] = "C"  # a flagged item gets its ICC
    scores = (choices == np.array(key, dtype=object)).astype(float)
    ids = [f"TWK-{j:03d}" for j in range(12)]
    params = ItemParams.from_json({"items": [{"id": i, "a": 1.0, "b": 0.0} for i in ids]})
    html = build_report(
        [
            SectionData("TWK <1>", ids, scores, choices, key),
            SectionData("TIU", ids, scores, adaptive=True),
        ],
        params=params,
        exposure={i: 0.1 * n for n, i in enumerate(ids)},
        collusion=[PairSignal("P1", "P2", 9, 2.5, 4.4)],
    )
    assert "Laporan analisis butir" in html and "kunci mungkin salah" in html
    assert "TWK &lt;1&gt;" in html  # names are escaped
    assert not re.search(r'src="(?!data:)', html)  # nothing fetched from elsewhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    # 2 histograms, 1 ICC panel per section with flags, 1 information function, 1 exposure.
    assert len(images) >= 5
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert "P1 – P2" in html


def test_report_speaks_english_on_request():
    scores = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    html = build_report([SectionData("S", ["a1", "a2"], scores)], lang="en")
    assert "Item analysis report" in html and "None." in html


def test_distractor_table_gives_n_rates_and_omits_and_adaptive_sections_per_candidate_info():
    choices = np.array([["A", "B"], ["B", ""], ["A", "A"], ["", "C"]], dtype=object)
    scores = np.array([[1, 0], [0, 0], [1, 1], [np.nan, 0]], dtype=float)
    html = build_report([SectionData("S", ["Q1", "Q2"], scores, choices, ["A", "A"])],
                        lang="en")
    assert "<td class=l>Q1</td><td>3</td><td>0.67</td>" in html  # shown to 3, 2 right
    assert "<b>A</b> 0.67" in html  # the key's overall rate among those shown
    assert "omitted 0.25" in html  # Q2: one of four shown left it blank
    params = ItemParams.from_json({"items": [{"id": "Q1", "a": 1.2, "b": 0.0},
                                             {"id": "Q2", "a": 0.8, "b": 0.5}]})
    html = build_report([SectionData("CAT", ["Q1", "Q2"], scores, adaptive=True)],
                        params=params, exposure={"Q1": 0.75, "Q2": 1.0}, r_max=0.5)
    assert "Fungsi informasi tes" in html and "Tingkat keterpaparan butir" in html
