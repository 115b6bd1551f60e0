"""Every cheating signal of a responses export, with its evidence, as one value: copying
pairs, person fit (lz*), aberrant speed and idle-then-burst, and remote-helper links and
rings. What a psychometrician reads in the session report; built only from the public
functions of :mod:`scoring.analysis.copying`, :mod:`scoring.analysis.personfit` and
:mod:`scoring.analysis.timing`, as ``cat-engine cheating`` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from scoring.analysis.copying import (
    BLANK,
    NOT_SHOWN,
    CopyingPair,
    ability_model,
    detect_copying,
)
from scoring.analysis.personfit import lz_star
from scoring.analysis.responses import OMITTED, ResponseTable
from scoring.analysis.timing import (
    InterleavedPair,
    SpeedFlag,
    activity,
    fit_lognormal,
    interleaved_pairs,
    rings,
    speed_flags,
)


@dataclass(frozen=True)
class PersonFit:
    examinee: str
    lz_star: float


@dataclass(frozen=True)
class CheatingFlags:
    """The flags of one analysis at family-wise false-alarm rate ``alpha`` (each kind of
    flag: the chance that an exam with no cheating raises one)."""

    examinees: int
    alpha: float
    #: Was each analysis possible (keyed items for copying and fit; times for speed)?
    keyed: bool = False
    timed: bool = False
    copying: list[CopyingPair] = field(default_factory=list)
    #: lz* at or below ``person_fit_cut`` (the normal quantile of alpha / examinees).
    person_fit: list[PersonFit] = field(default_factory=list)
    person_fit_cut: float | None = None
    speed: list[SpeedFlag] = field(default_factory=list)
    interleaved: list[InterleavedPair] = field(default_factory=list)
    #: Groups of three or more candidates whose answers interleave (a remote helper).
    rings: list[list[str]] = field(default_factory=list)
    #: Examinee -> "site/session/room".
    where: dict[str, str] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.copying or self.person_fit or self.speed or self.interleaved)


def cheating_flags(table: ResponseTable, *, alpha: float = 0.1) -> CheatingFlags:
    """The flags of a responses export (``table.export`` must be set)."""
    from scoring.irt.estimators import MLEEstimator

    data = table.export
    if data is None:
        raise ValueError("cheating flags need a responses export (choices, key and times)")
    names = list(table.examinees)
    n = len(names)
    where = {names[i]: f"{data.site[i] or '-'}/{data.session[i]}/{data.room[i]}"
             for i in range(n)}
    out: dict = {"examinees": n, "alpha": alpha, "where": where}
    keyed = [j for j, k in enumerate(data.key) if k]
    if keyed and n >= 2:
        labels = sorted({c for row in data.choices for c in row if c not in ("", OMITTED)}
                        | {data.key[j] for j in keyed})
        index = {label: i for i, label in enumerate(labels)}
        options = np.full((n, len(keyed)), NOT_SHOWN, dtype=np.int64)
        for i, row in enumerate(data.choices):
            for col, j in enumerate(keyed):
                cell = row[j]
                options[i, col] = (NOT_SHOWN if cell == "" else BLANK if cell == OMITTED
                                   else index[cell])
        key = np.array([index[data.key[j]] for j in keyed])
        out["keyed"] = True
        # One calibration serves both copying and person fit.
        model = ability_model(options, key)
        out["copying"], _ = detect_copying(options, key, names, alpha=alpha, model=model)
        scored = np.where(options == NOT_SHOWN, np.nan, (options == key[None, :]) * 1.0)
        params, cols = model.params, model.cols
        if params is not None:
            mle = MLEEstimator()
            sub = scored[:, cols]
            theta = np.array([
                mle.estimate(params, np.flatnonzero(~np.isnan(r)),
                             r[~np.isnan(r)].astype(int)).theta for r in sub])
            lz = lz_star(params, sub, theta)
            cut = float(norm.ppf(alpha / n))
            out["person_fit_cut"] = cut
            out["person_fit"] = [PersonFit(names[i], float(lz[i])) for i in np.argsort(lz)
                                 if lz[i] <= cut]
    timed = np.isfinite(data.answered_ms)
    if timed.any():
        model = fit_lognormal(data.examinee_index, data.item_index, data.seconds, n,
                              len(table.item_ids))
        links = interleaved_pairs(activity(data.examinee_index[timed],
                                           data.answered_ms[timed], n), names)
        out.update(
            timed=True,
            speed=speed_flags(model, data.examinee_index, data.answered_ms, names, alpha=alpha),
            interleaved=links,
            rings=rings([(p.first, p.second) for p in links]),
        )
    return CheatingFlags(**out)
