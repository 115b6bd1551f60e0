"""Write calibrated parameters (PARAMS.json) into a bank's items, for a new bank version.

Pure: items and a parsed PARAMS.json in, new items and the problems found out. The CLI
(`cat-engine bank recalibrate`) opens the old bank, calls :func:`apply_params` and writes a
new version, so a bank's IRT parameters change only through a signed, versioned file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from item_bank.model import IrtParams, Item
from scoring.irt.linking import Link, Method, link, transform
from scoring.irt.models import DICHOTOMOUS, POLYTOMOUS_MODELS, ItemParams, ParamsError

_DICHOTOMOUS_NAMES = ("1pl", "2pl", "3pl", "4pl")


@dataclass(frozen=True)
class Recalibration:
    items: list[Item]
    #: Ids whose parameters changed.
    updated: list[str]
    problems: list[str]
    #: The linking applied (None: the new parameters were written as they are).
    link: Link | None = None


def _old_params(items: list[Item], ids: Sequence[str]) -> ItemParams:
    """The bank's current parameters of ``ids`` (all calibrated), as ItemParams."""
    by_id = {item.id: item for item in items}
    rows = []
    for item_id in ids:
        irt = by_id[item_id].irt
        if irt.model in POLYTOMOUS_MODELS:
            rows.append({"id": item_id, "model": irt.model, "a": irt.a,
                         "thresholds": list(irt.thresholds or ())})
        else:
            rows.append({"id": item_id, "a": irt.a, "b": irt.b, "c": irt.c, "d": irt.d})
    return ItemParams.from_json({"items": rows})


def apply_params(
    items: Iterable[Item], document: Mapping | Sequence, *, link_method: Method | None = None
) -> Recalibration:
    """Give each item named in a PARAMS.json document its new IRT parameters.

    Items the document does not name keep theirs. Every problem is collected: ids the bank
    does not hold, a dichotomous row for a weighted item (or the reverse), and a row whose
    thresholds do not fit the item's options. With ``link_method``, the new parameters are
    first carried to the bank's scale through the anchors: the items of the document that
    the bank already holds calibrated, of the same kind (:mod:`scoring.irt.linking`).
    """
    items = list(items)
    try:
        params = ItemParams.from_json(document)
    except ParamsError as exc:
        return Recalibration(items, [], [str(exc)])
    applied = None
    if link_method is not None:
        current = {item.id: item.irt for item in items if item.irt is not None}
        anchors = [i for i, item_id in enumerate(params.ids) if item_id in current
                   and (current[item_id].model in POLYTOMOUS_MODELS)
                   == (params.kind[i] != DICHOTOMOUS)]
        if len(anchors) == 1:
            return Recalibration(items, [], [
                f"linking needs at least 2 anchor items (items of {len(params)} in the file "
                f"that the bank already holds calibrated), found {len(anchors)}; give "
                "--link none to write the parameters on their own scale"])
        # No anchor at all: a first calibration, which sets the bank's scale itself.
        if anchors:
            new_anchor = params.subset(anchors)
            applied = link(_old_params(items, new_anchor.ids), new_anchor, link_method)
            try:
                params = transform(params, applied.A, applied.B)
                ItemParams.from_json(params.to_json())
            except ParamsError as exc:
                return Recalibration(items, [], [f"after linking (A = {applied.A:.3f}, "
                                                 f"B = {applied.B:.3f}): {exc}"])
    rows = document.get("items") if isinstance(document, Mapping) else document
    by_id = {item.id: n for n, item in enumerate(items)}
    problems: list[str] = []
    new_irt: dict[str, IrtParams] = {}
    for i, item_id in enumerate(params.ids):
        where = f"item {i + 1} ({item_id})"
        n = by_id.get(item_id)
        if n is None:
            problems.append(f"{where}: the bank holds no item with this id")
            continue
        item = items[n]
        kind = int(params.kind[i])
        if kind == DICHOTOMOUS:
            if item.weights is not None:
                problems.append(f"{where}: dichotomous parameters for an item scored by weights")
                continue
            named = rows[i].get("model") if isinstance(rows[i], Mapping) else None
            new_irt[item_id] = IrtParams(
                model=_dichotomous_name(named, float(params.c[i]), float(params.d[i])),
                a=float(params.a[i]), b=float(params.b[i]),
                c=float(params.c[i]), d=float(params.d[i]))
        else:
            thresholds = params.thresholds[i][~np.isnan(params.thresholds[i])]
            if item.weights is None:
                problems.append(f"{where}: weighted-item parameters for an item with a key")
                continue
            categories = len(set(item.weights.values()))
            if len(thresholds) != categories - 1:
                problems.append(f"{where}: {len(thresholds)} thresholds for an item whose "
                                f"weights make {categories} categories")
                continue
            model = next(name for name, code in POLYTOMOUS_MODELS.items() if code == kind)
            new_irt[item_id] = IrtParams(model=model, a=float(params.a[i]),
                                         thresholds=tuple(float(t) for t in thresholds))
    if problems:
        return Recalibration(items, [], problems)
    updated = [item.id for item in items if item.id in new_irt and item.irt != new_irt[item.id]]
    out = [item.model_copy(update={"irt": new_irt[item.id]}) if item.id in new_irt else item
           for item in items]
    return Recalibration(out, updated, [], applied)


def _dichotomous_name(named: object, c: float, d: float) -> str:
    if isinstance(named, str) and named in _DICHOTOMOUS_NAMES:
        return named
    if d < 1.0:
        return "4pl"
    return "3pl" if c > 0.0 else "2pl"
