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
from scoring.irt.models import DICHOTOMOUS, POLYTOMOUS_MODELS, ItemParams, ParamsError

_DICHOTOMOUS_NAMES = ("1pl", "2pl", "3pl", "4pl")


@dataclass(frozen=True)
class Recalibration:
    items: list[Item]
    #: Ids whose parameters changed.
    updated: list[str]
    problems: list[str]


def apply_params(items: Iterable[Item], document: Mapping | Sequence) -> Recalibration:
    """Give each item named in a PARAMS.json document its new IRT parameters.

    Items the document does not name keep theirs. Every problem is collected: ids the bank
    does not hold, a dichotomous row for a weighted item (or the reverse), and a row whose
    thresholds do not fit the item's options.
    """
    items = list(items)
    try:
        params = ItemParams.from_json(document)
    except ParamsError as exc:
        return Recalibration(items, [], [str(exc)])
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
    return Recalibration(out, updated, [])


def _dichotomous_name(named: object, c: float, d: float) -> str:
    if isinstance(named, str) and named in _DICHOTOMOUS_NAMES:
        return named
    if d < 1.0:
        return "4pl"
    return "3pl" if c > 0.0 else "2pl"
