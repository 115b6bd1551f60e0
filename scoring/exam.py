"""Exam definitions: the blueprint, clocks, scoring rules, thresholds and ranking of an exam.

An exam is plain data read from a TOML file (or a built-in preset such as ``skd``). It is
validated once, when loaded: every problem of a file is reported at once, each with its key
path (``sections[1].topics.deret: must be > 0``), so an author fixes a file in one pass.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from item_bank.errors import Problem
from scoring.irt.adaptive import AdaptiveConfig

#: Section, rule-set and accommodation ids appear in file keys, URLs and reports.
SECTION_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,31}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
#: Names that may stand wherever an exam file is expected.
PRESETS = ("pppk", "skd")
#: The ranking key that means the sum of all sections.
TOTAL = "total"

SectionId = Annotated[str, StringConstraints(pattern=SECTION_ID_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Count = Annotated[int, Field(gt=0, le=10_000)]
Minutes = Annotated[int, Field(gt=0, le=24 * 60)]
ExtraMinutes = Annotated[int, Field(ge=0, le=24 * 60)]
Points = Annotated[float, Field(ge=-1_000, le=1_000)]


class ExamError(Exception):
    """An exam file or preset could not be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        if len(problems) == 1:
            message = str(problems[0])
        else:
            message = f"{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(message)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Scoring(_Model):
    """How a section's items earn points.

    ``key``: ``correct`` for the keyed option, ``wrong`` for any other (negative marking is a
    negative ``wrong``), ``blank`` for no answer. ``weights``: each option's weight from the
    bank (SKD's TKP, 1..5), ``blank`` for no answer.
    """

    rule: Literal["key", "weights"]
    correct: Points | None = None
    wrong: Points | None = None
    blank: Points = 0.0

    @model_validator(mode="after")
    def _points_match_rule(self) -> Scoring:
        if self.rule == "weights":
            if self.correct is not None or self.wrong is not None:
                raise ValueError(
                    "'correct' and 'wrong' belong to rule \"key\"; rule \"weights\" takes "
                    "each option's weight from the bank"
                )
        elif self.correct is None:
            raise ValueError("rule \"key\" needs 'correct' (points for the keyed option)")
        elif self.correct <= (self.wrong or 0.0):
            raise ValueError("'correct' must give more points than 'wrong'")
        return self

    @property
    def key_points(self) -> tuple[float, float]:
        """(correct, wrong) of a keyed section."""
        return (self.correct or 0.0, self.wrong or 0.0)


class AdaptiveSection(AdaptiveConfig):
    """The ``adaptive`` table of a section: the IRT engine's settings (docs/exams.md).

    Items come from the bank section's items with dichotomous ``irt`` parameters (GRM/GPCM
    ones when the section scores by option weights); ``model``
    (when given) requires every such item to use that IRT model. ``max_items`` defaults to
    the section's ``items``; the section's ``topics`` become the topic quotas.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    model: Literal["1pl", "2pl", "3pl", "4pl"] | None = None


class Section(_Model):
    """One subtest: how many items of which topics and difficulties, and how they score."""

    id: SectionId
    title: Title = ""
    title_en: Title = ""
    items: Count
    #: Items per topic; they add up to ``items``. None: any topic of the section.
    topics: dict[Label, Count] | None = None
    #: Items per difficulty label; they add up to ``items``. None: any difficulty.
    difficulty: dict[Label, Count] | None = None
    scoring: Scoring
    #: This section's own clock. None: the section runs on the exam's clock.
    time_limit_minutes: Minutes | None = None
    #: Settings of an adaptive section (items chosen one by one by the IRT engine).
    adaptive: AdaptiveSection | None = None

    @model_validator(mode="before")
    @classmethod
    def _adaptive_length(cls, value: Any) -> Any:
        # An adaptive section gives at most as many items as its fixed form, unless told.
        if isinstance(value, Mapping):
            table, items = value.get("adaptive"), value.get("items")
            if isinstance(table, Mapping) and "max_items" not in table and _is_int(items):
                value = {**value, "adaptive": {**table, "max_items": items}}
        return value

    @property
    def positions(self) -> int:
        """Positions on a candidate's form: ``items``, or ``max_items`` when adaptive."""
        return self.adaptive.max_items if self.adaptive is not None else self.items

    def adaptive_config(self) -> AdaptiveConfig | None:
        """The engine's settings with the section's topic counts as its quotas."""
        if self.adaptive is None:
            return None
        if self.topics is None or self.adaptive.topic_quotas is not None:
            return self.adaptive
        return self.adaptive.model_copy(update={"topic_quotas": dict(self.topics)})

    @field_validator("topics", "difficulty")
    @classmethod
    def _not_empty(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is not None and not value:
            raise ValueError("must name at least one entry, or be left out")
        return value


class CombinedMinimum(_Model):
    """A minimum on the sum of several sections (PPPK 2023: managerial + socio-cultural)."""

    sections: Annotated[list[SectionId], Field(min_length=2)]
    minimum: Points


class RuleSet(_Model):
    """The passing checks of one formation; only the checks named here are applied."""

    title: Title = ""
    title_en: Title = ""
    #: Minimum score per section.
    minimum: dict[SectionId, Points] = Field(default_factory=dict)
    #: Minimum total over all sections.
    total: Points | None = None
    combined: list[CombinedMinimum] = Field(default_factory=list)


class Ranking(_Model):
    """Order of candidates: each key descending, the next key breaking ties of the previous."""

    #: Candidates who pass come before those who do not, whatever their scores.
    passed_first: bool = True
    #: ``total`` or section ids.
    by: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: [TOTAL])


#: Accessibility supports a terminal gives from items' catalogs (item_bank.model).
SupportName = Literal["spoken", "simplified-language"]


class Accommodation(_Model):
    """Extra time for a group of candidates (``tunanetra = 30``: 30 more minutes), and the
    accessibility supports their terminal offers from items that carry them."""

    #: Added to the exam's clock.
    minutes: ExtraMinutes = 0
    #: Added to the clocks of sections that have their own.
    sections: dict[SectionId, ExtraMinutes] = Field(default_factory=dict)
    #: ``spoken``: items read aloud; ``simplified-language``: the alternative text shown.
    supports: tuple[SupportName, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _minutes_shorthand(cls, value: Any) -> Any:
        # `tunanetra = 30` is short for `tunanetra = { minutes = 30 }`.
        if _is_int(value):
            return {"minutes": value}
        if not isinstance(value, Mapping | Accommodation):
            raise ValueError("must be minutes (30) or a table { minutes = 30, sections = {...} }")
        return value


class TimeBlock(NamedTuple):
    """A run of sections on one clock."""

    sections: tuple[str, ...]
    minutes: int


class Exam(_Model):
    """An exam: sections in order, clocks, navigation, shuffling, thresholds and ranking."""

    id: Name
    title: Title = ""
    title_en: Title = ""
    #: The clock shared by every section without its own.
    time_limit_minutes: Minutes | None = None
    #: "free": move between all items until the end (SKD); "forward-only": never back.
    navigation: Literal["free", "forward-only"] = "free"
    #: Shuffle item order within each section, per candidate.
    shuffle_items: bool = True
    #: Shuffle the options of each item, per candidate.
    shuffle_options: bool = True
    sections: Annotated[list[Section], Field(min_length=1, max_length=50)]
    #: Passing rules per formation (rule-set name -> checks).
    rule_sets: dict[Name, RuleSet] = Field(default_factory=dict)
    #: The rule set applied when a candidate's formation names none.
    default_rule_set: Name | None = None
    ranking: Ranking = Field(default_factory=Ranking)
    accommodations: dict[Name, Accommodation] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Exam:
        # load_exam reports these problems itself, beside the structural ones.
        if info.context and info.context.get("skip_consistency"):
            return self
        problems = consistency_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(f"{where}: {why}" for where, why in problems))
        return self

    # -- derived views -------------------------------------------------------------------

    @property
    def section_ids(self) -> tuple[str, ...]:
        return tuple(section.id for section in self.sections)

    @property
    def n_items(self) -> int:
        return sum(section.items for section in self.sections)

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    def rule_set(self, name: str | None = None) -> tuple[str | None, RuleSet | None]:
        """The rule set called ``name`` (None: the default); (None, None) if none apply."""
        if name is None:
            name = self.default_rule_set
            if name is None and len(self.rule_sets) == 1:
                name = next(iter(self.rule_sets))
            if name is None:
                return None, None
        try:
            return name, self.rule_sets[name]
        except KeyError:
            known = ", ".join(self.rule_sets) or "none"
            raise KeyError(f"exam {self.id} has no rule set {name!r} (it has: {known})") from None

    def time_blocks(self, accommodation: str | None = None) -> tuple[TimeBlock, ...]:
        """The clocks of the exam in order, with an accommodation's extra minutes added."""
        extra = Accommodation()
        if accommodation is not None:
            try:
                extra = self.accommodations[accommodation]
            except KeyError:
                known = ", ".join(self.accommodations) or "none"
                raise KeyError(
                    f"exam {self.id} has no accommodation {accommodation!r} (it has: {known})"
                ) from None
        blocks: list[TimeBlock] = []
        shared: list[str] = []
        for section in self.sections:
            if section.time_limit_minutes is None:
                shared.append(section.id)
                continue
            if shared:
                blocks.append(TimeBlock(tuple(shared), self._shared_minutes(extra)))
                shared = []
            minutes = section.time_limit_minutes + extra.sections.get(section.id, 0)
            blocks.append(TimeBlock((section.id,), minutes))
        if shared:
            blocks.append(TimeBlock(tuple(shared), self._shared_minutes(extra)))
        return tuple(blocks)

    def _shared_minutes(self, extra: Accommodation) -> int:
        assert self.time_limit_minutes is not None  # guaranteed by consistency_problems
        return self.time_limit_minutes + extra.minutes

    def supports_for(self, accommodation: str | None) -> tuple[str, ...]:
        """The accessibility supports a candidate with ``accommodation`` is offered."""
        extra = self.accommodations.get(accommodation or "")
        return extra.supports if extra is not None else ()

    def total_minutes(self, accommodation: str | None = None) -> int:
        return sum(block.minutes for block in self.time_blocks(accommodation))


# -- consistency across fields ---------------------------------------------------------------


def consistency_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key path, reason) for every rule that spans several fields of an exam.

    Works on raw file data as well as on a validated exam's dump: a part whose shape is wrong
    is skipped here, because structural validation reports it.
    """
    problems: list[tuple[str, str]] = []
    raw_sections = data.get("sections")
    sections = [s for s in raw_sections if isinstance(s, Mapping)] if _is_list(raw_sections) else []
    ids: dict[str, int] = {}
    max_points: dict[str, float] = {}
    for i, section in enumerate(raw_sections if _is_list(raw_sections) else []):
        if not isinstance(section, Mapping):
            continue
        where = f"sections[{i}]"
        section_id = section.get("id")
        if isinstance(section_id, str):
            if section_id == TOTAL:
                problems.append((f"{where}.id", f"'{TOTAL}' is reserved for the sum of sections"))
            if section_id in ids:
                first = f"sections[{ids[section_id]}]"
                problems.append((f"{where}.id", f"{section_id!r} is already the id of {first}"))
            ids.setdefault(section_id, i)
        items = section.get("items")
        for field in ("topics", "difficulty"):
            counts = section.get(field)
            if isinstance(counts, Mapping) and _is_int(items):
                values = list(counts.values())
                if all(_is_int(v) for v in values) and sum(values) != items:
                    reason = f"add up to {sum(values)}, the section has {items} items"
                    problems.append((f"{where}.{field}", reason))
        scoring = section.get("scoring")
        keyed = isinstance(scoring, Mapping) and scoring.get("rule") == "key"
        problems += _adaptive_problems(where, section)
        if keyed and isinstance(section_id, str) and _is_int(items) and _is_number(
            scoring.get("correct")
        ):
            blank = scoring.get("blank", 0.0)
            best = max(scoring["correct"], blank if _is_number(blank) else 0.0)
            max_points[section_id] = items * best

    exam_clock = data.get("time_limit_minutes")
    shared = [
        i
        for i, section in enumerate(sections)
        if section.get("time_limit_minutes") is None
    ]
    if exam_clock is None:
        for i in shared:
            reason = "required when the exam has no time_limit_minutes"
            problems.append((f"sections[{i}].time_limit_minutes", reason))
    elif sections and not shared:
        problems.append(("time_limit_minutes", "not used: every section has its own clock"))
    if shared and shared != list(range(shared[0], shared[-1] + 1)):
        problems.append(
            (
                f"sections[{shared[-1]}].time_limit_minutes",
                "sections on the exam's clock must follow each other; give this one its own clock "
                "or move it",
            )
        )

    own_clock = {s.get("id") for s in sections if s.get("time_limit_minutes") is not None}
    accommodations = data.get("accommodations")
    if isinstance(accommodations, Mapping):
        for name, extra in accommodations.items():
            extra_sections = extra.get("sections") if isinstance(extra, Mapping) else None
            if isinstance(extra_sections, Mapping):
                for section_id in extra_sections:
                    if section_id not in ids:
                        problems.append(
                            (f"accommodations.{name}.sections.{section_id}", "no such section")
                        )
                    elif section_id not in own_clock:
                        problems.append(
                            (
                                f"accommodations.{name}.sections.{section_id}",
                                "this section runs on the exam's clock: add the minutes there",
                            )
                        )
            minutes = extra.get("minutes") if isinstance(extra, Mapping) else extra
            if _is_int(minutes) and minutes and exam_clock is None:
                where = f"accommodations.{name}"
                if isinstance(extra, Mapping):
                    where += ".minutes"
                problems.append((where, "the exam has no clock of its own to extend"))

    rule_sets = data.get("rule_sets")
    if isinstance(rule_sets, Mapping):
        total_max = sum(max_points.values()) if len(max_points) == len(ids) else None
        for name, rules in rule_sets.items():
            if isinstance(rules, Mapping):
                where = f"rule_sets.{name}"
                problems += _rule_set_problems(where, rules, ids, max_points, total_max)
        default = data.get("default_rule_set")
        if isinstance(default, str) and default not in rule_sets:
            problems.append(("default_rule_set", f"no rule set {default!r} in rule_sets"))
        if default is None and len(rule_sets) > 1:
            problems.append(("default_rule_set", "required when there are several rule sets"))
    elif data.get("default_rule_set") is not None:
        problems.append(("default_rule_set", "there are no rule_sets"))

    ranking = data.get("ranking")
    by = ranking.get("by") if isinstance(ranking, Mapping) else None
    if _is_list(by) and ids:
        seen: set[str] = set()
        for i, key in enumerate(by):
            if key != TOTAL and key not in ids:
                problems.append((f"ranking.by[{i}]", f"{key!r} is neither '{TOTAL}' nor a section"))
            if key in seen:
                problems.append((f"ranking.by[{i}]", f"{key!r} is listed twice"))
            seen.add(key)
    return problems


def _adaptive_problems(where: str, section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What an adaptive table asks that the rest of its section cannot give."""
    table = section.get("adaptive")
    if not isinstance(table, Mapping):
        return []
    problems = []
    # Rule "weights" is adaptive too: its items answer in categories (GRM/GPCM).
    if section.get("difficulty") is not None:
        problems.append((f"{where}.difficulty", "an adaptive section chooses items by their IRT "
                         "parameters: leave difficulty out"))
    if table.get("time_limit_s") is not None:
        problems.append((f"{where}.adaptive.time_limit_s", "a live section is timed by its "
                         "clock: give the section time_limit_minutes instead"))
    if section.get("topics") is not None and table.get("topic_quotas") is not None:
        problems.append((f"{where}.adaptive.topic_quotas", "the section's topics are its quotas "
                         "already: give one or the other"))
    return problems


def _rule_set_problems(
    where: str,
    rules: Mapping[str, Any],
    ids: Mapping[str, int],
    max_points: Mapping[str, float],
    total_max: float | None,
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    minimum = rules.get("minimum")
    combined = rules.get("combined")
    has_checks = bool(minimum) or rules.get("total") is not None or bool(combined)
    if not has_checks:
        problems.append((where, "names no check: give minimum, total or combined"))
    if isinstance(minimum, Mapping):
        for section_id, value in minimum.items():
            path = f"{where}.minimum.{section_id}"
            if section_id not in ids:
                problems.append((path, "no such section"))
            elif _is_number(value) and value > max_points.get(section_id, math.inf):
                top = max_points[section_id]
                problems.append((path, f"can never be reached: the section scores at most {top:g}"))
    total = rules.get("total")
    if _is_number(total) and total_max is not None and total > total_max:
        reason = f"can never be reached: the maximum total is {total_max:g}"
        problems.append((f"{where}.total", reason))
    if _is_list(combined):
        for j, entry in enumerate(combined):
            entry_sections = entry.get("sections") if isinstance(entry, Mapping) else None
            if not _is_list(entry_sections):
                continue
            for k, section_id in enumerate(entry_sections):
                if section_id not in ids:
                    problems.append((f"{where}.combined[{j}].sections[{k}]", "no such section"))
            if len(set(entry_sections)) != len(entry_sections):
                problems.append((f"{where}.combined[{j}].sections", "names a section twice"))
    return problems


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- loading ------------------------------------------------------------------------------


def load_exam(source: str | Path) -> Exam:
    """An exam from a preset name (``skd``, ``pppk``) or a TOML file path.

    A bare preset name wins over a file of the same name in the working directory; write
    ``./skd`` to mean the file. Raises :class:`ExamError` listing every problem.
    """
    if isinstance(source, str) and source in PRESETS:
        return parse_exam(preset_text(source), source=f"preset {source}")
    path = Path(source)
    if not path.is_file():
        hint = f" and no preset of that name (presets: {', '.join(PRESETS)})"
        raise ExamError([Problem(str(path), "", f"no such exam file{hint}")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExamError([Problem(str(path), "", f"cannot be read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExamError(
            [Problem(str(path), f"byte {exc.start}", "not UTF-8 text (save the file as UTF-8)")]
        ) from None
    return parse_exam(text, source=str(path))


def preset_text(name: str) -> str:
    """The TOML text of a built-in preset."""
    if name not in PRESETS:
        raise ExamError([Problem(name, "", f"no such preset (presets: {', '.join(PRESETS)})")])
    return resources.files("scoring.presets").joinpath(f"{name}.toml").read_text("utf-8")


def parse_exam(text: str, *, source: str = "<exam>") -> Exam:
    """Validate the TOML text of an exam; :class:`ExamError` lists every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExamError([Problem(source, "", f"not valid TOML: {exc}")]) from None
    return exam_from_data(data, source=source)


def exam_from_data(data: Mapping[str, Any], *, source: str = "<exam>") -> Exam:
    """Validate already-parsed exam data (a TOML or JSON document)."""
    problems = [Problem(source, where, why) for where, why in consistency_problems(data)]
    try:
        exam = Exam.model_validate(data, context={"skip_consistency": True})
    except ValidationError as exc:
        problems = _pydantic_problems(exc, source) + problems
        raise ExamError(problems) from None
    if problems:
        raise ExamError(problems)
    return exam


def key_path(loc: Iterable[str | int]) -> str:
    """``("sections", 1, "topics", "deret")`` -> ``sections[1].topics.deret``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_\-]+", part) else json.dumps(part)
            path += f".{name}" if path else name
    return path


def _pydantic_problems(exc: ValidationError, source: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        # Drop pydantic's internal step names (e.g. "function-after[...]") from the path.
        loc = [part for part in error["loc"] if isinstance(part, int) or "[" not in part]
        problems.append(Problem(source, key_path(loc) or "(top level)", _reason(error)))
    return problems


def _reason(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(kind, "<=")
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound}"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} is not a valid name (letters, digits, '_' and '-')"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


# -- writing ------------------------------------------------------------------------------


def exam_to_toml(exam: Exam) -> str:
    """The exam as a commented TOML file that :func:`load_exam` reads back to an equal exam."""
    out: list[str] = [
        f"# Exam definition for cat-engine: {exam.title or exam.id}",
        "# Check it with: cat-engine exam check THIS_FILE.toml [--bank BANK.catbank]",
        "",
        f"id = {_value(exam.id)}",
        f"title = {_value(exam.title)}",
    ]
    if exam.title_en:
        out.append(f"title_en = {_value(exam.title_en)}")
    out += [
        "# Minutes on the clock shared by every section that has no time_limit_minutes of its own.",
        f"time_limit_minutes = {_value(exam.time_limit_minutes)}"
        if exam.time_limit_minutes is not None
        else "# time_limit_minutes = 100",
        '# "free": candidates move between all items until the end; "forward-only": never back.',
        f"navigation = {_value(exam.navigation)}",
        "# Shuffle item order within each section, and the options of each item, per candidate.",
        f"shuffle_items = {_value(exam.shuffle_items)}",
        f"shuffle_options = {_value(exam.shuffle_options)}",
    ]
    if exam.default_rule_set is not None:
        out += [
            "# The rule set applied to a candidate whose formation names none.",
            f"default_rule_set = {_value(exam.default_rule_set)}",
        ]
    for n, section in enumerate(exam.sections):
        hint = n == 0  # explain optional keys once, on the first section
        out += ["", "[[sections]]", f"id = {_value(section.id)}"]
        if section.title:
            out.append(f"title = {_value(section.title)}")
        if section.title_en:
            out.append(f"title_en = {_value(section.title_en)}")
        out.append(f"items = {section.items}")
        if section.topics is not None:
            out.append(f"topics = {_value(section.topics)}")
        elif hint:
            out.append("# Items per topic (adding up to items): topics = { pancasila = 6, ... }")
        if section.difficulty is not None:
            out.append(f"difficulty = {_value(section.difficulty)}")
        elif hint:
            out.append("# Items per difficulty: difficulty = { mudah = 9, sedang = 15, sulit = 6 }")
            out.append("# Its own clock instead of the exam's, e.g. time_limit_minutes = 10")
        scoring = section.scoring.model_dump(exclude_none=True)
        if section.scoring.rule == "key":
            out.append("# Points for the keyed option, any other option, and no answer.")
        else:
            out.append("# Each option's weight from the bank; points for no answer.")
        out.append(f"scoring = {_value(scoring)}")
        if section.time_limit_minutes is not None:
            out.append(f"time_limit_minutes = {section.time_limit_minutes}")
        if section.adaptive is not None:
            table = section.adaptive.model_dump(exclude_defaults=True)
            table["max_items"] = section.adaptive.max_items
            out.append(f"adaptive = {_value(table, tidy=False)}")
    if exam.rule_sets:
        out += [
            "",
            "# Passing rules per formation: only the checks a rule set names are applied.",
            "# minimum: per section; total: on all sections; combined: on a sum of sections.",
        ]
    for name, rules in exam.rule_sets.items():
        out += ["", f"[rule_sets.{_key(name)}]"]
        if rules.title:
            out.append(f"title = {_value(rules.title)}")
        if rules.title_en:
            out.append(f"title_en = {_value(rules.title_en)}")
        if rules.minimum:
            out.append(f"minimum = {_value(rules.minimum)}")
        if rules.total is not None:
            out.append(f"total = {_value(rules.total)}")
        if rules.combined:
            out.append(f"combined = {_value([c.model_dump() for c in rules.combined])}")
    out += [
        "",
        "# Ranking: every key descending, each breaking the ties of the one before.",
        "[ranking]",
        f"passed_first = {_value(exam.ranking.passed_first)}",
        f"by = {_value(exam.ranking.by)}",
        "",
        "# Extra minutes for groups of candidates: on the exam's clock, and on sections' own.",
        "[accommodations]",
    ]
    for name, extra in exam.accommodations.items():
        if extra.sections or extra.supports:
            table = extra.model_dump(exclude_defaults=True) | {"minutes": extra.minutes}
            out.append(f"{_key(name)} = {_value(table)}")
        else:
            out.append(f"{_key(name)} = {extra.minutes}")
    return "\n".join(out) + "\n"


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_\-]+", name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any, *, tidy: bool = True) -> str:
    """A TOML value; ``tidy`` writes whole floats as integers (fine for typed fields only)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if tidy and value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        # A JSON string with its escapes is a valid TOML basic string.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v, tidy=tidy)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v, tidy=tidy) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
