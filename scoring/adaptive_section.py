"""Adaptive sections in the live exam: forms with open slots, and a sheet that picks items.

An exam with ``adaptive`` sections gets forms in two parts (docs/exams.md, "Adaptive
sections"): the fixed sections are drawn by :class:`scoring.forms.FormAssembler` from the exam
without its adaptive sections; each adaptive section holds ``max_items`` open slots (item id
``""``) that the IRT engine fills one by one as answers are saved. The stored form keeps the
open slots; what filled them is the candidate's ``adaptive`` state, committed with each answer.

A section scored by option weights (TKP-like) may be adaptive too: its pool is the items with
graded-response or generalised partial-credit parameters, and an answer's response is its
category, the rank of the chosen option's weight among the item's distinct weights (weights
1..5 give categories 0..4).

Everything here is deterministic in (exam seed, candidate, section): the engine's random
draws, the option order of each administered item, and so the next item. After a crash the
state is rebuilt from the committed answer events alone and checked against the stored one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from item_bank.model import Item, ItemMeta
from scoring.exam import Exam, Section
from scoring.forms import Form, FormAssembler, FormError, place_fixed
from scoring.irt.adaptive import AdaptiveState, Engine
from scoring.irt.models import POLYTOMOUS_MODELS, ItemParams
from scoring.irt.scaling import true_score
from scoring.rules import ScoreSheet, build_score_key

log = logging.getLogger(__name__)

SEED_DOMAIN = "cat-engine/adaptive/1"


class AdaptiveMismatch(RuntimeError):
    """The stored adaptive state differs from the one the answer events rebuild."""


def is_adaptive(exam: Exam) -> bool:
    return any(section.adaptive is not None for section in exam.sections)


def _hash_int(*parts: Any) -> int:
    text = json.dumps([SEED_DOMAIN, *parts], separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def engine_seed(exam_seed: str, candidate_id: str, section: str) -> int:
    """The seed of a candidate's random draws (randomesque, Sympson-Hetter) in a section."""
    return _hash_int("engine", exam_seed, str(candidate_id), section)


def option_order(exam: Exam, exam_seed: str, candidate_id: str, item_id: str,
                 n_options: int, fixed: tuple[int, ...] = ()) -> tuple[int, ...]:
    """Shown order of an administered item's options: a uniform permutation of those not
    ``fixed`` (fixed ones keep their place), or authored."""
    if not exam.shuffle_options:
        return tuple(range(n_options))
    rng = np.random.default_rng(_hash_int("options", exam_seed, str(candidate_id), item_id))
    free = rng.permutation(n_options - len(fixed))
    return tuple(int(i) for i in place_fixed(free, n_options, fixed)[:n_options])


# -- the item pool of each adaptive section ------------------------------------------------


def weight_levels(weights: Mapping[str, float]) -> tuple[float, ...]:
    """A weighted item's distinct option weights, ascending: category k earns levels[k]."""
    return tuple(sorted(set(weights.values())))


@dataclass(frozen=True, eq=False)
class Pool:
    """An adaptive section's calibrated items (sorted by id) and its engine."""

    section: Section
    params: ItemParams
    engine: Engine
    n_options: dict[str, int]
    #: Weighted sections: each item's :func:`weight_levels`, read by :meth:`load_weights`.
    weights: dict[str, tuple[float, ...]] = field(default_factory=dict)
    #: Items with fixed options: their authored option numbers that keep their place.
    fixed: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def ids(self) -> tuple[str, ...]:
        return self.params.ids

    @property
    def weighted(self) -> bool:
        return self.section.scoring.rule == "weights"

    def load_weights(self, item: Callable[[str], Item]) -> None:
        """Read the option weights of a weighted pool's items (once); :class:`FormError`
        names the items whose distinct weights do not match their IRT categories."""
        if not self.weighted or self.weights:
            return
        levels = {item_id: weight_levels(item(item_id).weights or {}) for item_id in self.ids}
        bad = [f"{item_id} ({len(levels[item_id])} weights, {n} categories)"
               for item_id, n in zip(self.ids, self.params.n_categories, strict=True)
               if len(levels[item_id]) != n]
        if bad:
            raise FormError(f"adaptive section {self.section.id}: {_some(bad)} have not one "
                            "distinct option weight per category of their IRT model")
        self.weights.update(levels)

    def category(self, item: Item, label: str) -> int:
        """The response of ``label``: 0/1 against the key, or its weight's category."""
        if item.weights is None:
            return int(label == item.key)
        return self.weights[item.id].index(item.weights[label])

    @cached_property
    def _category_points(self) -> np.ndarray:
        if not self.weights:
            raise RuntimeError(f"adaptive section {self.section.id}: weights not loaded")
        table = np.zeros((len(self.ids), int(self.params.n_categories.max())))
        for i, item_id in enumerate(self.ids):
            table[i, : len(self.weights[item_id])] = self.weights[item_id]
        return table

    def point_range(self) -> tuple[float, float]:
        """Fewest and most points one item of the section can earn (blank aside)."""
        if self.weighted:
            table = self._category_points
            return float(min(w[0] for w in self.weights.values())), float(table.max())
        correct, wrong = self.section.scoring.key_points
        return wrong, correct

    def scaled(self, theta: float) -> float:
        """Expected points on a random fixed form of the section (IRT true score)."""
        rule = self.section.scoring
        share = self.section.items / len(self.params)
        if self.weighted:
            table = self._category_points
            return float(true_score(theta, self.params, category_points=table)) * share
        correct, wrong = rule.key_points
        per_item = (correct - wrong) * share
        return float(true_score(theta, self.params, per_item)) + self.section.items * wrong


def pools(exam: Exam, index: Mapping[str, ItemMeta],
          item: Callable[[str], Item] | None = None) -> dict[str, Pool]:
    """The pool of every adaptive section; :class:`FormError` names what the bank lacks.

    With ``item`` (the bank's item reader) the option weights of weighted pools are read and
    checked against their items' IRT categories now.
    """
    out: dict[str, Pool] = {}
    problems: list[str] = []
    for section in exam.sections:
        config = section.adaptive_config()
        if config is None:
            continue
        metas = sorted((m for m in index.values() if m.section == section.id),
                       key=lambda m: m.id)
        if section.topics is not None:
            metas = [m for m in metas if m.topic in section.topics]
        weighted = section.scoring.rule == "weights"
        lacking = [m.id for m in metas if not _calibrated(m, weighted)]
        calibrated = [m for m in metas if _calibrated(m, weighted)]
        wrong_model = [m.id for m in calibrated
                       if section.adaptive.model not in (None, m.irt.model)]
        wrong_rule = [m.id for m in calibrated if m.scoring != section.scoring.rule]
        usable = [m for m in calibrated if m.id not in {*wrong_model, *wrong_rule}]
        where = f"adaptive section {section.id}"
        if wrong_rule:
            problems.append(f"{where}: {_some(wrong_rule)} are scored by "
                            + ("a key, not by option weights" if weighted else
                               "option weights, not by a key"))
        if wrong_model:
            problems.append(f"{where}: {_some(wrong_model)} are not calibrated with the "
                            f"{section.adaptive.model} model the exam asks for")
        if len(usable) < config.max_items:
            kind = "GRM/GPCM " if weighted else ""
            hint = f"; without {kind}IRT parameters: {_some(lacking)}" if lacking else ""
            problems.append(f"{where}: needs {config.max_items} items with {kind}IRT "
                            f"parameters, the bank has {len(usable)}{hint}")
            continue
        if lacking:
            log.info("%s: %d item(s) without IRT parameters are not used", where, len(lacking))
        if wrong_rule or wrong_model:
            continue
        params = ItemParams.from_metas(usable, polytomous=weighted)
        try:
            engine = Engine.build(params, config)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        pool = Pool(section, params, engine, {m.id: m.n_options for m in usable},
                    fixed={m.id: m.fixed for m in usable if m.fixed})
        if item is not None:
            try:
                pool.load_weights(item)
            except FormError as exc:
                problems.append(str(exc))
                continue
        out[section.id] = pool
    if problems:
        raise FormError("; ".join(problems))
    return out


def _calibrated(meta: ItemMeta, weighted: bool) -> bool:
    """Has IRT parameters of the kind its section needs: GRM/GPCM if weighted, else 0/1."""
    return meta.irt is not None and (meta.irt.model in POLYTOMOUS_MODELS) == weighted


def _some(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return f"{len(ids)} item(s) ({shown})"


# -- forms ---------------------------------------------------------------------------------


class AdaptiveFormAssembler:
    """Like :class:`FormAssembler` for an exam with adaptive sections (open slots)."""

    def __init__(self, exam: Exam, index: Mapping[str, ItemMeta],
                 item: Callable[[str], Item] | None = None):
        self.exam = exam
        self.pools = pools(exam, index, item)
        fixed = [s for s in exam.sections if s.adaptive is None]
        self._fixed = (FormAssembler(exam.model_copy(update={"sections": fixed}), index)
                       if fixed else None)

    def assemble(self, *, exam_seed: str, candidate_id: str, seat: int | None = None) -> Form:
        drawn: list[Any] = []
        if self._fixed is not None:
            drawn = list(self._fixed.assemble(exam_seed=exam_seed, candidate_id=candidate_id,
                                              seat=seat).items)
        rows: list[Any] = []
        for section in self.exam.sections:
            if section.adaptive is None:
                rows += [item for item in drawn if item[1] == section.id]
            else:
                rows += [("", section.id, ())] * section.positions
        return Form.from_items(self.exam.id, exam_seed, candidate_id, seat, rows)


def form_assembler(exam: Exam, index: Mapping[str, ItemMeta],
                   item: Callable[[str], Item] | None = None):
    """The assembler of an exam: :class:`FormAssembler`, or the adaptive one when needed
    (``item``, the bank's item reader, lets it check weighted pools' option weights too)."""
    if is_adaptive(exam):
        return AdaptiveFormAssembler(exam, index, item)
    return FormAssembler(exam, index)


# -- a candidate's sheet -------------------------------------------------------------------


@dataclass
class Run:
    """One candidate in one adaptive section."""

    pool: Pool
    first: int
    seed: int
    state: AdaptiveState
    #: (pool index, items set aside) of the item on screen now, None if none.
    pending: tuple[int, np.ndarray] | None = None
    done: bool = False

    def advance(self) -> None:
        if self.pending is None and not self.done:
            self.pending = self.pool.engine.select(self.state, self.seed)
            self.done = self.pending is None

    @property
    def answered(self) -> int:
        return len(self.state.administered)

    @property
    def given(self) -> int:
        return self.answered + (self.pending is not None)

    def item_id(self, k: int) -> str:
        items = (*self.state.administered,
                 *((self.pending[0],) if self.pending is not None else ()))
        return self.pool.ids[items[k]]

    def score(self) -> float:
        section = self.pool.section
        blank = section.items * section.scoring.blank
        if not self.state.responses:
            return blank
        # An unfinished test scores in proportion to its answers: stopping early never pays.
        share = 1.0 if self.done else self.answered / self.pool.engine.config.max_items
        return float(round(blank + (self.pool.scaled(self.state.theta) - blank) * share))

    def persisted(self) -> dict[str, Any]:
        return {**self.state.to_dict(), "items": [self.pool.ids[i] for i in
                                                  self.state.administered]}


class _Bounds:
    def __init__(self, bounds: dict[str, tuple[float, float]]):
        self.bounds = bounds


class AdaptiveSheet:
    """A candidate's running scores when some sections are adaptive.

    Stands where :class:`scoring.rules.ScoreSheet` stands (``answer``, ``section_scores``,
    ``total``, ``key.bounds``); ``form`` is the candidate's form with the administered items
    in their slots, rebuilt after each answer in an adaptive section.
    """

    def __init__(self, exam: Exam, form: Form, pools_: Mapping[str, Pool],
                 item: Callable[[str], Item], answers: Sequence[int | None]):
        self.exam = exam
        self._slots = form
        self._item = item
        self.runs: dict[str, Run] = {}
        self._run_at: dict[int, Run] = {}
        spans = form.section_positions()
        fixed_positions = [p for p in range(len(form)) if form.item_ids[p]]
        self._fixed_index = {p: i for i, p in enumerate(fixed_positions)}
        fixed_form = Form.from_items(form.exam_id, form.exam_seed, form.candidate_id, form.seat,
                                     [form.items[p] for p in fixed_positions])
        items = {i: item(i) for i in fixed_form.item_ids}
        self._fixed = ScoreSheet(build_score_key(exam, fixed_form, items),
                                 [answers[p] for p in fixed_positions])
        bounds = dict(self._fixed.key.bounds)
        for section_id, pool in pools_.items():
            span = spans[section_id]
            pool.load_weights(item)
            run = Run(pool, span.start, engine_seed(form.exam_seed, form.candidate_id,
                                                    section_id), pool.engine.initial_state())
            self.runs[section_id] = run
            self._run_at.update((p, run) for p in span)
            rule = pool.section.scoring
            points = (*pool.point_range(), rule.blank)
            bounds[section_id] = (pool.section.items * min(points),
                                  pool.section.items * max(points))
            run.advance()
            for k in span:  # replay the committed answers, in order
                choice = answers[k]
                if choice is None:
                    break
                if run.pending is None or k != run.first + run.answered:
                    raise AdaptiveMismatch(f"section {section_id}: an answer at position {k} "
                                           "that the engine never gave")
                self._record(run, choice)
            later = [k for k in span[run.answered + 1:] if answers[k] is not None]
            if later:
                raise AdaptiveMismatch(f"section {section_id}: answers at positions {later} "
                                       "after an unanswered adaptive item")
        self.key = _Bounds(bounds)
        self.form = self._build_form()

    # -- what the server asks --------------------------------------------------------------

    def run_at(self, position: int) -> Run | None:
        return self._run_at.get(position)

    def check(self, position: int, *, answering: bool, choice: int | None = None) -> str | None:
        """Why ``position`` may not be shown or answered now (None: it may)."""
        run = self._run_at.get(position)
        if run is None:
            return None
        current = run.first + run.answered
        if position < current:
            return "an adaptive item is answered once and cannot be revisited"
        if position > current or run.pending is None:
            return "this adaptive item is not given yet (answer the current one first)"
        if answering and choice is None:
            return "an adaptive item needs an answer; it cannot be left blank"
        return None

    def answer(self, position: int, shown_choice: int | None):
        run = self._run_at.get(position)
        if run is None:
            return self._fixed.answer(self._fixed_index[position], shown_choice)
        reason = self.check(position, answering=True, choice=shown_choice)
        if reason is not None:
            raise ValueError(reason)
        self._record(run, shown_choice)
        self.form = self._build_form()
        return None

    def info(self, section_id: str) -> dict[str, Any]:
        """The protocol's view of an adaptive section: positions given so far (the last
        one unanswered unless ``done``), and whether the section is over."""
        run = self.runs[section_id]
        return {"given": run.given, "done": run.done}

    def persisted(self) -> dict[str, Any]:
        """What the store keeps: per adaptive section, the engine's state and item ids."""
        return {section_id: run.persisted() for section_id, run in self.runs.items()}

    def verify(self, stored: Mapping[str, Any] | None) -> None:
        """Raise :class:`AdaptiveMismatch` if the stored state is not the rebuilt one."""
        stored = stored or {}
        for section_id, run in self.runs.items():
            mine = run.persisted()
            theirs = stored.get(section_id)
            if theirs is None:
                if run.answered:
                    raise AdaptiveMismatch(f"section {section_id}: no stored state for "
                                           f"{run.answered} answer(s)")
                continue
            same = (theirs.get("items") == mine["items"]
                    and theirs.get("responses") == mine["responses"]
                    and abs(float(theirs.get("theta", np.nan)) - mine["theta"]) < 1e-9
                    and abs(float(theirs.get("se", np.nan)) - mine["se"]) < 1e-9)
            if not same:
                raise AdaptiveMismatch(f"section {section_id}: stored {theirs} but the answer "
                                       f"events give {mine}")

    # -- ScoreSheet's interface ------------------------------------------------------------

    @property
    def section_scores(self) -> dict[str, float]:
        scores = dict(self._fixed.section_scores)
        for section_id, run in self.runs.items():
            scores[section_id] = run.score()
        return {s: scores[s] for s in self.exam.section_ids}

    @property
    def total(self) -> float:
        return sum(self.section_scores.values())

    # -- internals -------------------------------------------------------------------------

    def _record(self, run: Run, shown_choice: int) -> None:
        assert run.pending is not None
        index, set_aside = run.pending
        item_id = run.pool.ids[index]
        item = self._item(item_id)
        order = self._order(item_id, len(item.options), run.pool.fixed.get(item_id, ()))
        if not 0 <= shown_choice < len(order):
            raise ValueError(f"choice {shown_choice} is not one of {len(order)} options")
        label = list(item.options)[order[shown_choice]]
        response = run.pool.category(item, label)
        run.state = run.pool.engine.record(run.state, index, response, set_aside)
        run.pending = None
        run.advance()

    def _order(self, item_id: str, n_options: int,
               fixed: tuple[int, ...] = ()) -> tuple[int, ...]:
        f = self._slots
        return option_order(self.exam, f.exam_seed, f.candidate_id, item_id, n_options, fixed)

    def _build_form(self) -> Form:
        rows = list(self._slots.items)
        for run in self.runs.values():
            for k in range(run.given):
                item_id = run.item_id(k)
                order = self._order(item_id, run.pool.n_options[item_id],
                                    run.pool.fixed.get(item_id, ()))
                rows[run.first + k] = (item_id, run.pool.section.id, order)
        f = self._slots
        return Form.from_items(f.exam_id, f.exam_seed, f.candidate_id, f.seat, rows)


def pools_for(session: Any, bank: Any) -> dict[str, Pool]:
    """The session's pools, built once per unlocked bank (like grading's assemblers)."""
    return bank.per_session("adaptive_pools", session,
                            lambda: pools(session.exam, bank.index, bank.item))


def score_sheet(session: Any, bank: Any, form: Form, answers: Sequence[int | None],
                stored: Mapping[str, Any] | None = None) -> AdaptiveSheet:
    """The candidate's sheet rebuilt from their answers, checked against the stored state.

    The answer events are the truth: a stored state that disagrees is logged, not used.
    """
    sheet = AdaptiveSheet(session.exam, form, pools_for(session, bank), bank.item, answers)
    try:
        sheet.verify(stored)
    except AdaptiveMismatch as exc:
        log.error("candidate %s: %s", form.candidate_id, exc)
    return sheet
