"""Answer-copying signal: a planted copier is found; honest candidates are left alone."""

from __future__ import annotations

import numpy as np

from scoring.analysis.collusion import identical_wrong_answers


def test_a_copier_is_the_top_signal_and_independent_work_raises_none(session):
    choices, key, _ = session(n=120, k=60, seed=4)
    examinees = [f"P{i:03d}" for i in range(120)]
    assert identical_wrong_answers(choices, key, examinees) == []
    # P007 copies 45 of P003's 60 answers.
    copied = choices.copy()
    copied[7, :45] = copied[3, :45]
    signals = identical_wrong_answers(copied, key, examinees)
    assert signals and {signals[0].first, signals[0].second} == {"P003", "P007"}
    assert signals[0].identical_wrong > signals[0].expected + 4


def test_blanks_are_not_identical_wrong_answers():
    choices = np.array([["", "", "B"], ["", "", "B"], ["A", "A", "A"]], dtype=object)
    signals = identical_wrong_answers(choices, ["A", "A", "A"], ["x", "y", "z"], z_threshold=-99)
    pair = next(s for s in signals if {s.first, s.second} == {"x", "y"})
    assert pair.identical_wrong == 1
